"""DockerDriver and client against the raw engine API, in one run.

(a) spawn of a cached 2 MB image until running, vs the same creates and
    starts (sandbox, then workload) sent as raw HTTP;
(b) list_instances with 200 containers: HTTP requests made, and time vs
    one raw ``GET /containers/json`` with the same label filter;
(c) latency of ``GET /containers/{id}/json`` through this client vs
    docker-py's ``APIClient``.

Run as root with an engine up: ``python -m benchmarks.driver``.
"""

import json
import sys

from benchmarks import common
from nova_docker import container
from nova_docker import driver as driver_mod
from nova_docker import host as host_mod
from nova_docker import labels
from tests.fixtures import images as image_fixtures
from tests.fixtures import nova_objects

SPAWNS = 20
LISTED = 200
LATENCY_CALLS = 300
HOST = 'bench'


class RequestCounter:
    """Counts the HTTP requests a client's session sends."""

    def __init__(self, client):
        self.count = 0
        session = client._session
        real = session.request

        def counting(*args, **kwargs):
            self.count += 1
            return real(*args, **kwargs)
        session.request = counting


def cached_image(raw):
    tar = image_fixtures.docker_save_tar(None, ['/bin/sh'])
    resp = raw.post(common.SOCKET_URL + '/images/load', data=tar,
                    headers={'Content-Type': 'application/x-tar'})
    image = resp.text.split('Loaded image ID: ')[1].split('\\n')[0]
    meta = nova_objects.image_meta()
    raw.post(common.SOCKET_URL + '/images/%s/tag' % image,
             params={'repo': 'glance/' + meta.id, 'tag': 'latest'})
    return meta


def bench_spawn(drv, host, raw, meta):
    made = []

    def ours():
        inst = nova_objects.instance()
        made.extend([labels.sandbox_name(inst),
                     labels.container_name(inst)])
        drv.spawn(None, inst, meta, [], None, {})

    def baseline():
        # The same two containers: the sandbox, then the workload in its
        # namespace, each created and started.
        inst = nova_objects.instance()
        sandbox = labels.sandbox_name(inst)
        bodies = [
            (sandbox, container.sandbox_body(inst, sandbox_ref)),
            (labels.container_name(inst), container.create_body(
                inst, meta, 'glance/%s:latest' % meta.id, 1024,
                image_id=meta.id, sandbox=sandbox))]
        for name, body in bodies:
            made.append(name)
            raw.post(common.SOCKET_URL + '/v1.41/containers/create',
                     params={'name': name}, json=body).raise_for_status()
            raw.post(common.SOCKET_URL + '/v1.41/containers/%s/start'
                     % name).raise_for_status()

    sandbox_ref = host.sandbox_image()

    try:
        return common.interleaved(ours, baseline, SPAWNS)
    finally:
        # Workloads before the sandboxes they joined.
        for name in reversed(made):
            raw.delete(common.SOCKET_URL + '/containers/%s' % name,
                       params={'force': 1})


def bench_list(drv, host, raw, meta):
    made = []
    try:
        for _ in range(LISTED):
            inst = nova_objects.instance()
            body = container.create_body(
                inst, meta, 'glance/%s:latest' % meta.id, 0, host=HOST,
                node=HOST)
            name = 'nova-' + inst.uuid
            raw.post(common.SOCKET_URL + '/containers/create',
                     params={'name': name}, json=body).raise_for_status()
            made.append(name)
        counter = RequestCounter(host.client)
        names = drv.list_instances()
        requests_made = counter.count
        assert len(names) >= LISTED, len(names)
        filters = json.dumps(labels.instance_label_filter(host=HOST))
        ours, base = common.interleaved(
            drv.list_instances,
            lambda: raw.get(common.SOCKET_URL + '/v1.41/containers/json',
                            params={'all': 1, 'filters': filters}).json(),
            20)
        return requests_made, ours, base
    finally:
        for name in made:
            raw.delete(common.SOCKET_URL + '/containers/%s' % name,
                       params={'force': 1})


def bench_latency(drv, host, meta):
    try:
        import docker  # docker-py, the baseline only
    except ImportError:
        print('docker-py is not installed (pip install docker): (c) not '
              'measured')
        return None

    inst = nova_objects.instance()
    drv.spawn(None, inst, meta, [], None, {}, power_on=False)
    name = 'nova-' + inst.uuid
    try:
        theirs = docker.APIClient(base_url='unix:///var/run/docker.sock',
                                  version='auto')
        ours = host.client
        ours.inspect_container(name)
        theirs.inspect_container(name)
        return common.interleaved(
            lambda: ours.inspect_container(name),
            lambda: theirs.inspect_container(name), LATENCY_CALLS)
    finally:
        drv.destroy(None, inst, None)


def main():
    raw = common.raw_session()
    host = host_mod.Host()
    drv = driver_mod.DockerDriver(virtapi=None, host=host)
    drv.init_host(HOST)
    meta = cached_image(raw)
    try:
        spawn_ours, spawn_base = bench_spawn(drv, host, raw, meta)
        requests_made, list_ours, list_base = bench_list(drv, host, raw, meta)
        latency = bench_latency(drv, host, meta)
    finally:
        raw.delete(common.SOCKET_URL + '/images/glance/%s:latest' % meta.id)
    rows = [
        ('(a) spawn of a cached 2 MB image, to running', spawn_ours,
         spawn_base, 's', '<= 1.10'),
        ('(b) list_instances, %d containers' % LISTED, list_ours, list_base,
         's', '-'),
        ('(b) HTTP requests for list_instances', requests_made, 1, 'req',
         '1'),
    ]
    if latency:
        rows.append(('(c) GET /containers/{id}/json vs docker-py',
                     *latency, 's', '<= 1.0'))
    common.print_table('DockerDriver vs raw engine API (median)', rows)
    return 0


if __name__ == '__main__':
    sys.exit(main())
