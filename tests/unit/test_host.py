"""The Host: start-up checks of the [docker] options and the engine, and
the listing of this host's instances."""

import json

import pytest

from nova_docker import engine_facts
from nova_docker import exception as docker_exception
from nova_docker import host as host_mod
from tests.fixtures import fake_engine


def test_unreachable_engine_names_host_url(tmp_path):
    url = 'unix://%s/nothing.sock' % tmp_path
    host_mod.CONF.set_override('host_url', url, 'docker')
    try:
        host = host_mod.Host()
        with pytest.raises(docker_exception.EngineUnavailable,
                           match=url):
            host.init_host('test-node')
    finally:
        host_mod.CONF.clear_override('host_url', 'docker')


def test_missing_tls_file_is_a_config_error_naming_it(tmp_path):
    host_mod.CONF.set_override('host_url', 'tcp://127.0.0.1:1', 'docker')
    host_mod.CONF.set_override('ca_file', str(tmp_path / 'ca.pem'),
                                 'docker')
    try:
        with pytest.raises(docker_exception.InvalidEngineConfig,
                           match='ca.pem'):
            host_mod.Host()
    finally:
        host_mod.CONF.clear_override('host_url', 'docker')
        host_mod.CONF.clear_override('ca_file', 'docker')


@pytest.fixture
def engine_at(fake_engine):
    host_mod.CONF.set_override('host_url', fake_engine.url, 'docker')
    yield fake_engine
    host_mod.CONF.clear_override('host_url', 'docker')


def test_engine_too_old_is_refused_with_the_versions(engine_at):
    engine_at.route('GET', r'^/version$', json={
        'Version': '17.03.0', 'ApiVersion': '1.26', 'MinAPIVersion': '1.12'})
    host = host_mod.Host()
    with pytest.raises(docker_exception.EngineUnsupported) as exc_info:
        host.init_host('test-node')
    message = str(exc_info.value)
    assert engine_at.url in message
    assert '1.26' in message and '1.41' in message


def test_init_host_negotiates_with_the_engine(engine_at):
    engine_at.route('GET', r'^/_ping$', body=b'OK')
    host = host_mod.Host()
    host.init_host('node-7')
    assert host.facts.api_version == '1.41'
    assert host.name == 'node-7'


def test_engine_gone_after_start_is_hypervisor_unavailable(engine_at):
    from nova import exception

    from tests.fixtures import nova_objects

    engine_at.route('GET', r'^/_ping$', body=b'OK')
    host = host_mod.Host()
    host.init_host('node-7')
    engine_at.stop()
    # As when dockerd goes away: its connections go with it.
    host.client.close()
    with pytest.raises(exception.HypervisorUnavailable,
                       match=engine_at.url):
        host.get_guest(nova_objects.instance()).get_power_state()


def test_init_host_warns_of_the_engines_weak_spots(engine_at, caplog):
    engine_at.route('GET', r'^/info$', json={
        'NCPU': 4, 'SecurityOptions': [], 'LiveRestoreEnabled': False})
    host = host_mod.Host()
    host.init_host('node-7')
    assert len(engine_at.requests_to('GET', '/info')) == 1
    warnings = [r.getMessage() for r in caplog.records
                if r.levelname == 'WARNING']
    assert any('seccomp' in w for w in warnings)
    assert any('live-restore' in w for w in warnings)
    # The CPU count bounds CPU caps from now on.
    assert host.facts.cpus == 4


def test_init_host_warns_where_the_storage_cannot_bound_disks(
        engine_at, caplog):
    info = dict(fake_engine.DEFAULT_INFO, Driver='overlay2',
                DriverStatus=[['Backing Filesystem', 'extfs']])
    engine_at.route('GET', r'^/info$', json=info)
    host = host_mod.Host()
    host.init_host('node-7')
    [warning] = [r.getMessage() for r in caplog.records
                 if r.levelname == 'WARNING']
    assert 'overlay2 over extfs' in warning
    assert 'prjquota' in warning and 'btrfs' in warning


def test_init_host_is_quiet_about_a_well_set_up_engine(engine_at, caplog):
    host = host_mod.Host()
    host.init_host('node-7')
    assert not [r for r in caplog.records if r.levelname == 'WARNING']


def listed(uuid, host):
    labels = {'org.openstack.nova.instance-uuid': uuid}
    if host:
        labels['org.openstack.nova.host'] = host
    return {'Id': uuid, 'Labels': labels, 'State': 'running'}


def test_an_engine_with_another_hosts_containers_is_refused(engine_at):
    engine_at.route('GET', r'^/_ping$', body=b'OK')
    engine_at.route('GET', '/containers/json', json=[
        listed('u-1', 'node-7'), listed('u-2', 'compute-b')])
    host = host_mod.Host()
    with pytest.raises(docker_exception.EngineOfAnotherHost,
                       match='compute-b.*shared_engine'):
        host.init_host('node-7')


def test_a_shared_engine_is_listed_by_host(engine_at):
    engine_at.route('GET', r'^/_ping$', body=b'OK')
    engine_at.route('GET', '/containers/json', json=[
        listed('u-2', 'compute-b'), listed('u-3', None)])
    host_mod.CONF.set_override('shared_engine', True, 'docker')
    try:
        host = host_mod.Host()
        host.init_host('node-7')
        host.list_instance_uuids()
    finally:
        host_mod.CONF.clear_override('shared_engine', 'docker')
    listings = [json.loads(r.query['filters'][0])['label'] for r in
                engine_at.requests_to('GET', '/containers/json')]
    # Its workloads and sandboxes (a sandbox alone too: its workload was
    # never made), in one call.
    assert listings[-1] == ['org.openstack.nova.host=node-7']


def test_the_facts_say_which_engine_answers(engine_at):
    version = dict(fake_engine.DEFAULT_VERSION, Components=[
        {'Name': 'Podman Engine', 'Version': '5.4.2'}])
    engine_at.route('GET', r'^/version$', json=version)
    host = host_mod.Host()
    host.init_host('node-7')
    assert host.facts.product == 'Podman Engine'
    assert len(engine_at.requests_to('GET', '/version')) == 1


def test_docker_is_named_as_such_though_its_component_is_engine(engine_at):
    # What Docker 20.10 and 26 answer.
    version = dict(fake_engine.DEFAULT_VERSION, Components=[
        {'Name': 'Engine', 'Version': '26.1.5+dfsg1'},
        {'Name': 'containerd', 'Version': '1.7.24~ds1'},
        {'Name': 'runc', 'Version': '1.1.5+ds1'}])
    engine_at.route('GET', r'^/version$', json=version)
    host = host_mod.Host()
    host.init_host('node-7')
    assert host.facts.product == 'Docker Engine'


def test_each_resource_audit_reads_the_cpus_afresh(engine_at):
    host = host_mod.Host()
    host.init_host('node-7')
    engine_at.route('GET', r'^/info$', json=dict(fake_engine.DEFAULT_INFO,
                                                 NCPU=12))
    assert host.available_resource('node-7')['vcpus'] == 12
    assert host.facts.cpus == 12


def test_podman_is_asked_for_rlimits_in_every_create_docker_is_not(
        engine_at):
    # Podman's own rlimits are above what root may raise on such hosts:
    # no container starts unless the create request carries limits.
    host = host_mod.Host()
    host.init_host('node-7')
    assert host.facts.ulimits == ()
    version = dict(fake_engine.DEFAULT_VERSION, Components=[
        {'Name': 'Podman Engine', 'Version': '4.3.1'}])
    engine_at.route('GET', r'^/version$', json=version)
    podman = host_mod.Host()
    podman.init_host('node-7')
    assert {u['Name'] for u in podman.facts.ulimits} == {'nofile', 'nproc'}
    # Nor does it share the sandbox's hostname with a joined workload.
    assert (host.facts.workload_hostname,
            podman.facts.workload_hostname) == (False, True)
    assert all(u['Soft'] <= u['Hard'] for u in podman.facts.ulimits)


def test_podman_without_live_restore_keeps_its_instances_running(
        engine_at, caplog):
    # Its containers are conmon's: they outlive a stop of the service,
    # though /info says LiveRestoreEnabled false. Docker's do not.
    engine_at.route('GET', r'^/info$', json=dict(fake_engine.DEFAULT_INFO,
                                                 LiveRestoreEnabled=False))
    docker = host_mod.Host()
    docker.init_host('node-7')
    assert docker.facts.keeps_running is False
    assert 'live-restore' in caplog.text
    caplog.clear()
    engine_at.route('GET', r'^/version$', json=dict(
        fake_engine.DEFAULT_VERSION,
        Components=[{'Name': 'Podman Engine', 'Version': '4.3.1'}]))
    podman = host_mod.Host()
    podman.init_host('node-7')
    assert podman.facts.keeps_running is True
    assert 'live-restore' not in caplog.text


@pytest.mark.parametrize('component, status, partial', [
    ('Engine', [['Backing Filesystem', 'extfs']], 'true'),
    ('Engine', [['driver-type', 'io.containerd.snapshotter.v1']], 'false'),
    ('Podman Engine', [], 'false'),
], ids=['docker-classic', 'docker-containerd', 'podman'])
def test_the_resource_audit_says_whether_partial_archives_load(
        engine_at, component, status, partial):
    # What each engine's load does with an archive that lacks the layers
    # it holds: tests/functional/test_migration.py. The word reaches the
    # other hosts through ComputeNode.stats.
    engine_at.route('GET', r'^/version$', json=dict(
        fake_engine.DEFAULT_VERSION, Components=[{'Name': component,
                                                  'Version': '1'}]))
    engine_at.route('GET', r'^/info$', json=dict(fake_engine.DEFAULT_INFO,
                                                 DriverStatus=status))
    host = host_mod.Host()
    host.init_host('node-7')
    offered = host.available_resource('node-7')
    assert offered['stats'] == {engine_facts.PARTIAL_LOAD_STAT: partial}
