"""``nova-docker-registry-prune --config-file FILE [--dry-run]``: delete
the Glance images that pushes replaced and that no server uses, the
uploads a killed registry left unfinished, then the pushed blobs no tag
names any more.

A push over a tag leaves the image it replaces (servers booted from it
must keep working and stay rebuildable), renamed and marked
``nova_docker_replaced_by``. Only Nova knows whether a server still uses
one, so this asks Nova (``[nova]``: keystoneauth options, as ``[glance]``)
for servers of every project with that image.
"""

import argparse
import calendar
import sys
import time
from collections.abc import Callable

from keystoneauth1 import loading as ks_loading
from oslo_log import log as logging

from nova_docker.registry import conf as registry_conf
from nova_docker.registry import errors
from nova_docker.registry import glance as glance_mod
from nova_docker.registry import storage
from nova_docker.registry import wsgi

LOG = logging.getLogger(__name__)
NOVA_GROUP = 'nova'


def register_nova_opts(conf) -> None:
    ks_loading.register_session_conf_options(conf, NOVA_GROUP)
    ks_loading.register_auth_conf_options(conf, NOVA_GROUP)
    ks_loading.register_adapter_conf_options(conf, NOVA_GROUP)


def nova_servers_using(conf) -> Callable[[str], bool]:
    """``used(image_id)``: does any server of any project boot from it?"""
    auth = ks_loading.load_auth_from_conf_options(conf, NOVA_GROUP)
    session = ks_loading.load_session_from_conf_options(conf, NOVA_GROUP,
                                                        auth=auth)
    nova = ks_loading.load_adapter_from_conf_options(
        conf, NOVA_GROUP, session=session, auth=auth,
        service_type='compute')

    def used(image_id: str) -> bool:
        resp = nova.get('/servers', params={'all_tenants': 1,
                                            'image': image_id, 'limit': 1})
        return bool(resp.json().get('servers'))
    return used


def _referenced(glance, store) -> tuple[set, set]:
    """``(owner, digest)`` of what a tag image still answers to (its
    manifest, an index's children, and their blobs, in the tag's
    project), and the owners of tags whose manifests could not be read:
    their blobs are all kept this time, and no one tag stops the prune
    for every project."""
    kept, spared = set(), set()
    for image in glance.images(container_format='docker'):
        try:
            found = store.pushed_manifests(image)
        except errors.RegistryError as exc:
            LOG.warning('Keeping every blob of project %s: the manifest of '
                        'its tag image %s can not be read (%s)',
                        image.get('owner'), image['id'], exc)
            spared.add(image.get('owner'))
            continue
        owner = image.get('owner')
        for manifest in found:
            kept.add((owner, manifest.digest))
            kept.update((owner, d.digest) for d in manifest.blobs())
    return kept, spared


def prune(glance, store, used: Callable[[str], bool],
          min_age: float, dry_run: bool = False) -> list[dict]:
    """Delete replaced images no server uses, then blobs no tag names
    and older than ``min_age`` seconds (a push in flight stores its
    blobs before the manifest that names them). The images deleted.

    Only what the registry wrote, as its seal proves, is acted on: an
    image whose ``nova_docker_*`` properties someone else set is left
    as it is."""
    gone = [image for image in glance.images(container_format='docker')
            if store.trusted(image).get(storage.REPLACED_BY) and
            not used(image['id'])]
    for image in gone:
        if not dry_run:
            glance.delete(image['id'])
    cutoff = time.time() - min_age
    gone.extend(_abandoned(glance, store, cutoff, dry_run))
    keep, spared = _referenced(glance, store)
    for blob in glance.images(os_hidden='true', status='active'):
        digest = store.trusted(blob).get(storage.BLOB)
        owner = blob.get('owner')
        if (digest and (owner, digest) not in keep and
                owner not in spared and _created(blob) < cutoff):
            gone.append(blob)
            if not dry_run:
                glance.delete(blob['id'])
    return gone


def _abandoned(glance, store, cutoff: float, dry_run: bool) -> list[dict]:
    """Images a registry process began and never finished (it was killed
    during the upload): they never became active."""
    found = []
    for hidden in ('false', 'true'):
        for status in ('queued', 'saving'):
            for image in glance.images(os_hidden=hidden, status=status):
                if (store.trusted(image).get(storage.REPOSITORY) and
                        _created(image) < cutoff):
                    found.append(image)
                    if not dry_run:
                        glance.delete(image['id'])
    return found


def _created(image: dict) -> float:
    try:
        return calendar.timegm(time.strptime(image.get('created_at') or '',
                                             '%Y-%m-%dT%H:%M:%SZ'))
    except ValueError:
        return time.time()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog='nova-docker-registry-prune', description=__doc__.split('\n')[0])
    parser.add_argument('--config-file', required=True)
    parser.add_argument('--dry-run', action='store_true',
                        help='list what would be deleted, delete nothing')
    args = parser.parse_args(argv)
    conf = registry_conf.CONF
    register_nova_opts(conf)
    logging.register_options(conf)
    conf(['--config-file', args.config_file],
         project='nova-docker-registry')
    logging.setup(conf, 'nova-docker-registry')
    glance = glance_mod.Glance(glance_mod.adapter_from_conf(conf))
    store = storage.Storage(glance, None, wsgi.sealer_from_conf(conf))
    for image in prune(glance, store, nova_servers_using(conf),
                       conf.registry.upload_timeout, args.dry_run):
        print('%s %s %s' % ('would delete' if args.dry_run else 'deleted',
                            image['id'], image.get('name')))
    return 0


if __name__ == '__main__':
    sys.exit(main())

