"""Instance -> container: pure translation, no I/O.

Each ``_<concern>`` function maps one aspect of an instance (its flavor,
image, identity) onto a fragment of the engine's ``POST /containers/create``
body; :func:`create_body` merges them. Nothing here talks to the engine, so
every rule is testable without one.
"""

import shlex
from typing import Any

from nova import exception

NAME_PREFIX = 'nova-'
LABEL_PREFIX = 'org.openstack.nova.'
LABEL_INSTANCE_UUID = LABEL_PREFIX + 'instance-uuid'
LABEL_INSTANCE_NAME = LABEL_PREFIX + 'instance-name'
LABEL_PROJECT_ID = LABEL_PREFIX + 'project-id'
LABEL_IMAGE_ID = LABEL_PREFIX + 'image-id'

MIB = 1024 * 1024
# Docker's unit for CpuShares: one CPU is worth 1024.
SHARES_PER_VCPU = 1024
# The CFS quota/period bounds the kernel accepts, in microseconds.
CFS_PERIOD_RANGE = (1000, 1000000)
CFS_QUOTA_MIN = 1000

Body = dict[str, Any]


def container_name(instance) -> str:
    return NAME_PREFIX + instance.uuid


def instance_label_filter(instance_uuid: str | None = None) -> dict:
    """The ``filters`` that list our containers (or one) in one call."""
    if instance_uuid:
        return {'label': ['%s=%s' % (LABEL_INSTANCE_UUID, instance_uuid)]}
    return {'label': [LABEL_INSTANCE_UUID]}


def _labels(instance, image_id: str | None) -> Body:
    labels = {
        LABEL_INSTANCE_UUID: instance.uuid,
        LABEL_INSTANCE_NAME: instance.name,
        LABEL_PROJECT_ID: instance.project_id or '',
    }
    if image_id:
        labels[LABEL_IMAGE_ID] = image_id
    return {'Labels': labels}


def _hostname(instance) -> Body:
    # Nova already sanitised it to an RFC 952 name; fall back to the uuid
    # for instances that predate hostname.
    return {'Hostname': (instance.hostname or instance.uuid)[:63]}


def _memory(flavor) -> Body:
    limit = flavor.memory_mb * MIB
    # MemorySwap equal to Memory: no swap beyond the flavor's RAM, as a
    # VM of that flavor would have.
    return {'HostConfig': {'Memory': limit, 'MemorySwap': limit}}


def _int_extra_spec(flavor, key: str) -> int | None:
    value = (flavor.extra_specs or {}).get(key)
    if value in (None, ''):
        return None
    try:
        return int(value)
    except ValueError:
        raise exception.InvalidInput(
            reason='flavor %s: extra spec %s=%r is not an integer; set it '
                   'to microseconds, e.g. 50000' % (flavor.name, key, value)
        ) from None


def _cpu(flavor) -> Body:
    host_config: Body = {'CpuShares': flavor.vcpus * SHARES_PER_VCPU}
    # libvirt's names, so a flavor means the same on both drivers.
    quota = _int_extra_spec(flavor, 'quota:cpu_quota')
    period = _int_extra_spec(flavor, 'quota:cpu_period')
    if period is not None:
        low, high = CFS_PERIOD_RANGE
        if not low <= period <= high:
            raise exception.InvalidInput(
                reason='flavor %s: quota:cpu_period must be between %d and '
                       '%d microseconds, got %d' % (flavor.name, low, high,
                                                    period))
        host_config['CpuPeriod'] = period
    if quota is not None and quota > 0:
        if quota < CFS_QUOTA_MIN:
            raise exception.InvalidInput(
                reason='flavor %s: quota:cpu_quota must be at least %d '
                       'microseconds (or <= 0 for no cap), got %d'
                       % (flavor.name, CFS_QUOTA_MIN, quota))
        host_config['CpuQuota'] = quota
    return {'HostConfig': host_config}


def _pids(pids_limit: int) -> Body:
    # 0 means unlimited in our option; the engine wants it left out.
    if pids_limit <= 0:
        return {}
    return {'HostConfig': {'PidsLimit': pids_limit}}


def _security() -> Body:
    return {'HostConfig': {'Privileged': False,
                           'SecurityOpt': ['no-new-privileges']}}


def _network() -> Body:
    # Neutron owns the instance's network: the engine gives it none.
    return {'HostConfig': {'NetworkMode': 'none'}}


def _command(image_meta) -> Body:
    """``os_command_line`` overrides the image's CMD; else the image's own.

    stdin is kept open so that an image whose command is an interactive
    shell (busybox's ``sh``) stays up like a booted machine instead of
    exiting on EOF at once.
    """
    body: Body = {'OpenStdin': True, 'StdinOnce': False, 'Tty': False}
    props = image_meta.properties
    if props.obj_attr_is_set('os_command_line') and props.os_command_line:
        body['Cmd'] = shlex.split(props.os_command_line)
    return body


def _merge(*fragments: Body) -> Body:
    body: Body = {}
    for fragment in fragments:
        for key, value in fragment.items():
            if isinstance(value, dict):
                body.setdefault(key, {}).update(value)
            else:
                body[key] = value
    return body


def create_body(instance, image_meta, image_ref: str, pids_limit: int,
                image_id: str | None = None) -> Body:
    """The ``POST /containers/create`` body for ``instance``.

    :param image_ref: the engine-local image to run (see nova_docker.images).
    :param image_id: the Glance image id, recorded as a label.
    """
    flavor = instance.flavor
    return _merge(
        {'Image': image_ref},
        _labels(instance, image_id),
        _hostname(instance),
        _command(image_meta),
        _memory(flavor),
        _cpu(flavor),
        _pids(pids_limit),
        _security(),
        _network(),
    )
