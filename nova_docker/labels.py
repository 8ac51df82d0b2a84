"""What the driver's containers are called and labelled: its whole record.

The driver keeps no state of its own: an instance's containers are found
again after any restart by these names and labels alone. Pure, no I/O.
"""

NAME_PREFIX = 'nova-'
LABEL_PREFIX = 'org.openstack.nova.'
LABEL_INSTANCE_UUID = LABEL_PREFIX + 'instance-uuid'
LABEL_INSTANCE_NAME = LABEL_PREFIX + 'instance-name'
LABEL_PROJECT_ID = LABEL_PREFIX + 'project-id'
LABEL_IMAGE_ID = LABEL_PREFIX + 'image-id'
# The compute service and node that own the container: two nova-computes
# on one engine must never act on each other's containers.
LABEL_HOST = LABEL_PREFIX + 'host'
LABEL_NODE = LABEL_PREFIX + 'node'
# On an instance's sandbox, the uuid of the instance whose network
# namespace it holds. Not the instance label: listings of instances and
# their lifecycle events must see only the workload.
LABEL_SANDBOX_OF = LABEL_PREFIX + 'sandbox-of'
SANDBOX_SUFFIX = '-sandbox'
# On an instance's sandbox, the TCP port of its serial console (from
# [serial_console] port_range), kept for as long as the instance exists
# and listened on again when nova-compute restarts.
LABEL_SERIAL_PORT = LABEL_PREFIX + 'serial-port'
# Every label the driver reads. Each container carries all of them, with
# an empty value where one does not apply, and an empty value means "not
# set": the engine merges the image's labels into the container's where
# the body sets none, so a label left out is one the image may add.
KNOWN_LABELS = (LABEL_INSTANCE_UUID, LABEL_INSTANCE_NAME, LABEL_PROJECT_ID,
                LABEL_IMAGE_ID, LABEL_HOST, LABEL_NODE, LABEL_SANDBOX_OF,
                LABEL_SERIAL_PORT)


def container_name(instance) -> str:
    return workload_name(instance.uuid)


def workload_name(instance_uuid: str) -> str:
    """:func:`container_name` of the instance ``instance_uuid``."""
    return NAME_PREFIX + instance_uuid


def sandbox_name(instance) -> str:
    """The instance's sandbox: the container that holds its network
    namespace, hostname, resolv.conf and /etc/hosts across restarts of
    the workload, as a Kubernetes pod's pause container does."""
    return NAME_PREFIX + instance.uuid + SANDBOX_SUFFIX


def instance_label_filter(instance_uuid: str | None = None,
                          host: str | None = None) -> dict:
    """The ``filters`` that list our containers (or one) in one call;
    with ``host``, only those of that compute host."""
    if instance_uuid:
        labels = ['%s=%s' % (LABEL_INSTANCE_UUID, instance_uuid)]
    else:
        labels = [LABEL_INSTANCE_UUID]
    if host:
        labels.append('%s=%s' % (LABEL_HOST, host))
    return {'label': labels}


def workload_filter(host: str) -> dict:
    """The ``filters`` that list only the workloads of compute ``host``:
    a sandbox carries an empty instance label, a workload an empty
    sandbox label (an engine that reads ``key=`` as "has the key" lists
    the sandboxes too: callers still check :func:`instance_of`)."""
    return {'label': [LABEL_INSTANCE_UUID, '%s=%s' % (LABEL_HOST, host),
                      LABEL_SANDBOX_OF + '=']}


def label(listed: dict, key: str) -> str | None:
    """A label of a container (from ``GET /containers/json`` or an event's
    attributes, given as ``{'Labels': ...}``); None when it is missing or
    empty, as the driver pins the labels it does not mean."""
    return (listed.get('Labels') or {}).get(key) or None


def instance_of(listed: dict) -> str | None:
    """The instance a listed container is the workload of, or None (a
    sandbox, whose instance label is empty)."""
    return label(listed, LABEL_INSTANCE_UUID)


def sandbox_of(listed: dict) -> str | None:
    """The instance a listed container is the sandbox of, or None (a
    workload, whose sandbox label is empty)."""
    return label(listed, LABEL_SANDBOX_OF)


def host_label_filter(host: str) -> dict:
    """The ``filters`` that list every container of compute ``host``:
    workloads and sandboxes (a sandbox's instance: LABEL_SANDBOX_OF)."""
    return {'label': ['%s=%s' % (LABEL_HOST, host)]}


def owner(listed: dict) -> str | None:
    """The compute host a container of ``GET /containers/json`` belongs
    to (None: made before containers carried one)."""
    return label(listed, LABEL_HOST)


def serial_port(listed: dict) -> int | None:
    """The serial console port recorded on a sandbox (listed, or
    inspected as ``{'Labels': Config.Labels}``); None: it has none."""
    value = label(listed, LABEL_SERIAL_PORT)
    return int(value) if value and value.isdigit() else None
