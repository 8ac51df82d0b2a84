"""Glance images built to change what another image on the engine is, to
fill nova-compute's memory or the engine's disk, or to make the engine
work for them: each is refused or fenced in and leaves the engine as it
was. Real glance-api, real engine.
"""

import gzip
import io
import json
import signal
import tarfile
import time
import uuid

import pytest
from nova import exception

from nova_docker.archive import tarstream
from nova_docker import labels
from tests.fixtures.glance_boot import boot
from tests.fixtures.glance_boot import engine_has
from tests.fixtures.glance_boot import local_ref
from tests.fixtures import images as image_fx
from tests.fixtures.images import digest_of
from tests.fixtures.images import engine_id_of
from tests.fixtures.images import save_tar
from tests.fixtures.images import unique_labels
from tests.fixtures import ports
from tests.fixtures import nova_objects

pytestmark = pytest.mark.every_engine


@pytest.fixture
def victim(engine, local_images):
    """Another project's image on the engine: (its tag, its image id)."""
    tar = save_tar(cmd=['/bin/victim'])
    # Docker: 'Loaded image ID: sha256:...'; Podman: 'Loaded image:
    # sha256:...'.
    loaded = engine.load(tar).strip().rsplit(' ', 1)[1]
    tag = 'victim-%s:latest' % uuid.uuid4().hex[:12]
    repo, _, name = tag.partition(':')
    engine.post('/images/%s/tag' % loaded, params={'repo': repo, 'tag': name})
    local_images.extend([tag, loaded])
    return tag, loaded


def with_member(save, name, data):
    """``save`` (a docker save tar) with one more member at its end."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(save)) as src, \
            tarfile.open(fileobj=buf, mode='w') as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member)
                        if member.isfile() else None)
        info = tarfile.TarInfo(name)
        info.size = len(data)
        dst.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def manifest_naming(save, tag):
    """``save``'s manifest, with ``tag`` as its RepoTags."""
    with tarfile.open(fileobj=io.BytesIO(save)) as tar:
        manifest = json.load(tar.extractfile('manifest.json'))
    manifest[0]['RepoTags'] = [tag]
    return json.dumps(manifest).encode()


def tag_target(engine, tag):
    reply = engine.get('/images/%s/json' % tag)
    return reply.json()['Id'] if reply.status_code == 200 else None


def hijacking_archive(victim_tag):
    """A docker save archive whose second, non-canonical manifest names
    another image's tag."""
    save = save_tar(cmd=['/bin/evil'])
    return save, with_member(save, 'x/../manifest.json',
                             manifest_naming(save, victim_tag))


def test_the_engine_reads_a_non_canonical_manifest(engine, victim,
                                                   local_images):
    # What the loader guards against: loaded as it is, the archive moves
    # the victim's tag to the attacker's image.
    tag, victim_id = victim
    save, evil = hijacking_archive(tag)
    local_images.append(digest_of(save))
    engine.load(evil)
    if engine.kind == 'podman':
        # Podman (4.3) reads the canonical manifest.json only: the tag
        # stays where it was. The loader's check holds all the same.
        assert tag_target(engine, tag) == victim_id
        return
    local_images.append(engine_id_of(engine, save))
    assert tag_target(engine, tag) == engine_id_of(engine, save)
    repo, _, name = tag.partition(':')
    engine.post('/images/%s/tag' % victim_id,
                params={'repo': repo, 'tag': name})


def test_a_second_manifest_cannot_retag_another_image(
        gdriver, glance, ctx, engine, instances, victim, local_images):
    tag, victim_id = victim
    save, evil = hijacking_archive(tag)
    image = glance.create_image('evil:1', evil)
    local_images.extend([local_ref(image['id']), digest_of(save)])
    with pytest.raises(exception.ImageUnacceptable,
                       match='not a canonical path'):
        boot(gdriver, ctx, instances(), image['id'])
    assert tag_target(engine, tag) == victim_id
    assert not engine_has(engine, local_ref(image['id']))
    assert engine_id_of(engine, save) is None


def test_names_the_engine_applied_anyway_are_put_back(
        gdriver, glance, ctx, engine, instances, victim, local_images,
        monkeypatch):
    # Should the rewrite ever miss a name, the check of the engine's reply
    # still catches it and restores the other image's tag.
    monkeypatch.setattr(tarstream, 'without_repo_tags', lambda m: m)
    tag, victim_id = victim
    new_tag = 'fresh-%s:latest' % uuid.uuid4().hex[:12]
    save = save_tar(cmd=['/bin/evil'])
    with tarfile.open(fileobj=io.BytesIO(save)) as tar:
        manifest = json.load(tar.extractfile('manifest.json'))
    manifest[0]['RepoTags'] = [tag, new_tag]
    archive = rewrite_member(save, 'manifest.json',
                             json.dumps(manifest).encode())
    image = glance.create_image('evil:2', archive)
    local_images.extend([local_ref(image['id']), digest_of(save), new_tag])
    with pytest.raises(exception.ImageUnacceptable,
                       match='applied the image names') as refused:
        boot(gdriver, ctx, instances(), image['id'])
    if engine.kind == 'docker26-containerd':
        # The containerd store drops an image whose only name a load
        # moves: nothing to give it back to. The name must not stay on
        # the archive's image, and the refusal says so.
        assert 'but for %s' % tag in str(refused.value)
        assert tag_target(engine, tag) is None
    else:
        assert tag_target(engine, tag) == victim_id
    assert tag_target(engine, new_tag) is None
    assert engine_id_of(engine, save) is None
    assert not engine_has(engine, local_ref(image['id']))


def rewrite_member(save, name, data):
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(save)) as src, \
            tarfile.open(fileobj=buf, mode='w') as dst:
        for member in src.getmembers():
            body = src.extractfile(member) if member.isfile() else None
            if member.name == name:
                member.size = len(data)
                body = io.BytesIO(data)
            dst.addfile(member, body)
    return buf.getvalue()


def gzip_bomb(unpacked):
    """A gzip-compressed rootfs tar of ``unpacked`` bytes of zeros."""
    buf = io.BytesIO()
    header = tarfile.TarInfo('zero')
    header.size = unpacked
    with gzip.GzipFile(fileobj=buf, mode='wb', compresslevel=9) as gz:
        gz.write(header.tobuf(tarfile.USTAR_FORMAT))
        piece = bytes(1 << 20)
        for _ in range(unpacked >> 20):
            gz.write(piece)
        gz.write(bytes(1024))
    return buf.getvalue()


def test_an_image_larger_than_the_flavor_disk_is_refused(
        gdriver, glance, ctx, engine, instances, local_images):
    bomb = gzip_bomb((1 << 30) + (64 << 20))
    image = glance.create_image('bomb:1', bomb, os_command_line='/zero')
    local_images.append(local_ref(image['id']))
    inst = instances(flavor_obj=nova_objects.flavor())
    assert inst.flavor.root_gb == 1
    with pytest.raises(exception.FlavorDiskSmallerThanImage,
                       match='more than the 1 GB root disk'):
        boot(gdriver, ctx, inst, image['id'])
    assert not engine_has(engine, local_ref(image['id']))


# -- image config fields (see the table in nova_docker/container.py) -------

def config_image(glance, local_images, labels=None, **config):
    """A Glance image whose config carries ``config`` (engine field names)
    and ``labels`` beside a label of its own; its Glance id."""
    tar = image_fx.docker_save_tar(
        None, ['/bin/sh'], labels=dict(unique_labels(), **(labels or {})),
        extra_config=config)
    image = glance.create_image('config', tar)
    local_images.extend([local_ref(image['id']), digest_of(tar)])
    return image['id']


def inspect(engine, name):
    reply = engine.get('/containers/%s/json' % name)
    return reply.json() if reply.status_code == 200 else None


def assert_no_containers(engine, inst):
    assert inspect(engine, labels.container_name(inst)) is None
    assert inspect(engine, labels.sandbox_name(inst)) is None


def test_an_images_healthcheck_is_not_run(gdriver, glance, ctx, engine,
                                          instances, local_images):
    # The engine would run the probe every 10 ms in its own processes,
    # outside the instance's CPU limit.
    image_id = config_image(glance, local_images, Healthcheck={
        'Test': ['CMD', '/bin/true'], 'Interval': 10 ** 7,
        'Timeout': 10 ** 9})
    inst = instances()
    boot(gdriver, ctx, inst, image_id)
    time.sleep(0.5)
    info = inspect(engine, labels.container_name(inst))
    assert info['State']['Running']
    assert info['Config']['Healthcheck']['Test'] == ['NONE']
    # Docker shows no Health with no probe; Podman always shows one, with
    # an empty Status when there is none ('starting' with the image's).
    assert not (info['State'].get('Health') or {}).get('Status')
    if engine.kind == 'podman':
        # Podman's own API: running the probe finds none to run.
        reply = engine.get('/v4.0.0/libpod/containers/%s/healthcheck'
                           % labels.container_name(inst))
        assert reply.status_code == 409
        assert 'no defined healthcheck' in reply.text


def test_an_image_with_a_volume_is_refused_and_leaves_nothing(
        gdriver, glance, ctx, engine, instances, local_images):
    image_id = config_image(glance, local_images,
                            Volumes={'/data': {}, '/var/lib/db': {}})
    inst = instances()
    with pytest.raises(exception.ImageUnacceptable,
                       match='VOLUME /data, /var/lib/db'):
        boot(gdriver, ctx, inst, image_id)
    assert_no_containers(engine, inst)
    # The refused image is not kept for the next boot to refuse again.
    assert not engine_has(engine, local_ref(image_id))


def signal_number(name):
    name = str(name).upper()
    if name.isdigit():
        return int(name)
    return signal.Signals[name if name.startswith('SIG') else 'SIG' + name]


def test_an_image_picks_a_valid_stop_signal(gdriver, glance, ctx, engine,
                                            instances, local_images):
    image_id = config_image(glance, local_images, StopSignal='SIGINT')
    inst = instances()
    boot(gdriver, ctx, inst, image_id)
    info = inspect(engine, labels.container_name(inst))
    # Docker shows the image's name for it, Podman its number ('2').
    assert signal_number(info['Config']['StopSignal']) == signal.SIGINT
    gdriver.power_off(inst, timeout=5)
    assert not inspect(engine, labels.container_name(inst))[
        'State']['Running']


def test_an_invalid_stop_signal_is_refused(gdriver, glance, ctx, engine,
                                           instances, local_images):
    image_id = config_image(glance, local_images, StopSignal='SIGBOGUS')
    inst = instances()
    with pytest.raises(exception.ImageUnacceptable,
                       match="StopSignal 'SIGBOGUS'"):
        boot(gdriver, ctx, inst, image_id)
    assert_no_containers(engine, inst)


def listed_names(engine, label):
    reply = engine.get('/containers/json', params={
        'all': 1, 'filters': json.dumps({'label': [label]})})
    return sorted(n.lstrip('/') for c in reply.json() for n in c['Names'])


def test_an_image_cannot_label_its_container_as_another_instance(
        gdriver, glance, ctx, engine, instances, local_images):
    victim = instances()
    boot(gdriver, ctx, victim, config_image(glance, local_images))
    image_id = config_image(glance, local_images, labels={
        labels.LABEL_INSTANCE_UUID: victim.uuid,
        labels.LABEL_SANDBOX_OF: victim.uuid,
        labels.LABEL_PROJECT_ID: victim.project_id + '-not',
        labels.LABEL_HOST: 'another-host',
        labels.LABEL_PREFIX + 'not-yet-known': 'x'})
    inst = instances()
    boot(gdriver, ctx, inst, image_id)

    applied = inspect(engine, labels.container_name(inst))['Config'][
        'Labels']
    assert applied[labels.LABEL_INSTANCE_UUID] == inst.uuid
    assert applied[labels.LABEL_SANDBOX_OF] == ''
    assert applied[labels.LABEL_HOST] == 'test-node'
    assert applied[labels.LABEL_PREFIX + 'not-yet-known'] == ''
    # Each instance listed once, no sandbox among them; the victim's
    # sandbox is the only container that says it is one.
    uuids = gdriver.list_instance_uuids()
    assert uuids.count(inst.uuid) == uuids.count(victim.uuid) == 1
    assert '' not in uuids
    assert listed_names(engine, '%s=%s' % (
        labels.LABEL_SANDBOX_OF, victim.uuid)) == [
        labels.sandbox_name(victim)]
    assert listed_names(engine, '%s=%s' % (
        labels.LABEL_INSTANCE_UUID, victim.uuid)) == [
        labels.container_name(victim)]


# -- names the engine writes verbatim --------------------------------------

INJECTED = '6.6.6.6 victim.example'


def test_the_engine_writes_names_verbatim(engine, busybox_image):
    # Why the driver checks them: a newline in a name server or a hosts
    # entry is a line of its own in the instance's files.
    if engine.kind != 'host':
        # Docker 20.10's behaviour, the reason for the driver's check (which
        # the tests below run on every engine): Docker 26 starts nothing
        # with such names (no output), Podman refuses them at create.
        pytest.skip('documents Docker 20.10 only')
    name = 'verbatim-%s' % uuid.uuid4().hex[:12]
    reply = engine.post('/containers/create', params={'name': name}, json={
        'Image': 'glance/%s:latest' % busybox_image.id,
        'Cmd': ['/bin/cat', '/etc/resolv.conf', '/etc/hosts'],
        'HostConfig': {'NetworkMode': 'none',
                       'Dns': ['10.0.0.53\nnameserver 6.6.6.6'],
                       'ExtraHosts': ['web\n%s:10.0.0.5' % INJECTED]}})
    assert reply.status_code == 201, reply.text
    try:
        engine.post('/containers/%s/start' % name)
        engine.post('/containers/%s/wait' % name)
        out = engine.logs(name)[0].decode().splitlines()
    finally:
        engine.remove_container(name)
    assert 'nameserver 6.6.6.6' in out
    assert INJECTED in out


def test_a_hostile_hostname_cannot_add_a_line(driver, engine, instances,
                                              busybox_image):
    inst = instances(hostname='web\n' + INJECTED)
    with pytest.raises(exception.InvalidInput, match='RFC 1123'):
        driver.spawn(None, inst, busybox_image, [], None, {})
    assert_no_containers(engine, inst)


# -- the engine's files on the host ----------------------------------------

GROWN = 5 * 1024 * 1024


@pytest.mark.parametrize('name', ['hosts', 'resolv.conf', 'hostname'])
def test_a_workload_cannot_grow_its_name_files_on_the_host(
        driver, engine, instances, busybox_image, name):
    # The engines keep these files on the host, outside the container's
    # layers (no flavor's disk bound counts them), and bind them
    # writable: Docker 20.10 let a workload write 20 MB into its hosts.
    # The driver's own, read-only, stand in their place.
    inst = instances(hostname='web-a')
    driver.spawn(None, inst, busybox_image, [], None, {})
    workload = labels.container_name(inst)
    before = engine.exec(workload, ['/bin/cat', '/etc/' + name])
    code, out, err = engine.exec(workload, [
        '/bin/sh', '-c', 'head -c %d /dev/zero >> /etc/%s' % (GROWN, name)])
    assert code != 0, 'the workload wrote %d bytes to /etc/%s' % (GROWN,
                                                                  name)
    assert engine.exec(workload, ['/bin/cat', '/etc/' + name]) == before
    if name == 'hostname':
        assert before[1] == b'web-a\n'


def hostile_port(dns):
    vif = ports.ovs_vif([ports.subnet('10.99.0.0/24', ips=['10.99.0.5'],
                                      gateway='10.99.0.1',
                                      dns=['10.99.0.53'])])
    # nova's model parses the address it is given; a port's is only read.
    vif['network']['subnets'][0]['dns'][0]['address'] = dns
    return vif


@pytest.mark.parametrize('dns', ['10.99.0.53\nnameserver 6.6.6.6',
                                 '10.99.0.53 options ndots:15'])
def test_a_hostile_name_server_cannot_add_a_line(driver, engine, instances,
                                                 busybox_image, dns):
    inst = instances()
    # Not started: the check comes before any port would be wired.
    with pytest.raises(exception.InvalidInput, match='not one'):
        driver.spawn(None, inst, busybox_image, [], None, {},
                     network_info=[hostile_port(dns)], power_on=False)
    assert_no_containers(engine, inst)


def test_a_port_attached_with_an_address_that_is_not_one_is_refused(
        driver, engine, instances, busybox_image):
    inst = instances()
    driver.spawn(None, inst, busybox_image, [], None, {}, network_info=[],
                 power_on=False)
    vif = ports.ovs_vif([ports.subnet('10.99.0.0/24', ips=['10.99.0.5'],
                                      gateway='10.99.0.1')])
    # nova's model parses the address it is given; a port's is only read.
    vif['network']['subnets'][0]['ips'][0]['address'] = '10.99.0.5\nx'

    with pytest.raises(exception.InvalidInput, match='not one'):
        driver.attach_interface(None, inst, busybox_image, vif)
