"""What a Neutron port adds to a boot, in one run.

``DockerDriver.spawn`` of a cached 2 MB image until the workload runs, with
one port (an ``ovs`` VIF on an Open vSwitch bridge of the run's own,
userspace datapath, IPv4 and IPv6) against the same spawn without ports,
called in turns; target: the port adds under 150 ms. The privileged work
runs in real privsep-helper daemons, as on a compute host (started once,
before the timed rounds), not in-process.

Run as root with an engine and Open vSwitch up (``tools/ensure-ovs.sh``):
``python -m benchmarks.ports [--repeat N]``.
"""

import argparse
import os
import statistics
import sys
import uuid

from oslo_config import cfg

from benchmarks import common
from benchmarks import soak
from nova_docker import driver as driver_mod
from nova_docker import host as host_mod
from tests.fixtures import ovs as ovs_fixtures
from tests.fixtures import wiring as wiring_fixtures
from tests.fixtures.ports import ovs_vif
from tests.fixtures.ports import subnet
from tests.fixtures import nova_objects

REPEAT = 15
TARGET_MS = 150
HELPER = os.path.join(sys.prefix, 'bin', 'privsep-helper')


def privsep_daemons() -> None:
    # As root, the helper needs no sudo: the same command line an
    # operator sets in nova.conf.
    for group in ('nova_docker_privileged', 'vif_plug_ovs_privileged'):
        cfg.CONF.set_override('helper_command', HELPER, group=group)


def port(bridge: str, host: int):
    return ovs_vif([subnet('10.79.0.0/24', ['10.79.0.%d' % host],
                           '10.79.0.1', dns=['10.79.0.53']),
                    subnet('fd00:79::/64', ['fd00:79::%d' % host])],
                   bridge=bridge, mac='fa:16:3e:79:00:%02x' % host)


class Booter:
    """spawn + destroy of new instances; only the spawn is timed."""

    def __init__(self, driver, meta, network_info=None):
        self.driver = driver
        self.meta = meta
        self.network_info = network_info or []
        self.last = None

    def spawn(self):
        self.last = nova_objects.instance(project_id='bench-ports')
        self.driver.spawn(None, self.last, self.meta, [], None, {},
                          network_info=self.network_info)

    def destroy(self):
        self.driver.destroy(None, self.last, self.network_info)


def measure(driver, meta, bridge, repeat):
    plain = Booter(driver, meta)
    wired = Booter(driver, meta, [port(bridge, 10)])
    samples = {id(plain): [], id(wired): []}
    for _ in range(repeat + 1):  # the first round warms up, untimed
        for booter in (plain, wired):
            samples[id(booter)].append(common.timed(booter.spawn, 1))
            booter.destroy()
    return (statistics.median(samples[id(wired)][1:]),
            statistics.median(samples[id(plain)][1:]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeat', type=int, default=REPEAT)
    args = parser.parse_args(argv)

    if not ovs_fixtures.ovs_answers():
        sys.exit('Open vSwitch does not answer: run tools/ensure-ovs.sh')
    ovs = wiring_fixtures.OsVifOnLocalOVS()
    ovs.setUp()
    bridge = ovs_fixtures.OVSBridge('brb-' + uuid.uuid4().hex[:6])
    bridge.setUp()
    privsep_daemons()
    client = host_mod.client_from_conf()
    driver = driver_mod.DockerDriver(virtapi=None,
                                     host=host_mod.Host(client))
    driver.init_host('bench-ports')
    meta = soak.cached_image(client, common.unique('bench-ports'))
    try:
        with_port, without = measure(driver, meta, bridge.name, args.repeat)
    finally:
        client.remove_image('glance/%s:latest' % meta.id, force=True)
        bridge.cleanUp()
        ovs.cleanUp()
    common.print_table(
        'Boot with one Neutron port vs without (median of %d, in turns)'
        % args.repeat,
        [('spawn to running, one port vs none', with_port, without, 's',
          '+%d ms' % TARGET_MS)])
    print('\nthe port adds %.0f ms (target < %d ms)'
          % ((with_port - without) * 1000, TARGET_MS))
    return 0


if __name__ == '__main__':
    sys.exit(main())
