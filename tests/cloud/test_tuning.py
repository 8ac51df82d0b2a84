"""The cloud's settings that a boot at the API waits on (issue 25;
benchmarks/README.rst has the figures): they are at work in the running
cloud, not only written in its configuration."""

import datetime
import os
import re
import statistics
import time

from tests.cloud import cloud as cloud_mod

LOG = os.path.join(cloud_mod.STATE, 'log')
PASS = re.compile(r'^(\S+ \S+) .*Agent rpc_loop - iteration:\d+ started')


def _agent_passes(host):
    """The times of the OVS agent's loop passes, from its log."""
    with open(os.path.join(LOG, 'neutron-openvswitch-agent@%s.log' %
                           host), errors='replace') as f:
        return [datetime.datetime.fromisoformat(m.group(1)).timestamp()
                for m in map(PASS.match, f) if m]


def test_the_ovs_agents_look_for_new_ports_several_times_a_second(cloud):
    # A boot waits for the agent's next pass after its port is plugged:
    # neutron's least polling_interval (1 s) costs half a second a boot
    # on average.
    for host in cloud_mod.COMPUTES:
        deadline = time.monotonic() + 30
        while len(_agent_passes(host)) < 21 and time.monotonic() < deadline:
            time.sleep(1)
        passes = _agent_passes(host)[-21:]
        gaps = [b - a for a, b in zip(passes, passes[1:], strict=False)]
        assert gaps and statistics.median(gaps) < 0.5, (
            'the OVS agent of %s passes every %.2f s (median of %d): '
            'tools/cloud/ovs_agent.py should make it 0.2 s' % (
                host, statistics.median(gaps) if gaps else -1, len(gaps)))


def _workers(leader):
    """The gunicorn workers under the master ``leader``."""
    found = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                command = f.read()
        except (OSError, IndexError):
            continue
        if ppid == leader and b'worker' in command:
            found.append(int(name))
    return found


def test_nova_api_and_neutron_api_serve_with_two_workers(cloud):
    # Every create goes through both; one Python process holds one core.
    pids = cloud_mod.recorded_pids()
    for name in ('nova-api', 'neutron-api'):
        assert len(_workers(pids[name])) == 2, name
