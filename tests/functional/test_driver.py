"""DockerDriver against the real engine: each operation checks the
container's real state through the engine's own API."""

import json
import shlex
import time
import uuid

import os_resource_classes as orc
import pytest
from nova.compute import power_state
from nova.compute import provider_tree
from nova import exception
from nova.virt import driver as virt_driver

from nova_docker.docker import references
from nova_docker import driver as driver_mod
from nova_docker import resources
from tests.fixtures import images as image_fixtures
from tests.fixtures import nova_objects

# Runs once per engine (tests/fixtures/engines.py).
pytestmark = pytest.mark.every_engine

# Exits 0 on SIGTERM, so a graceful stop is told apart from a SIGKILL (137).
GRACEFUL = ("/bin/sh -c 'trap \"exit 0\" TERM; echo started; "
            "while true; do sleep 0.1; done'")
STUBBORN = "/bin/sh -c 'trap \"\" TERM; while true; do sleep 0.1; done'"


def spawn(driver, instance, image_meta, command=None):
    if command:
        image_meta = nova_objects.image_meta(image_id=image_meta.id,
                                             os_command_line=command)
    driver.spawn(None, instance, image_meta, [], None, {})


def inspect(engine, instance):
    return engine.get('/containers/nova-%s/json' % instance.uuid).json()


def power(driver, instance):
    """The instance's power state as nova reads it after an action
    (ComputeManager._get_power_state: get_info without the cache; the
    cached listing answers its periodic sync, see
    test_a_power_state_pass_answers_from_one_listing)."""
    return driver.get_info(instance, use_cache=False).state


def test_compute_driver_loads_through_novas_loader():
    loaded = virt_driver.load_compute_driver(None, 'docker.DockerDriver')
    assert isinstance(loaded, driver_mod.DockerDriver)


def test_the_wheel_puts_only_the_shim_under_nova():
    # What pip installs, it uninstalls (RECORD): nothing of nova's own.
    from importlib import metadata

    under_nova = {str(f) for f in metadata.files('nova-docker')
                  if str(f).startswith('nova/')
                  and '__pycache__' not in str(f)}
    assert under_nova == {'nova/virt/docker/__init__.py'}


def test_spawn_runs_a_container_shaped_by_the_flavor(
        driver, engine, instances, busybox_image):
    flavor = nova_objects.flavor(memory_mb=64, vcpus=2, extra_specs={
        'quota:cpu_quota': '20000', 'quota:cpu_period': '100000'})
    inst = instances(flavor_obj=flavor, project_id='proj-x')
    spawn(driver, inst, busybox_image)

    c = inspect(engine, inst)
    assert c['State']['Running'] is True
    assert c['Config']['Labels']['org.openstack.nova.instance-uuid'] == \
        inst.uuid
    assert c['Config']['Labels']['org.openstack.nova.project-id'] == 'proj-x'
    # The workload joins its sandbox's namespace, which has the hostname.
    sandbox = engine.get('/containers/nova-%s-sandbox/json'
                         % inst.uuid).json()
    assert sandbox['Config']['Hostname'] == 'test-host'
    assert sandbox['State']['Running'] is True
    assert sandbox['HostConfig']['NetworkMode'] == 'none'
    hc = c['HostConfig']
    assert hc['Memory'] == 64 * 1024 * 1024
    assert hc['MemorySwap'] == hc['Memory']
    assert hc['CpuShares'] == 2048
    assert (hc['CpuQuota'], hc['CpuPeriod']) == (20000, 100000)
    assert hc['PidsLimit'] == 1024
    assert hc['NetworkMode'] == 'container:' + sandbox['Id']
    assert hc['Privileged'] is False
    assert 'no-new-privileges' in hc['SecurityOpt']
    assert power(driver, inst) == power_state.RUNNING


def test_the_workload_has_the_instances_hostname(driver, engine, instances,
                                                busybox_image):
    # Docker shares the sandbox's; Podman 4 gives a joined container a
    # hostname of its own (its id) unless told.
    inst = instances()
    spawn(driver, inst, busybox_image)
    code, out, _err = engine.exec('nova-%s' % inst.uuid, ['hostname'])
    assert (code, out.strip()) == (0, b'test-host')


class NetworkInfoBeingBound(list):
    """network_info as nova hands it over while Neutron binds the ports:
    the first look at it is where the driver would wait. It records
    whether the instance's sandbox ran by then."""

    def __init__(self, engine, inst):
        super().__init__()
        self._engine, self._inst = engine, inst
        self.sandbox_ran_before = None

    def _looked_at(self):
        if self.sandbox_ran_before is None:
            info = self._engine.get('/containers/nova-%s-sandbox/json' %
                                    self._inst.uuid)
            self.sandbox_ran_before = (info.status_code == 200 and
                                       info.json()['State']['Running'])

    def __iter__(self):
        self._looked_at()
        return super().__iter__()

    def __len__(self):
        self._looked_at()
        return super().__len__()


def test_the_sandbox_runs_before_the_driver_waits_for_the_ports(
        driver, engine, instances, busybox_image):
    # The sandbox's start is off the boot's critical path: it runs while
    # nova's network_info is still being bound (benchmarks/README.rst).
    inst = instances()
    network_info = NetworkInfoBeingBound(engine, inst)
    driver.spawn(None, inst, busybox_image, [], None, {},
                 network_info=network_info)
    assert network_info.sandbox_ran_before is True
    assert driver.get_info(inst).state == power_state.RUNNING


def test_listing_uses_one_label_filtered_call(
        driver, instances, busybox_image, monkeypatch, engine_client):
    mine = [instances() for _ in range(3)]
    for inst in mine:
        spawn(driver, inst, busybox_image)
    calls = []
    for name in ('list_containers', 'inspect_container'):
        real = getattr(engine_client, name)
        monkeypatch.setattr(engine_client, name,
                            lambda *a, _r=real, _n=name, **k:
                            calls.append(_n) or _r(*a, **k))

    assert set(driver.list_instance_uuids()) >= {i.uuid for i in mine}
    assert set(driver.list_instances()) >= {i.name for i in mine}
    assert driver.instance_exists(mine[0])
    assert not driver.instance_exists(nova_objects.instance())
    assert calls == ['list_containers'] * 4


def test_destroy_removes_the_container_and_is_idempotent(
        driver, engine, instances, busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image)
    driver.destroy(None, inst, None)
    assert engine.get('/containers/nova-%s/json' % inst.uuid
                      ).status_code == 404
    driver.destroy(None, inst, None)
    with pytest.raises(exception.InstanceNotFound):
        driver.get_info(inst)


@pytest.mark.parametrize('reboot_type, exit_code', [('SOFT', 0),
                                                     ('HARD', 137)])
def test_reboot_restarts_the_container(driver, engine, instances,
                                       busybox_image, reboot_type,
                                       exit_code):
    inst = instances()
    spawn(driver, inst, busybox_image, GRACEFUL)
    before = inspect(engine, inst)['State']['StartedAt']
    since = int(time.time())
    driver.reboot(None, inst, None, reboot_type)
    state = inspect(engine, inst)['State']
    assert state['Running'] is True
    assert state['StartedAt'] != before
    # The engine's events tell how the previous run ended.
    # (Filtered by container only: Podman 4 filters 'event' by names of
    # its own.)
    seen = engine.get('/events', params={
        'since': since, 'until': int(time.time()) + 1,
        'filters': '{"container":["nova-%s"]}' % inst.uuid}).text
    died = [e['Actor']['Attributes'].get('exitCode')
            for e in map(json.loads, seen.splitlines())
            if e['Action'] == 'die']
    assert str(exit_code) in died


def test_power_off_is_graceful_then_forced(driver, engine, instances,
                                           busybox_image):
    polite, stubborn = instances(), instances()
    spawn(driver, polite, busybox_image, GRACEFUL)
    spawn(driver, stubborn, busybox_image, STUBBORN)

    driver.power_off(polite, timeout=30)
    driver.power_off(stubborn, timeout=1)

    assert inspect(engine, polite)['State']['ExitCode'] == 0
    assert inspect(engine, stubborn)['State']['ExitCode'] == 137
    assert power(driver, polite) == power_state.SHUTDOWN
    driver.power_on(None, polite, None)
    assert power(driver, polite) == power_state.RUNNING


def test_power_off_with_zero_timeout_kills_at_once(
        driver, engine, instances, busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image, GRACEFUL)
    driver.power_off(inst, timeout=0)
    assert inspect(engine, inst)['State']['ExitCode'] == 137


def test_a_power_state_pass_answers_from_one_listing(
        driver, engine, instances, busybox_image):
    running, stopped, paused = instances(), instances(), instances()
    for inst in (running, stopped, paused):
        spawn(driver, inst, busybox_image, GRACEFUL)
    driver.power_off(stopped, timeout=10)
    driver.pause(paused)
    expected = [power_state.RUNNING, power_state.SHUTDOWN,
                power_state.PAUSED]

    def one_pass():
        # As nova's _sync_power_states: the count, then get_info of each.
        return driver.get_num_instances(), [
            driver.get_info(i).state for i in (running, stopped, paused)]

    # Docker records an exit in the view its listing reads a moment
    # after the stop returns (an inspect sees it at once): allow it that.
    deadline = time.monotonic() + 5
    while one_pass()[1] != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    count, states = one_pass()
    assert states == expected
    # Other tests' instances may share the engine (and the host name).
    assert count >= 3


def test_pause_and_suspend_freeze_the_container(
        driver, engine, instances, busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image)
    driver.pause(inst)
    assert inspect(engine, inst)['State']['Paused'] is True
    assert power(driver, inst) == power_state.PAUSED
    driver.unpause(inst)
    assert power(driver, inst) == power_state.RUNNING
    driver.unpause(inst)  # not frozen: nothing to undo, no engine error
    assert power(driver, inst) == power_state.RUNNING

    inst.task_state = 'suspending'
    driver.suspend(None, inst)
    inst.vm_state, inst.task_state = 'suspended', None
    assert inspect(engine, inst)['State']['Paused'] is True
    assert power(driver, inst) == power_state.SUSPENDED
    driver.resume(None, inst, None)
    inst.vm_state = 'active'
    assert power(driver, inst) == power_state.RUNNING


def test_power_off_of_a_paused_container_stops_it(
        driver, instances, busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image, GRACEFUL)
    driver.pause(inst)
    driver.power_off(inst, timeout=10)
    assert power(driver, inst) == power_state.SHUTDOWN


def _console_output_once_it_has(driver, inst, text):
    for _ in range(50):
        out = driver.get_console_output(None, inst)
        if text in out:
            break
        time.sleep(0.1)
    return out


def test_console_output_has_stdout_and_stderr(
        driver, instances, busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image,
          "/bin/sh -c 'echo to-stdout; echo to-stderr >&2; sleep 1000'")
    out = _console_output_once_it_has(driver, inst, 'to-stderr')
    # What the workload's terminal showed, as a VM's serial console log:
    # its line discipline ends lines with CR LF.
    assert 'to-stdout\r\n' in out
    assert 'to-stderr\r\n' in out


def test_console_output_without_a_terminal_is_as_written(
        driver, engine, instances, busybox_image):
    driver_mod.CONF.set_override('workload_tty', False, 'docker')
    try:
        inst = instances()
        spawn(driver, inst, busybox_image,
              "/bin/sh -c 'echo to-stdout; echo to-stderr >&2; "
              "sleep 1000'")
    finally:
        driver_mod.CONF.clear_override('workload_tty', 'docker')
    assert inspect(engine, inst)['Config']['Tty'] is False
    out = _console_output_once_it_has(driver, inst, 'to-stderr')
    assert 'to-stdout\n' in out and 'to-stderr\n' in out
    assert '\r' not in out


def test_console_output_keeps_every_byte_through_novas_decoding(
        driver, instances, busybox_image, monkeypatch, engine_client):
    # The euro sign has no latin-1 code: decoded as utf-8, nova's manager could
    # not encode it back. (Bytes that are no utf-8 never reach the
    # driver: the json-file log driver stores them as U+FFFD.)
    # (The terminal's line discipline makes the newline CR LF.)
    raw = b'caf\xc3\xa9 \xe2\x82\xac\r\n'
    inst = instances()
    spawn(driver, inst, busybox_image,
          "/bin/sh -c 'printf \"caf\\303\\251 \\342\\202\\254\\n\"; "
          "sleep 1000'")
    asked = []
    real = engine_client.container_logs
    monkeypatch.setattr(engine_client, 'container_logs',
                        lambda *a, **k: asked.append(k) or real(*a, **k))
    for _ in range(50):
        out = driver.get_console_output(None, inst)
        if out:
            break
        time.sleep(0.1)
    assert isinstance(out, str)
    # What nova's compute manager does with a str before the API sees it.
    assert out.encode('latin-1') == raw
    assert asked[0]['tail'] == driver_mod.CONSOLE_LOG_MAX_BYTES


def test_console_output_is_the_last_100_kib(driver, engine, instances,
                                            busybox_image):
    inst = instances()
    # 3000 lines of 101 bytes (CR LF on the terminal): 300 kB, numbered
    # so the tail is checkable.
    spawn(driver, inst, busybox_image,
          "/bin/sh -c 'i=0; while [ $i -lt 3000 ]; do "
          "printf \"%099d\\n\" $i; i=$((i+1)); done'")
    engine.post('/containers/nova-%s/wait' % inst.uuid)
    out = driver.get_console_output(None, inst)
    assert len(out) == 100 * 1024
    assert out.endswith('%099d\r\n' % 2999)


def test_a_container_that_exits_is_shutdown(driver, engine, instances,
                                            busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image, '/bin/true')
    engine.post('/containers/nova-%s/wait' % inst.uuid)
    assert power(driver, inst) == power_state.SHUTDOWN


def test_resources_and_inventory_come_from_the_engine(driver, engine):
    info = engine.get('/info').json()
    res = driver.get_available_resource('test-node')
    assert res['vcpus'] == info['NCPU']
    assert res['memory_mb'] == info['MemTotal'] // (1024 * 1024)
    assert res['local_gb'] > 0
    assert res['hypervisor_type'] == 'docker'
    # Docker 20.10.24 -> 20010024; Podman 4.3.1 -> 4003001.
    assert res['hypervisor_version'] == resources.hypervisor_version(
        info['ServerVersion'])
    assert res['hypervisor_version'] > 4000000
    assert res['supported_instances'][0][1:] == ('docker', 'exe')
    assert driver.get_available_nodes() == ['test-node']

    tree = provider_tree.ProviderTree()
    tree.new_root('test-node', 'c6a1a4a4-0000-4000-8000-000000000001')
    driver.update_provider_tree(tree, 'test-node')
    inv = tree.data('test-node').inventory
    assert inv[orc.VCPU]['total'] == info['NCPU']
    assert inv[orc.MEMORY_MB]['reserved'] == 512
    assert set(inv) == {orc.VCPU, orc.MEMORY_MB, orc.DISK_GB}
    assert 'load average' in driver.get_host_uptime()


# -- bad input ---------------------------------------------------------

def assert_no_container(engine, inst):
    assert engine.get('/containers/nova-%s/json' % inst.uuid
                      ).status_code == 404


def test_non_docker_image_is_refused_naming_the_format(
        driver, engine, instances):
    inst = instances()
    meta = nova_objects.image_meta(container_format='bare')
    with pytest.raises(exception.ImageUnacceptable, match="'bare'"):
        driver.spawn(None, inst, meta, [], None, {})
    assert_no_container(engine, inst)


@pytest.mark.parametrize('data', [
    image_fixtures.random_bytes(4096),
    image_fixtures.truncated(image_fixtures.docker_save_tar(None, ['x'])),
], ids=['random', 'truncated'])
def test_unloadable_image_data_fails_and_leaves_nothing(
        driver, engine, instances, image_api, data):
    images_before = {i['Id'] for i in engine.images()}
    inst = instances()
    meta = image_api.add(data)
    with pytest.raises(exception.ImageUnacceptable,
                       match='not a loadable Docker image'):
        driver.spawn(None, inst, meta, [], None, {})
    assert_no_container(engine, inst)
    assert {i['Id'] for i in engine.images()} == images_before


def test_image_is_loaded_once_under_its_glance_id(
        driver, engine, instances, image_api):
    # A command of its own makes an image id no other test shares.
    tar = image_fixtures.docker_save_tar(
        'someones/app:1', ['/bin/sh', '-c', str(uuid.uuid4())])
    meta = image_api.add(tar)
    inst = instances()
    try:
        driver.spawn(None, inst, meta, [], None, {})
        tags = engine.inspect_image('glance/%s:latest' % meta.id)['RepoTags']
        # (Podman names it docker.io/glance/...: the same name.)
        assert [references.familiar(t) for t in tags] == [
            'glance/%s:latest' % meta.id]
        assert engine.get('/images/someones/app:1/json').status_code == 404
    finally:
        driver.destroy(None, inst, None)
        engine.remove_image('glance/%s:latest' % meta.id)


def test_missing_command_fails_and_leaves_no_container(
        driver, engine, instances, busybox_image):
    inst = instances()
    with pytest.raises(exception.InstanceDeployFailure,
                       match='no-such-command'):
        spawn(driver, inst, busybox_image, '/no-such-command')
    assert_no_container(engine, inst)


def test_memory_below_the_engine_minimum_is_refused(
        driver, engine, instances, busybox_image):
    inst = instances(flavor_obj=nova_objects.flavor(memory_mb=4))
    with pytest.raises(exception.InstanceDeployFailure,
                       match='[Mm]inimum memory'):
        spawn(driver, inst, busybox_image)
    assert_no_container(engine, inst)


def test_cache_image_loads_ahead_of_a_boot_once(driver, engine, image_api):
    tar = image_fixtures.docker_save_tar(
        None, ['/bin/sh', '-c', str(uuid.uuid4())])
    meta = image_api.add(tar)
    try:
        assert driver.cache_image(None, meta.id) is True
        assert engine.inspect_image('glance/%s:latest' % meta.id)
        assert driver.cache_image(None, meta.id) is False
    finally:
        engine.remove_image('glance/%s:latest' % meta.id)


def test_cache_image_refuses_other_formats(driver, engine, image_api):
    meta = image_api.add(b'not docker', container_format='bare')
    with pytest.raises(exception.ImageUnacceptable, match="'bare'"):
        driver.cache_image(None, meta.id)
    assert engine.get('/images/glance/%s:latest/json' % meta.id
                      ).status_code == 404


def test_resume_state_on_host_boot_starts_a_stopped_container(
        driver, engine, instances, busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image, GRACEFUL)
    # As after a reboot of the host: the engine left it stopped.
    engine.post('/containers/nova-%s/stop' % inst.uuid, params={'t': 5})
    assert power(driver, inst) == power_state.SHUTDOWN
    driver.resume_state_on_host_boot(None, inst, None, None)
    assert power(driver, inst) == power_state.RUNNING
    # Running already: left as it is.
    started = inspect(engine, inst)['State']['StartedAt']
    driver.resume_state_on_host_boot(None, inst, None, None)
    assert inspect(engine, inst)['State']['StartedAt'] == started


@pytest.mark.parametrize('action', ['power_on', 'reboot HARD',
                                    'reboot SOFT'])
def test_an_instance_whose_container_is_gone_starts_again(
        driver, engine, instances, busybox_image, action):
    # As after an engine lost its state, or an operator's `docker rm`:
    # libvirt's hard reboot defines the domain anew; so does this driver.
    inst = instances(image_ref=busybox_image.id, system_metadata={
        'image_container_format': 'docker', 'image_disk_format': 'raw',
        'image_os_command_line': GRACEFUL})
    spawn(driver, inst, busybox_image, GRACEFUL)
    engine.remove_container('nova-' + inst.uuid)
    with pytest.raises(exception.InstanceNotFound):
        driver.get_info(inst)
    if action == 'power_on':
        driver.power_on(None, inst, None)
    else:
        driver.reboot(None, inst, None, action.split()[1])
    state = inspect(engine, inst)
    assert state['State']['Running'] is True
    assert state['Config']['Cmd'] == shlex.split(GRACEFUL)
    assert state['Config']['Labels'][
        'org.openstack.nova.instance-uuid'] == inst.uuid


def test_an_unparsable_os_command_line_is_refused_before_any_load(
        driver, instances, image_api, monkeypatch):
    meta = image_api.add(b'never read', os_command_line='/bin/sh -c "echo')
    downloads = []
    monkeypatch.setattr(image_api, 'download',
                        lambda *a, **k: downloads.append(a))
    with pytest.raises(exception.ImageUnacceptable,
                       match='os_command_line.*not a valid command line'):
        driver.spawn(None, instances(), meta, [], None, {})
    assert downloads == []
