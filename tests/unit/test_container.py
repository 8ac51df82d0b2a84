import pytest
from nova import exception

from nova_docker import container
from nova_docker import labels
from tests.fixtures import nova_objects


def body_for(instance=None, image_meta=None, pids_limit=100):
    return container.create_body(instance or nova_objects.instance(),
                                 image_meta or nova_objects.image_meta(),
                                 'glance/x:latest', pids_limit,
                                 image_id='img-1')


def test_name_and_labels_carry_the_instance():
    inst = nova_objects.instance(project_id='p-1')
    body = body_for(inst)
    assert labels.container_name(inst) == 'nova-' + inst.uuid
    assert body['Labels'] == {
        labels.LABEL_INSTANCE_UUID: inst.uuid,
        labels.LABEL_INSTANCE_NAME: inst.name,
        labels.LABEL_PROJECT_ID: 'p-1',
        labels.LABEL_IMAGE_ID: 'img-1',
        # Not meant here, so empty: the image can't set them.
        labels.LABEL_HOST: '',
        labels.LABEL_NODE: '',
        labels.LABEL_SANDBOX_OF: '',
        labels.LABEL_SERIAL_PORT: '',
    }
    assert body['Image'] == 'glance/x:latest'
    assert body['Hostname'] == 'test-host'


def test_memory_is_the_flavor_with_no_extra_swap():
    inst = nova_objects.instance(nova_objects.flavor(memory_mb=64))
    host_config = body_for(inst)['HostConfig']
    assert host_config['Memory'] == 64 * 1024 * 1024
    assert host_config['MemorySwap'] == host_config['Memory']


def test_memory_below_the_minimum_is_refused_whatever_the_engine():
    # Docker refuses it itself; Podman would start a workload that dies.
    inst = nova_objects.instance(nova_objects.flavor(memory_mb=5))
    with pytest.raises(exception.InstanceDeployFailure,
                       match='minimum memory of 6 MB'):
        body_for(inst)
    assert body_for(nova_objects.instance(nova_objects.flavor(
        memory_mb=6)))['HostConfig']['Memory'] == 6 * 1024 * 1024


def test_cpu_shares_scale_with_vcpus_and_quota_caps():
    flavor = nova_objects.flavor(vcpus=3, extra_specs={
        'quota:cpu_quota': '50000', 'quota:cpu_period': '100000'})
    host_config = body_for(nova_objects.instance(flavor))['HostConfig']
    assert host_config['CpuShares'] == 3 * 1024
    assert host_config['CpuQuota'] == 50000
    assert host_config['CpuPeriod'] == 100000


def test_no_cpu_cap_without_extra_specs():
    host_config = body_for()['HostConfig']
    assert 'CpuQuota' not in host_config
    assert 'CpuPeriod' not in host_config


@pytest.mark.parametrize('specs, words', [
    ({'quota:cpu_quota': 'lots'}, 'not an integer'),
    ({'quota:cpu_quota': '10'}, 'at least 1000'),
    ({'quota:cpu_period': '5'}, 'between 1000 and 1000000'),
])
def test_bad_cpu_extra_specs_are_refused_with_the_reason(specs, words):
    flavor = nova_objects.flavor(extra_specs=specs)
    with pytest.raises(exception.InvalidInput, match=words):
        body_for(nova_objects.instance(flavor))


def test_pids_limit_from_config_and_zero_means_unlimited():
    assert body_for(pids_limit=100)['HostConfig']['PidsLimit'] == 100
    assert 'PidsLimit' not in body_for(pids_limit=0)['HostConfig']


def test_never_privileged_no_new_privileges_no_engine_network():
    host_config = body_for()['HostConfig']
    assert host_config['Privileged'] is False
    assert 'no-new-privileges' in host_config['SecurityOpt']
    assert host_config['NetworkMode'] == 'none'


def test_a_workload_joins_its_sandbox_which_holds_the_hostname():
    inst = nova_objects.instance()
    body = container.create_body(inst, nova_objects.image_meta(),
                                 'glance/x:latest', 100,
                                 sandbox=labels.sandbox_name(inst))
    assert body['HostConfig']['NetworkMode'] == \
        'container:nova-%s-sandbox' % inst.uuid
    # Docker refuses a hostname on a container that joins another.
    assert 'Hostname' not in body
    # Podman gives it a hostname of its own unless told.
    assert container.create_body(
        inst, nova_objects.image_meta(), 'glance/x:latest', 100,
        sandbox=labels.sandbox_name(inst), own_hostname=True
    )['Hostname'] == container.hostname(inst)


def test_the_sandbox_holds_name_resolution_and_is_fenced_in():
    inst = nova_objects.instance(hostname='web-1')
    body = container.sandbox_body(
        inst, 'nova-docker/sandbox:abc', dns_servers=('10.0.0.53',),
        hosts=(('web-1', '10.0.0.5'), ('web-1', 'fd00::5')),
        host='cmp-1', node='cmp-1')
    assert body['Image'] == 'nova-docker/sandbox:abc'
    assert body['Hostname'] == 'web-1'
    assert body['StopSignal'] == 'SIGKILL'
    # The instance label empty: listings and events see only the workload.
    assert body['Labels'] == {labels.LABEL_SANDBOX_OF: inst.uuid,
                              labels.LABEL_HOST: 'cmp-1',
                              labels.LABEL_NODE: 'cmp-1',
                              labels.LABEL_INSTANCE_UUID: '',
                              labels.LABEL_INSTANCE_NAME: '',
                              labels.LABEL_PROJECT_ID: '',
                              labels.LABEL_IMAGE_ID: '',
                              labels.LABEL_SERIAL_PORT: ''}
    assert labels.instance_of(body) is None
    host_config = body['HostConfig']
    assert host_config['NetworkMode'] == 'none'
    assert host_config['Dns'] == ['10.0.0.53']
    assert host_config['ExtraHosts'] == ['web-1:10.0.0.5', 'web-1:fd00::5']
    assert host_config['CapDrop'] == ['ALL']
    assert host_config['ReadonlyRootfs'] is True
    assert host_config['Memory'] == container.SANDBOX_MEMORY
    assert 'Dns' not in container.sandbox_body(inst, 'x')['HostConfig']


def test_command_from_os_command_line_else_the_images_own():
    meta = nova_objects.image_meta(os_command_line='/bin/sh -c "echo hi"')
    assert body_for(image_meta=meta)['Cmd'] == ['/bin/sh', '-c', 'echo hi']
    assert 'Cmd' not in body_for()


# -- what an image may set (the module's table) ---------------------------

def test_the_workload_and_sandbox_carry_every_label_of_ours():
    inst = nova_objects.instance()
    bodies = [body_for(inst), container.sandbox_body(inst, 'pause:1'),
              container.create_body(inst, nova_objects.image_meta(),
                                    'glance/x:latest', 100, host='h',
                                    node='h', sandbox='s')]
    for body in bodies:
        assert set(labels.KNOWN_LABELS) <= set(body['Labels'])
    # An image cannot make a workload pass for another instance's sandbox.
    assert body_for(inst)['Labels'][labels.LABEL_SANDBOX_OF] == ''


def test_labels_of_our_prefix_from_the_image_are_blanked():
    inst = nova_objects.instance()
    other = 'e2f4c3f0-0000-4000-8000-000000000001'
    body = container.create_body(
        inst, nova_objects.image_meta(), 'glance/x:latest', 100,
        host='cmp-1', image_config={'Labels': {
            labels.LABEL_INSTANCE_UUID: other,
            labels.LABEL_SANDBOX_OF: other,
            labels.LABEL_HOST: 'cmp-2',
            labels.LABEL_PREFIX + 'not-yet-known': 'x',
            'com.example.tenant': 'kept'}})
    pinned = body['Labels']
    assert pinned[labels.LABEL_INSTANCE_UUID] == inst.uuid
    assert pinned[labels.LABEL_SANDBOX_OF] == ''
    assert pinned[labels.LABEL_HOST] == 'cmp-1'
    assert pinned[labels.LABEL_PREFIX + 'not-yet-known'] == ''
    # The tenant's own labels are his: the engine merges them untouched.
    assert 'com.example.tenant' not in pinned


def test_an_empty_label_is_no_label_to_the_listings():
    assert labels.instance_of({'Labels': {
        labels.LABEL_INSTANCE_UUID: ''}}) is None
    assert labels.instance_of({'Labels': {
        labels.LABEL_INSTANCE_UUID: 'u'}}) == 'u'
    assert labels.owner({'Labels': {labels.LABEL_HOST: ''}}) is None
    assert labels.owner({}) is None
    inst = nova_objects.instance()
    assert labels.sandbox_of(body_for(inst)) is None
    assert labels.sandbox_of(container.sandbox_body(
        inst, 'pause:1')) == inst.uuid


def test_the_images_healthcheck_is_pinned_off():
    inst = nova_objects.instance()
    assert body_for(inst)['Healthcheck'] == {'Test': ['NONE']}
    assert container.sandbox_body(inst, 'pause:1')['Healthcheck'] == {
        'Test': ['NONE']}


def body_with_config(config):
    return container.create_body(nova_objects.instance(),
                                 nova_objects.image_meta(),
                                 'glance/x:latest', 100, image_id='img-1',
                                 image_config=config)


def test_an_image_with_volumes_is_refused_with_what_to_do():
    with pytest.raises(exception.ImageUnacceptable) as caught:
        body_with_config({'Volumes': {'/var/lib/db': {}, '/data': {}}})
    message = str(caught.value)
    assert 'img-1' in message
    assert 'VOLUME /data, /var/lib/db' in message
    assert 'Rebuild the image without VOLUME' in message


@pytest.mark.parametrize('stop_signal', [
    'SIGINT', 'SIGQUIT', 'term', '9', 'SIGRTMIN+3', 'RTMAX-1', 'SIGKILL'])
def test_an_image_may_pick_a_valid_stop_signal(stop_signal):
    body = body_with_config({'StopSignal': stop_signal, 'Volumes': None})
    # Left to the image: the engine takes it from there.
    assert 'StopSignal' not in body


@pytest.mark.parametrize('stop_signal', [
    'SIGBOGUS', '0', '65', 'SIGRTMIN+16', 'SIGTERM\nx', '-9'])
def test_an_invalid_stop_signal_is_refused(stop_signal):
    with pytest.raises(exception.ImageUnacceptable,
                       match='valid STOPSIGNAL'):
        body_with_config({'StopSignal': stop_signal})


def test_fields_an_image_may_set_are_left_to_it():
    body = body_with_config({
        'User': 'app', 'Env': ['A=1'], 'WorkingDir': '/srv',
        'Entrypoint': ['/init'], 'ExposedPorts': {'80/tcp': {}},
        'OnBuild': ['RUN x'], 'Shell': ['/bin/ash', '-c']})
    for field in ('User', 'Env', 'WorkingDir', 'Entrypoint', 'Cmd',
                  'ExposedPorts', 'Volumes', 'StopSignal'):
        assert field not in body


# -- host names and name servers -------------------------------------------

HOSTILE_NAMES = ['evil\n6.6.6.6 victim.example', 'a b', '-lead', 'trail-',
                 'a..b', 'under_score', 'tab\there', 'x:1.2.3.4']


@pytest.mark.parametrize('name', HOSTILE_NAMES)
def test_a_hostname_that_is_not_rfc_1123_is_refused(name):
    inst = nova_objects.instance(hostname=name)
    with pytest.raises(exception.InvalidInput, match='RFC 1123'):
        body_for(inst)
    with pytest.raises(exception.InvalidInput, match='RFC 1123'):
        container.sandbox_body(inst, 'pause:1')


@pytest.mark.parametrize('name, expected', [
    ('web-1', 'web-1'), ('Web.Example-2.org', 'Web.Example-2.org'),
    ('a' * 62 + '-b', 'a' * 62), ('a' * 62 + '.b', 'a' * 62),
    ('9lives', '9lives')])
def test_valid_hostnames_pass_cut_to_a_label_boundary(name, expected):
    inst = nova_objects.instance(hostname=name)
    assert container.sandbox_body(inst, 'pause:1')['Hostname'] == expected


@pytest.mark.parametrize('server', [
    '1.1.1.1\nnameserver 6.6.6.6', 'dns.example', '',
    'fe80::1%eth0\nnameserver 6.6.6.6', '10.0.0.1 options ndots:15'])
def test_a_name_server_that_is_not_an_address_is_refused(server):
    with pytest.raises(exception.InvalidInput, match='not an IP address'):
        container.sandbox_body(nova_objects.instance(), 'pause:1',
                               dns_servers=('10.0.0.53', server))


@pytest.mark.parametrize('pair', [
    ('web-1', '10.0.0.5\n6.6.6.6 victim'), ('web-1\n6.6.6.6', '10.0.0.5'),
    ('web 1', '10.0.0.5')])
def test_an_etc_hosts_line_that_is_not_name_and_address_is_refused(pair):
    with pytest.raises(exception.InvalidInput):
        container.sandbox_body(nova_objects.instance(), 'pause:1',
                               hosts=(pair,))


def test_name_servers_and_hosts_lines_are_written_in_their_usual_form():
    body = container.sandbox_body(
        nova_objects.instance(hostname='web-1'), 'pause:1',
        dns_servers=('10.0.0.53', 'FD00:0::53'),
        hosts=(('web-1', 'FD00::0005'),))
    assert body['HostConfig']['Dns'] == ['10.0.0.53', 'fd00::53']
    assert body['HostConfig']['ExtraHosts'] == ['web-1:fd00::5']


# -- hardening -----------------------------------------------------------

DOCKER_DEFAULT_CAPS_WE_DROP = {'NET_RAW', 'MKNOD', 'AUDIT_WRITE', 'SETFCAP'}


def hardened(hardening=None, flavor=None, host_cpus=None):
    return container.create_body(
        nova_objects.instance(flavor or nova_objects.flavor()),
        nova_objects.image_meta(), 'glance/x:latest', 100,
        hardening=hardening, host_cpus=host_cpus)['HostConfig']


def test_capabilities_drop_the_defaults_and_add_none():
    host_config = hardened()
    assert set(host_config['CapDrop']) >= DOCKER_DEFAULT_CAPS_WE_DROP
    assert host_config['CapAdd'] == []


def test_a_capability_given_back_is_not_also_dropped():
    caps = container._capabilities(
        ['net_raw', 'CAP_MKNOD', ' SETFCAP ', '', 'NET_RAW'],
        ['cap_net_raw'])
    assert caps == {'HostConfig': {'CapDrop': ['MKNOD', 'SETFCAP'],
                                   'CapAdd': ['NET_RAW']}}


def test_hardening_from_conf_reads_the_docker_group():
    from nova_docker import driver as driver_mod

    conf = driver_mod.CONF
    conf.set_override('cap_add', ['NET_RAW'], 'docker')
    conf.set_override('log_max_size', '', 'docker')
    try:
        hardening = container.Hardening.from_conf(conf.docker)
    finally:
        conf.clear_override('cap_add', 'docker')
        conf.clear_override('log_max_size', 'docker')
    assert hardening == container.Hardening(cap_add=('NET_RAW',),
                                            log_max_size=None)
    # The dataclass's defaults are the options' defaults.
    assert container.Hardening.from_conf(conf.docker) == \
        container.Hardening()


def test_cpu_hard_cap_is_the_flavors_vcpus():
    host_config = hardened(flavor=nova_objects.flavor(vcpus=3))
    assert host_config['NanoCpus'] == 3 * 10 ** 9


def test_cpu_hard_cap_never_exceeds_the_host():
    host_config = hardened(flavor=nova_objects.flavor(vcpus=8),
                           host_cpus=2)
    assert host_config['NanoCpus'] == 2 * 10 ** 9


def test_cpu_hard_cap_can_be_turned_off():
    host_config = hardened(container.Hardening(cpu_hard_cap=False))
    assert 'NanoCpus' not in host_config


@pytest.mark.parametrize('specs', [
    {'quota:cpu_quota': '50000'},
    {'quota:cpu_period': '100000'},
    {'quota:cpu_quota': '-1'},
    {'quota:cpu_quota': '50000', 'quota:cpu_period': '100000'},
])
def test_flavor_cfs_extra_specs_win_over_the_hard_cap(specs):
    # The engine refuses NanoCpus with CpuQuota or CpuPeriod.
    host_config = hardened(flavor=nova_objects.flavor(extra_specs=specs))
    assert 'NanoCpus' not in host_config


def test_an_empty_cfs_extra_spec_is_no_spec():
    flavor = nova_objects.flavor(extra_specs={'quota:cpu_quota': ''})
    assert hardened(flavor=flavor)['NanoCpus'] == 10 ** 9


def test_console_log_is_bounded_json_file():
    host_config = hardened(container.Hardening(log_max_size='1m',
                                               log_max_files=5))
    assert host_config['LogConfig'] == {
        'Type': 'json-file', 'Config': {'max-size': '1m', 'max-file': '5'}}
    assert hardened()['LogConfig']['Config'] == {'max-size': '10m',
                                                 'max-file': '3'}


def test_no_log_size_leaves_logging_to_the_engine():
    host_config = hardened(container.Hardening(log_max_size=None))
    assert 'LogConfig' not in host_config


def test_the_engines_rlimits_go_into_both_bodies_and_none_by_default():
    inst = nova_objects.instance()
    limits = ({'Name': 'nofile', 'Soft': 1024, 'Hard': 4096},)
    workload = container.create_body(inst, nova_objects.image_meta(),
                                     'img', 0, ulimits=limits)
    sandbox = container.sandbox_body(inst, 'pause', ulimits=limits)
    for body in (workload, sandbox):
        assert body['HostConfig']['Ulimits'] == [dict(limits[0])]
    assert 'Ulimits' not in body_for()['HostConfig']
    assert 'Ulimits' not in container.sandbox_body(inst, 'p')['HostConfig']


def test_a_workload_runs_on_a_terminal_with_stdin_open_by_default():
    body = body_for()
    assert (body['Tty'], body['OpenStdin'], body['StdinOnce']) == (
        True, True, False)


def test_without_a_terminal_stdin_stays_open():
    body = container.create_body(nova_objects.instance(),
                                 nova_objects.image_meta(), 'glance/x:latest',
                                 100, tty=False)
    assert (body['Tty'], body['OpenStdin']) == (False, True)


def test_the_sandbox_records_the_serial_console_port():
    inst = nova_objects.instance()
    with_port = container.sandbox_body(inst, 'pause', serial_port=10007)
    assert with_port['Labels'][labels.LABEL_SERIAL_PORT] == '10007'
    assert labels.serial_port(with_port) == 10007
    # None, and pinned empty: an image cannot give it one.
    without = container.sandbox_body(inst, 'pause')
    assert without['Labels'][labels.LABEL_SERIAL_PORT] == ''
    assert labels.serial_port(without) is None
