"""What the engine is and has, from its ``/version`` and ``/info``
replies: which dialect to speak, what a create body must carry, what its
image load checks itself. Pure, no I/O: :class:`nova_docker.host.Host`
reads the replies once and hands the facts to whoever needs them.
"""

import dataclasses

from nova_docker.archive import oci
from nova_docker import disk
from nova_docker import resources

DOCKER = 'Docker Engine'
PODMAN = 'Podman Engine'
# Podman gives each container RLIMIT_NOFILE and RLIMIT_NPROC of 1048576
# unless its create request says otherwise, above the hard limits of a
# root without CAP_SYS_RESOURCE (as on hosts in containers or VMs with
# tight limits): there no container starts ("error setting rlimit type
# 7"). Limits of the common soft defaults, under such hard ones, are
# asked for explicitly. Docker sets none: containers inherit dockerd's.
PODMAN_ULIMITS = (
    {'Name': 'nofile', 'Soft': 1024, 'Hard': 4096},
    {'Name': 'nproc', 'Soft': 4096, 'Hard': 4096},
)


def product(version: dict) -> str:
    """Which engine answers ('Docker Engine', 'Podman Engine'...): the
    dialect a caller may need to speak, from ``/version``."""
    for component in version.get('Components') or []:
        name = component.get('Name', '')
        # Docker's own component is plain 'Engine' (20.10 to 29).
        if name == 'Engine':
            return DOCKER
        if name.endswith('Engine'):
            return name
    return DOCKER


# /info DriverStatus 'driver-type' of Docker's containerd image store.
CONTAINERD_SNAPSHOTTER = 'io.containerd.snapshotter.v1'


def checks_diff_ids(version: dict, info: dict) -> bool:
    """Whether the engine's load refuses a layer that does not unpack to
    the diff id its image config records, and leaves nothing of it:
    Docker's classic image store ("invalid diffID for layer 0", seen on
    20.10 and 26). Its containerd store refuses too ("wrong diff id
    calculated on extraction") but keeps the image record it made before
    unpacking, and Podman refuses with an HTTP 500: the driver checks the
    diff ids itself there (tests/functional/test_oci_images.py)."""
    return _classic_docker_store(version, info)


def _classic_docker_store(version: dict, info: dict) -> bool:
    return (product(version) == DOCKER and
            disk.driver_status(info).get('driver-type') !=
            CONTAINERD_SNAPSHOTTER)


def loads_partial_archives(version: dict, info: dict) -> bool:
    """Whether the engine loads a ``docker save`` archive that lacks the
    files of layers it already holds: Docker's classic image store looks
    each layer up by its chain id first and reads only the files of
    layers it lacks (seen on 20.10 and 26). Podman refuses such an
    archive ("payload does not match any of the supported image
    formats"); Docker's containerd store loads one only while its
    content store still has the missing blobs, which nothing promises
    (tests/functional/test_migration.py)."""
    return _classic_docker_store(version, info)


# The key of ComputeNode.stats (the driver's ``get_available_resource``
# ``stats``, which nova's resource tracker stores) by which a migration's
# source learns that the target's engine loads partial archives.
PARTIAL_LOAD_STAT = 'docker_loads_partial_archives'


@dataclasses.dataclass(frozen=True)
class EngineFacts:
    """What the engine is and has, read from ``/version`` and ``/info``."""

    api_version: str
    product: str
    # The CPU count bounds a container's CPU cap; the architecture picks
    # the sandbox's pause program; the storage says what a disk bound is.
    cpus: int | None
    arch: str | None
    storage: disk.StorageFacts
    # What every create body must carry on this engine (HostConfig
    # Ulimits), beyond what the flavor says.
    ulimits: tuple = ()
    # Whether instances keep running while the engine is stopped or
    # restarted: Docker's live-restore; always on Podman, whose
    # containers belong to their conmon, not to the API service (its
    # /info says LiveRestoreEnabled false all the same).
    keeps_running: bool = False
    # Whether a workload joined to its sandbox carries the hostname
    # itself: Podman 4 gives it a hostname of its own (its id); Docker
    # shares the sandbox's and refuses one there.
    workload_hostname: bool = False
    # The image of a multi-platform archive to load: the engine's own,
    # in Go's names as ``/version`` and OCI indexes give them.
    platform: oci.Platform = oci.Platform('linux', '')
    # Whether its image load refuses a layer that does not unpack to its
    # diff id, leaving nothing (see checks_diff_ids).
    checks_diff_ids: bool = False
    # Whether a load may lack the files of layers the engine holds
    # (:func:`loads_partial_archives`): a migration's target that does
    # gets only what its base image lacks.
    loads_partial_archives: bool = False


def node_stats(facts: EngineFacts) -> dict:
    """What this host tells the others through its ComputeNode record:
    a fresh dict each time (nova's tracker adds to it)."""
    return {PARTIAL_LOAD_STAT: 'true' if facts.loads_partial_archives
            else 'false'}


def read(api_version: str, version: dict, info: dict,
         local: bool = True) -> EngineFacts:
    """The facts of an engine speaking ``api_version`` whose
    ``/version`` and ``/info`` replies are ``version`` and ``info``;
    ``local``: it runs on this host (see resources.storage_facts)."""
    name = product(version)
    return EngineFacts(
        api_version=api_version, product=name,
        ulimits=PODMAN_ULIMITS if name == PODMAN else (),
        keeps_running=(name == PODMAN or
                       bool(info.get('LiveRestoreEnabled'))),
        workload_hostname=name == PODMAN,
        cpus=info.get('NCPU'), arch=info.get('Architecture'),
        platform=oci.Platform(version.get('Os') or 'linux',
                              version.get('Arch') or ''),
        checks_diff_ids=checks_diff_ids(version, info),
        loads_partial_archives=loads_partial_archives(version, info),
        storage=resources.storage_facts(info, local=local))


