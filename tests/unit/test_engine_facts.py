"""What an engine is and has, from its ``/version`` and ``/info``."""

import pytest

from nova_docker.archive import oci
from nova_docker import engine_facts

PODMAN_VERSION = {'Components': [{'Name': 'Podman Engine'}],
                  'Os': 'linux', 'Arch': 'arm64'}
DOCKER_VERSION = {'Components': [{'Name': 'Engine'}], 'Os': 'linux',
                  'Arch': 'amd64'}


@pytest.mark.parametrize('component, status, checks', [
    ('Engine', [['Backing Filesystem', 'extfs']], True),
    ('Engine', [['driver-type', 'io.containerd.snapshotter.v1']], False),
    ('Podman Engine', [], False),
])
def test_only_dockers_classic_store_is_left_the_diff_id_check(
        component, status, checks):
    # What each engine's load does with a layer that does not unpack to
    # its diff id: tests/functional/test_oci_images.py.
    version = {'Components': [{'Name': component}]}
    assert engine_facts.checks_diff_ids(version,
                                        {'DriverStatus': status}) is checks


def test_podman_carries_its_ulimits_and_hostname():
    facts = engine_facts.read('1.41', PODMAN_VERSION, {'NCPU': 4})
    assert facts.product == engine_facts.PODMAN
    assert facts.ulimits == engine_facts.PODMAN_ULIMITS
    assert facts.keeps_running
    assert facts.workload_hostname
    assert not facts.checks_diff_ids
    assert facts.platform == oci.Platform('linux', 'arm64')


def test_docker_keeps_running_only_with_live_restore():
    info = {'NCPU': 2, 'Architecture': 'x86_64', 'LiveRestoreEnabled': True,
            'DriverStatus': [['Backing Filesystem', 'extfs']]}
    facts = engine_facts.read('1.41', DOCKER_VERSION, info)
    assert facts.product == engine_facts.DOCKER
    assert facts.keeps_running and facts.checks_diff_ids
    assert not (facts.ulimits or facts.workload_hostname)
    assert (facts.cpus, facts.arch) == (2, 'x86_64')
    assert facts.platform == oci.Platform('linux', 'amd64')
    info['LiveRestoreEnabled'] = False
    assert not engine_facts.read('1.41', DOCKER_VERSION, info).keeps_running
