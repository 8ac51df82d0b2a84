"""Several hosts: where servers go, and that each host's work stays on its
own engine.

Six servers are booted in one request (``--min 6 --max 6``): placement
and the scheduler choose the hosts. "Touches only its own host's engine"
is checked with each engine's event log (``GET /events?since&until``):
during an operation on a server, the other engine records no container
or image event at all, while its own records the operation.
"""

import time

import pytest

from tests.cloud import cloud as cloud_mod

COUNT = 6


@pytest.fixture(scope='module')
def spread(cloud_session, busybox_image):
    cloud = cloud_session.cloud
    demo = cloud.demo
    demo.run('server', 'create', '--image', busybox_image['id'], '--flavor',
             'm1.tiny', '--nic', 'none', '--min', COUNT, '--max', COUNT,
             'spread')
    ids = [s['ID'] for s in demo.json('server', 'list', '--name',
                                      '^spread-')]
    try:
        servers = {i: cloud.wait_status(i, 'ACTIVE', timeout=600)
                   for i in ids}
        yield servers
    finally:
        if not cloud_session.down:
            cloud.delete_servers(ids)


def other(host):
    return [h for h in cloud_mod.COMPUTES if h != host][0]


def on_host(servers, host):
    return [i for i, s in servers.items() if s['OS-EXT-SRV-ATTR:host'] ==
            host]


def own_events(events, server_id):
    return [e for e in events if server_id in (
        (e.get('Actor') or {}).get('Attributes') or {}).values()]


def test_six_servers_spread_over_both_hosts(cloud, spread):
    assert len(spread) == COUNT
    hosts = {s['OS-EXT-SRV-ATTR:host'] for s in spread.values()}
    # The default weighers spread: both hosts get servers.
    assert hosts == set(cloud_mod.COMPUTES)
    for server_id, server in spread.items():
        host = server['OS-EXT-SRV-ATTR:host']
        assert server['OS-EXT-SRV-ATTR:hypervisor_hostname'] == host
        # Its container (workload and sandbox) is on that host's engine
        # and on no other.
        assert cloud.hosts_holding(server_id) == [host]
        assert cloud.workload(host, server_id)['State'] == 'running'
    # And no engine holds a container of anything else.
    for host in cloud_mod.COMPUTES:
        owners = {(c['Labels'].get(cloud_mod.INSTANCE_LABEL) or
                   c['Labels'].get(cloud_mod.SANDBOX_LABEL))
                  for c in cloud.containers(host)}
        assert owners == set(on_host(spread, host))


def _window(cloud, host, server_id, action):
    """Run ``action``; return (own engine's events of the server, the other
    engine's events) recorded meanwhile."""
    since = time.time() - 0.5
    action()
    until = time.time() + 0.5
    # An engine writes an event as it happens; the last may trail the
    # API's reply by a moment.
    time.sleep(1)
    own = own_events(cloud.events(host, since, until), server_id)
    return own, cloud.events(other(host), since, until)


@pytest.mark.parametrize('host', cloud_mod.COMPUTES)
def test_operations_touch_only_their_own_host(cloud, spread, host):
    demo = cloud.demo
    server_id = on_host(spread, host)[0]
    before = cloud.workload(host, server_id)

    own, foreign = _window(cloud, host, server_id, lambda: (
        demo.run('server', 'reboot', '--wait', server_id)))
    assert foreign == [], 'reboot on %s reached %s' % (host, other(host))
    assert 'start' in {e['Action'] for e in own}
    assert cloud.inspect(host, before['Id'])['State']['Running']

    own, foreign = _window(cloud, host, server_id, lambda: (
        demo.run('server', 'stop', server_id),
        cloud.wait_status(server_id, 'SHUTOFF')))
    assert foreign == []
    assert 'die' in {e['Action'] for e in own}
    assert not cloud.inspect(host, before['Id'])['State']['Running']

    own, foreign = _window(cloud, host, server_id, lambda: (
        demo.run('server', 'start', server_id),
        cloud.wait_status(server_id, 'ACTIVE')))
    assert foreign == []
    assert 'start' in {e['Action'] for e in own}
    assert cloud.workload(host, server_id)['State'] == 'running'
    assert cloud.hosts_holding(server_id) == [host]


def test_snapshot_stays_on_its_host_and_boots(cloud, spread):
    demo = cloud.demo
    host = cloud_mod.COMPUTES[1]
    server_id = on_host(spread, host)[0]
    snapshot = {}
    since = time.time() - 0.5
    snapshot.update(demo.json('server', 'image', 'create', '--name',
                              'spread-snapshot', '--wait', server_id))
    until = time.time() + 0.5
    try:
        assert cloud.events(other(host), since, until) == []
        own = cloud.events(host, since, until)
        assert 'commit' in {e['Action'] for e in own}
        image = demo.json('image', 'show', snapshot['id'])
        assert image['status'] == 'active'
        assert image['container_format'] == 'docker'

        # A server booted from the snapshot runs the same command.
        booted = demo.json('server', 'create', '--image', snapshot['id'],
                           '--flavor', 'm1.tiny', '--nic', 'none',
                           'from-snapshot')['id']
        try:
            server = cloud.wait_status(booted, 'ACTIVE')
            assert cloud.hosts_holding(booted) == [cloud.host_of(server)]
            assert cloud_mod.HELLO in cloud.wait_console(booted)
        finally:
            demo.run('server', 'delete', '--wait', booted)
            cloud.wait_gone(booted)
        assert cloud.hosts_holding(booted) == []
    finally:
        demo.run('image', 'delete', snapshot['id'], check=False)


def test_delete_touches_only_its_own_host(cloud, spread):
    demo = cloud.demo
    host = cloud_mod.COMPUTES[0]
    server_id = on_host(spread, host)[-1]
    own, foreign = _window(cloud, host, server_id, lambda: (
        demo.run('server', 'delete', '--wait', server_id),
        cloud.wait_gone(server_id)))
    del spread[server_id]
    assert foreign == []
    assert 'destroy' in {e['Action'] for e in own}
    assert cloud.hosts_holding(server_id) == []


def test_compute_restart_loses_no_server(cloud, spread):
    host = cloud_mod.COMPUTES[1]
    mine = sorted(on_host(spread, host))
    assert mine, 'no server on %s' % host
    before = {i: cloud.workload(host, i)['Id'] for i in mine}
    all_before = {h: sorted(c['Id'] for c in cloud.containers(h))
                  for h in cloud_mod.COMPUTES}

    cloud_mod.cloud_sh('stop', 'nova-compute@%s' % host)
    status = cloud_mod.cloud_sh('status', check=False)
    assert status.returncode != 0
    assert 'nova-compute@%s ' % host in status.stdout
    assert [line for line in status.stdout.splitlines()
            if line.startswith('nova-compute@%s ' % host)][0].endswith(
        ' dead')
    # Its servers keep running without it.
    for container_id in before.values():
        assert cloud.inspect(host, container_id)['State']['Running']

    cloud_mod.cloud_sh('up')
    assert cloud_mod.cloud_sh('status').returncode == 0

    # Nothing lost, nothing made twice: the same containers on both
    # engines, every server ACTIVE on the host it was on.
    assert {h: sorted(c['Id'] for c in cloud.containers(h))
            for h in cloud_mod.COMPUTES} == all_before
    for server_id in spread:
        server = cloud.wait_status(server_id, 'ACTIVE')
        assert cloud.host_of(server) == spread[server_id][
            'OS-EXT-SRV-ATTR:host']
    # And the restarted compute serves its servers again.
    server_id = mine[0]
    cloud.demo.run('server', 'reboot', '--wait', server_id)
    assert cloud.inspect(host, before[server_id])['State']['Running']
    assert cloud.hosts_holding(server_id) == [host]
