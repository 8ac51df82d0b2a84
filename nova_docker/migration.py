"""Resize and cold migration: what moves, and how it is checked first.

As libvirt's ``migration.py`` holds its concern apart from the driver,
this room holds ours; the driver keeps only Nova's order of calls.

* On the same host (``[DEFAULT] allow_resize_to_same_host``) nothing
  moves: the stopped workload gets the new flavor's limits through the
  engine's update, on the same container and so the same writable
  layer, and the old ones again on revert.
* To another host, Glance is the one channel both hosts share: the
  source commits the workload and streams it, as a snapshot is streamed
  (:class:`~nova_docker.image.snapshot.Snapshotter`), into a hidden
  *transfer image* of the instance's project; the target loads it through
  the ordinary image pipeline and makes the containers from it. No
  host-to-host channel and no SSH keys.

The transfer image's id is derived from the migration's uuid, so the
source finds it again at confirm and revert without keeping a record.

When the target's engine loads an archive that lacks the layers it
holds (its ComputeNode stats say so:
:data:`engine_facts.PARTIAL_LOAD_STAT`), the transfer image carries
only the workload's layer, not its base image's
(:mod:`nova_docker.archive.partial`), and says so
(:data:`PARTIAL_BASE_PROPERTY`): the target loads the base from its
cache or from Glance first. Anything unknown or unexpected sends the
whole image.
"""

import dataclasses
import json
import uuid

from nova import exception
from nova import objects
from oslo_log import log as logging
from oslo_utils import units

from nova_docker.archive import partial
from nova_docker import container
from nova_docker import exception as docker_exception
from nova_docker import engine_facts
from nova_docker.image import loader
from nova_docker.image import names

LOG = logging.getLogger(__name__)

# uuid5 namespace of transfer image ids (any fixed uuid; never change it:
# a migration in flight across an upgrade must find its image again).
TRANSFER_NAMESPACE = uuid.UUID('0b6c3f4e-93a1-4e0a-8f3b-5d2c1a7e9f60')
# disk_info's key (nova hands disk_info from the source to the target).
TRANSFER_KEY = 'transfer_image_id'
# What the transfer image says of itself.
TRANSFER_IMAGE_TYPE = 'migration'
# The transfer image's property naming the Glance image whose layers it
# lacks (the instance's base): set only on a partial transfer.
PARTIAL_BASE_PROPERTY = 'migration_partial_base'

# The CPU limits the engine's update changes only to another non-zero
# value: a cap of one kind cannot become one of the other kind.
NANO_CPUS = 'NanoCpus'
CFS_FIELDS = ('CpuQuota', 'CpuPeriod')
# What clears a CFS limit through the update: no quota, the kernel's
# default period (0 would mean "unchanged").
CFS_CLEARED = {'CpuQuota': -1, 'CpuPeriod': 100000}


def find_migration(context, instance):
    """The instance's migration in progress (its migration context names
    it), from Nova's database: who the target is, which nova does not
    pass to migrate_disk_and_power_off nor to destroy."""
    context_ = instance.migration_context
    if context_ is None:
        raise exception.MigrationNotFoundForInstance(
            migration_id='(none)', instance_id=instance.uuid)
    return objects.Migration.get_by_id(context, context_.migration_id)


def target_stats(context, migration) -> dict:
    """The ComputeNode stats of the migration's target (what its driver's
    ``get_available_resource`` said, stored by nova's resource tracker)."""
    node = objects.ComputeNode.get_by_host_and_nodename(
        context, migration.dest_compute, migration.dest_node)
    return dict(node.stats or {})


def loads_partial(stats: dict | None) -> bool:
    """Whether ``stats`` (a target's) say its engine loads archives that
    lack the layers it holds; anything else means no."""
    return (stats or {}).get(engine_facts.PARTIAL_LOAD_STAT) == 'true'


@dataclasses.dataclass(frozen=True)
class PartialBase:
    """What a partial transfer leaves out: the layers of the instance's
    base image (Glance ``image_id``), which the target loads itself."""

    image_id: str
    layers: tuple

    @property
    def properties(self) -> dict:
        return {PARTIAL_BASE_PROPERTY: self.image_id}


def partial_base_of(image: dict, instance) -> str | None:
    """The base image a transfer image says it lacks (None: it is whole);
    it must be the instance's own image."""
    base = (image.get('properties') or {}).get(PARTIAL_BASE_PROPERTY)
    if not base:
        return None
    if base != instance.image_ref:
        raise exception.ImageUnacceptable(
            image_id=image.get('id'),
            reason='the transfer image lacks the layers of image %s, which '
                   'is not the image of server %s (%s); revert the '
                   'migration' % (base, instance.uuid, instance.image_ref))
    return base


def same_host(migration) -> bool:
    return migration.source_compute == migration.dest_compute


def transfer_image_ids(migration) -> tuple[str, str]:
    """Every id a migration's transfer image may have: the first, and
    the whole image's sent after a partial one failed its check (Glance
    never gives a deleted image's id again)."""
    return (str(uuid.uuid5(TRANSFER_NAMESPACE, migration.uuid)),
            str(uuid.uuid5(TRANSFER_NAMESPACE, migration.uuid + '/whole')))


def transfer_image_id(migration) -> str:
    return transfer_image_ids(migration)[0]


def disk_info(transfer_id: str | None) -> str:
    """What migrate_disk_and_power_off returns (JSON, as libvirt's)."""
    return json.dumps({TRANSFER_KEY: transfer_id} if transfer_id else {})


def transfer_from(disk_info_json) -> str | None:
    """The transfer image id of ``disk_info``; None on the same host."""
    if not disk_info_json:
        return None
    info = (json.loads(disk_info_json) if isinstance(disk_info_json, str)
            else disk_info_json)
    return info.get(TRANSFER_KEY)


def transfer_image(context, instance, migration,
                   image_id: str | None = None) -> dict:
    """The Glance record of a migration's transfer image (``image_id``,
    by default the first of :func:`transfer_image_ids`): hidden from
    image lists, private to the instance's project, and saying what it
    is (nova's image API ``create`` body)."""
    body = {
        'id': image_id or transfer_image_id(migration),
        'name': 'migration of server %s' % instance.uuid,
        'container_format': names.DOCKER_CONTAINER_FORMAT,
        'disk_format': 'raw',
        'visibility': 'private',
        'os_hidden': True,
        'properties': {'image_type': TRANSFER_IMAGE_TYPE,
                       'instance_uuid': instance.uuid,
                       'migration_uuid': migration.uuid},
    }
    # An admin's migration: the image is still the project's.
    if context.project_id != instance.project_id:
        body['owner'] = instance.project_id
    return body


def check_disk(instance, flavor, used_bytes: int) -> None:
    """Refuse a root disk smaller than what the workload's file system
    holds (its image and what it wrote), as a boot refuses a flavor
    smaller than its image; root_gb 0 is [docker] max_image_size_gb."""
    limit_gb = loader.size_limit_gb(flavor.root_gb)
    if used_bytes > limit_gb * units.Gi:
        raise exception.FlavorDiskSmallerThanImage(
            flavor_size=limit_gb * units.Gi, image_size=used_bytes)


def update_body(current: dict, limits: dict, instance, flavor) -> dict:
    """The engine's update body that turns the workload's ``current``
    HostConfig into ``limits`` (:func:`container.resource_limits`).

    The engine reads 0 as "unchanged" and refuses a CPU cap of one kind
    where one of the other is set, so a CFS limit is cleared with the
    values that mean none, and a switch between the vCPU cap
    (``NanoCpus``) and the flavor's quota:cpu_quota/cpu_period is refused
    (ResizeError) before anything stops.
    """
    body = dict(limits)
    had_nano = bool(current.get(NANO_CPUS))
    had_cfs = any(current.get(field) for field in CFS_FIELDS)
    wants_cfs = any(field in limits for field in CFS_FIELDS)
    if (had_nano and wants_cfs) or (had_cfs and NANO_CPUS in limits):
        raise exception.ResizeError(
            reason='flavor %s changes the kind of CPU limit of server %s '
                   '(a vCPU cap against quota:cpu_quota/cpu_period), which '
                   'the engine cannot change on an existing container: '
                   'resize to another host, or to a flavor with the same '
                   'kind of limit' % (flavor.name, instance.uuid))
    if had_nano and NANO_CPUS not in limits:
        raise exception.ResizeError(
            reason='flavor %s drops the vCPU cap of server %s, which the '
                   'engine cannot clear on an existing container: resize '
                   'to another host' % (flavor.name, instance.uuid))
    for field in CFS_FIELDS:
        if current.get(field) and field not in limits:
            body[field] = CFS_CLEARED[field]
    if current.get('PidsLimit') and 'PidsLimit' not in limits:
        body['PidsLimit'] = -1
    return body


def limits(flavor, conf_docker, host_cpus) -> dict:
    """``flavor``'s limits with this host's [docker] options."""
    return container.resource_limits(
        flavor, conf_docker.pids_limit,
        container.Hardening.from_conf(conf_docker), host_cpus)


def _no_task_state(task_state, expected_state=None):
    """The snapshot path's task states: a migration has its own."""


class Transfers:
    """A migration's transfer image in Glance: made and filled by the
    source, loaded by the target, deleted at confirm and revert.

    :param snapshots: the driver's Snapshotter (commit, save, upload).
    :param images: the driver's ImageLoader (the ordinary pipeline).
    :param local_images: the driver's LocalImages.
    :param image_api: nova's image API (create and delete).
    """

    def __init__(self, snapshots, images, local_images, image_api):
        self._snapshots = snapshots
        self._images = images
        self._local = local_images
        self._image_api = image_api

    def send(self, context, instance, migration,
             target_stats: dict | None = None) -> str:
        """Commit the stopped workload into a new transfer image; no
        image is left if that fails. Without the base image's layers when
        ``target_stats`` say the target's engine loads such an archive
        and this engine holds the base; whole if that goes wrong."""
        held = self._held(instance, target_stats)
        first, whole = transfer_image_ids(migration)
        try:
            return self._send(context, instance, migration, held, first)
        except docker_exception.SnapshotFailed as exc:
            if held is None or not isinstance(exc.__cause__,
                                              partial.Mismatch):
                raise
            LOG.warning('The save did not hold the base image\'s layers as '
                        'expected (%s): sending the whole image',
                        exc.__cause__, instance=instance)
        return self._send(context, instance, migration, None, whole)

    def _held(self, instance, target_stats) -> PartialBase | None:
        if not loads_partial(target_stats) or not instance.image_ref:
            return None
        layers = self._local.layers(instance.image_ref)
        if not layers:
            return None
        return PartialBase(instance.image_ref, layers)

    def _send(self, context, instance, migration,
              held: PartialBase | None, image_id: str) -> str:
        record = transfer_image(context, instance, migration, image_id)
        self._image_api.create(context, record)
        try:
            self._snapshots.snapshot(context, instance, image_id,
                                     _no_task_state, held=held)
        except Exception:
            # The upload deletes its image on failure, not the commit.
            self.delete(context, image_id, instance)
            raise
        # Whether the base's layers were left out, the snapshot logs.
        LOG.info('Sent the workload\'s file system as transfer image %s',
                 image_id, instance=instance)
        return image_id

    def load(self, context, instance, image_meta, image_id: str):
        """(image_meta of the transfer image, its engine-local name), the
        transfer image loaded through the ordinary pipeline, bounded by
        the new flavor's root disk. A partial transfer needs the base
        image first (from the image cache, or Glance)."""
        meta = image_meta.obj_clone()
        meta.id = image_id
        held = self._base_layers(context, instance, image_meta, image_id)
        ref = self._images.ensure_local(context, meta,
                                        root_gb=instance.flavor.root_gb,
                                        held_layers=held)
        return meta, ref

    def _base_layers(self, context, instance, image_meta,
                     image_id: str) -> tuple:
        """The diff ids of the base a partial transfer lacks, loaded
        (and marked used, so the image cache leaves it) here; () for a
        whole transfer."""
        base = partial_base_of(self._image_api.get(context, image_id),
                               instance)
        if base is None:
            return ()
        base_meta = image_meta.obj_clone()
        base_meta.id = base
        try:
            self._images.ensure_local(context, base_meta,
                                      root_gb=instance.flavor.root_gb)
        except exception.ImageNotFound as exc:
            raise exception.MigrationError(
                reason='the transfer image %s carries only what is on top '
                       'of image %s, which is neither in Glance nor on '
                       'this host: revert the migration (the server is '
                       'still whole on its source host)'
                       % (image_id, base)) from exc
        return self._local.layers(base) or ()

    def forget(self, image_id: str, instance) -> None:
        """Remove the engine's copy of a transfer image (quietly; one a
        container uses stays)."""
        self._local.remove_cached(image_id, 'the loaded transfer image',
                                  instance=instance)

    def delete_all(self, context, migration, instance) -> None:
        """Delete the migration's transfer image, whichever id it has."""
        for image_id in transfer_image_ids(migration):
            self.delete(context, image_id, instance)

    def delete(self, context, image_id: str, instance) -> None:
        """Delete the transfer image from Glance; gone is fine, and a
        failure is logged, not raised: it is clean-up after the news."""
        try:
            self._image_api.delete(context, image_id)
        except exception.ImageNotFound:
            return
        except Exception as exc:
            LOG.warning('Could not delete transfer image %s: %s; delete it '
                        'with `openstack image delete %s`', image_id, exc,
                        image_id, instance=instance)
            return
        LOG.info('Deleted transfer image %s', image_id, instance=instance)
