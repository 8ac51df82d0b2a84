"""Hardened containers on the real engine: what the engine was asked
for (inspect), and what the instance really gets (seen from inside)."""

import glob
import os
import time

import pytest
from nova.compute import power_state

from nova_docker import driver as driver_mod
from tests.fixtures import nova_objects

# Bits of /proc/<pid>/status CapEff (linux/capability.h).
CAP_BITS = {'CHOWN': 0, 'NET_BIND_SERVICE': 10, 'NET_RAW': 13,
            'MKNOD': 27, 'AUDIT_WRITE': 29, 'SETFCAP': 31}
DROPPED = ('NET_RAW', 'MKNOD', 'AUDIT_WRITE', 'SETFCAP')

# Prints what the instance may do, then idles like a booted machine.
PROBE = ("/bin/sh -c 'grep CapEff /proc/1/status; "
         "mknod /tmp/null c 1 3 2>/dev/null && echo mknod-ok "
         "|| echo mknod-refused; "
         "echo quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us "
         "/sys/fs/cgroup/cpu.max 2>/dev/null); "
         "echo probe-done; sleep 1000'")


@pytest.fixture
def docker_opts():
    """Set [docker] options for one test."""
    conf = driver_mod.CONF
    names = []

    def override(**options):
        for name, value in options.items():
            conf.set_override(name, value, 'docker')
            names.append(name)

    yield override
    for name in names:
        conf.clear_override(name, 'docker')


def spawn(driver, instance, image_meta, command=None):
    if command:
        image_meta = nova_objects.image_meta(image_id=image_meta.id,
                                             os_command_line=command)
    driver.spawn(None, instance, image_meta, [], None, {})


def host_config(engine, instance):
    return engine.get('/containers/nova-%s/json' % instance.uuid
                      ).json()['HostConfig']


def console_until(driver, instance, text, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        out = driver.get_console_output(None, instance)
        if text in out or time.monotonic() > deadline:
            return out
        time.sleep(0.05)


def probe(driver, instance):
    """What PROBE printed: (CapEff as int, mknod line, quota line)."""
    out = console_until(driver, instance, 'probe-done')
    lines = dict(line.split(maxsplit=1) if ':' in line
                 else (line, '') for line in out.splitlines()
                 if line.strip())
    cap_eff = int(lines['CapEff:'], 16)
    mknod = 'ok' if 'mknod-ok' in lines else 'refused'
    quota = next(k for k in lines if k.startswith('quota='))
    return cap_eff, mknod, quota[len('quota='):]


def has_cap(cap_eff, name):
    return bool(cap_eff & (1 << CAP_BITS[name]))


def test_default_container_is_hardened_inside_and_out(
        driver, engine, instances, busybox_image):
    inst = instances(flavor_obj=nova_objects.flavor(vcpus=1))
    spawn(driver, inst, busybox_image, PROBE)

    hc = host_config(engine, inst)
    assert set(hc['CapDrop']) >= set(DROPPED)
    assert not hc['CapAdd']
    assert hc['NanoCpus'] == 10 ** 9
    assert hc['LogConfig'] == {'Type': 'json-file',
                               'Config': {'max-size': '10m',
                                          'max-file': '3'}}
    assert hc['Privileged'] is False
    assert 'no-new-privileges' in hc['SecurityOpt']

    cap_eff, mknod, quota = probe(driver, inst)
    for name in DROPPED:
        assert not has_cap(cap_eff, name), name
    # The rest of Docker's default set is still there.
    assert has_cap(cap_eff, 'CHOWN')
    assert has_cap(cap_eff, 'NET_BIND_SERVICE')
    assert mknod == 'refused'
    # One CPU's worth of CFS time per 100 ms period (cgroup v1 or v2).
    assert quota.split()[0] == '100000'


def test_cap_add_gives_a_capability_back(
        driver, engine, instances, busybox_image, docker_opts):
    docker_opts(cap_add=['MKNOD'])
    inst = instances()
    spawn(driver, inst, busybox_image, PROBE)

    hc = host_config(engine, inst)
    assert hc['CapAdd'] == ['MKNOD']
    assert 'MKNOD' not in hc['CapDrop']
    cap_eff, mknod, _quota = probe(driver, inst)
    assert has_cap(cap_eff, 'MKNOD')
    assert not has_cap(cap_eff, 'NET_RAW')
    assert mknod == 'ok'


@pytest.mark.parametrize('specs, quota, period', [
    ({'quota:cpu_quota': '50000', 'quota:cpu_period': '100000'},
     50000, 100000),
    ({'quota:cpu_quota': '30000'}, 30000, 0),
    ({'quota:cpu_period': '50000'}, 0, 50000),
])
def test_a_flavor_cfs_limit_wins_over_the_hard_cap_and_boots(
        driver, engine, instances, busybox_image, specs, quota, period):
    # The engine refuses NanoCpus next to CpuQuota or CpuPeriod: the
    # flavor's limit is the one sent.
    inst = instances(flavor_obj=nova_objects.flavor(vcpus=1,
                                                    extra_specs=specs))
    spawn(driver, inst, busybox_image)
    hc = host_config(engine, inst)
    assert (hc['NanoCpus'], hc['CpuQuota'], hc['CpuPeriod']) == \
        (0, quota, period)
    assert driver.get_info(inst).state == power_state.RUNNING


def test_a_flavor_wider_than_the_host_gets_the_host(
        driver, engine, instances, busybox_image):
    ncpu = engine.get('/info').json()['NCPU']
    inst = instances(flavor_obj=nova_objects.flavor(vcpus=ncpu + 2))
    spawn(driver, inst, busybox_image)
    assert host_config(engine, inst)['NanoCpus'] == ncpu * 10 ** 9
    assert driver.get_info(inst).state == power_state.RUNNING


def test_cpu_hard_cap_off_leaves_cpu_time_unbounded(
        driver, engine, instances, busybox_image, docker_opts):
    docker_opts(cpu_hard_cap=False)
    inst = instances()
    spawn(driver, inst, busybox_image, PROBE)
    assert host_config(engine, inst)['NanoCpus'] == 0
    _cap_eff, _mknod, quota = probe(driver, inst)
    assert quota.split()[0] in ('-1', 'max')


def test_console_log_rotates_and_stays_bounded(
        driver, engine, instances, busybox_image, docker_opts):
    docker_opts(log_max_size='8k', log_max_files=2)
    inst = instances()
    # 2000 lines of 100 bytes: 200 kB of output, 25 times max-size.
    spawn(driver, inst, busybox_image,
          "/bin/sh -c 'i=0; while [ $i -lt 2000 ]; do "
          "printf \"%099d\\n\" $i; i=$((i+1)); done'")
    engine.post('/containers/nova-%s/wait' % inst.uuid)

    c = engine.get('/containers/nova-%s/json' % inst.uuid).json()
    assert c['HostConfig']['LogConfig']['Config'] == {'max-size': '8k',
                                                      'max-file': '2'}
    if not os.path.exists(c['LogPath']):
        pytest.skip('the engine\'s log files are not on this host')
    files = glob.glob(c['LogPath'] + '*')
    assert 1 <= len(files) <= 2
    # Each file is cut once it passes 8 kB: by one json line at most
    # (a 100-byte line is about 170 bytes in json-file).
    for path in files:
        assert os.path.getsize(path) <= 8 * 1024 + 512, path
    # The console still shows the newest output, across the rotation.
    # (Lines end in CR LF on the workload's terminal.)
    out = driver.get_console_output(None, inst)
    assert out.endswith('%099d\r\n' % 1999)
    assert '%099d\r\n' % 0 not in out


def test_init_host_warns_that_live_restore_is_off(driver, engine, caplog):
    if engine.get('/info').json().get('LiveRestoreEnabled'):
        pytest.skip('this engine has live-restore on')
    driver.init_host('test-node')
    warnings = [r.getMessage() for r in caplog.records
                if r.levelname == 'WARNING']
    [live_restore] = [w for w in warnings if 'live-restore' in w]
    assert 'stops every instance' in live_restore
    assert '"live-restore": true' in live_restore
    # This engine has seccomp and is on a unix socket: nothing else.
    assert not [w for w in warnings if 'seccomp' in w or 'TLS' in w]
