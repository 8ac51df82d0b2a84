"""nova_docker.archive.partial: a save stream less the held layers' data."""

import io
import json
import tarfile

import pytest

from nova_docker.archive import partial
from tests.fixtures.byte_streams import digest
from tests.fixtures.byte_streams import tar_of

EPOCH = partial.EPOCH


def v1_id(n):
    return ('%x' % n) * 64


LAYERS = [b'base-0' * 1000, b'base-1' * 333, b'top' * 77]


def classic_save(layers=LAYERS, top_created='2026-12-07T11:09:30Z',
                 created=None):
    """Docker 20.10's layout: '<v1 id>/{VERSION,json,layer.tar}' in
    lexical order, every json but the top's created at the epoch."""
    members = []
    ids = [v1_id(n + 1) for n in range(len(layers))]
    for n, (layer_id, data) in sorted(enumerate(zip(ids, layers, strict=True)),
                                      key=lambda e: e[1][0]):
        when = top_created if n == len(layers) - 1 else EPOCH
        if created is not None:
            when = created[n]
        members += [(layer_id, None), (layer_id + '/VERSION', b'1.0'),
                    (layer_id + '/json',
                     json.dumps({'id': layer_id, 'created': when}).encode()),
                    (layer_id + '/layer.tar', data)]
    members += [('c' * 64 + '.json', b'{"config": 1}'),
                ('manifest.json', json.dumps([{
                    'Layers': [i + '/layer.tar' for i in ids]}]).encode()),
                ('repositories', b'{}')]
    return tar_of(members)


def oci_save(layers=LAYERS):
    """Docker 25+'s layout: uncompressed layers as blobs named by their
    diff ids, and other blobs (config, manifest)."""
    blobs = {digest(data)[7:]: data for data in layers}
    config = b'{"rootfs": "..."}'
    blobs[digest(config)[7:]] = config
    members = [('blobs', None), ('blobs/sha256', None)]
    members += [('blobs/sha256/' + hexpart, data)
                for hexpart, data in sorted(blobs.items())]
    members += [('index.json', b'{}'), ('manifest.json', b'[]'),
                ('oci-layout', b'{}')]
    return tar_of(members)


def run(tar, held, piece=None):
    layer_filter = partial.LayerFilter(held)
    pieces = ([tar] if piece is None else
              [tar[i:i + piece] for i in range(0, len(tar), piece)])
    out = b''.join(partial.filtered(pieces, layer_filter))
    return out, layer_filter


def names(tar):
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        return [m.name for m in t]


BASE = {digest(LAYERS[0]), digest(LAYERS[1])}


@pytest.mark.parametrize('piece', [None, 1, 511, 513, 4096])
@pytest.mark.parametrize('layout', [classic_save, oci_save])
def test_the_held_layers_data_is_dropped_and_the_rest_kept(layout, piece):
    full = layout()
    out, layer_filter = run(full, BASE, piece)
    kept = names(out)
    assert set(names(full)) - set(kept) == {
        n for n in names(full) if n.endswith('layer.tar') or
        n.startswith('blobs/sha256/')} - {
        n for n in names(full) if _holds(full, n, LAYERS[2]) or
        _holds(full, n, b'{"rootfs": "..."}')}
    with tarfile.open(fileobj=io.BytesIO(out)) as t:
        tops = [t.extractfile(m).read() for m in t
                if m.isreg() and t.extractfile(m).read() == LAYERS[2]]
    assert tops == [LAYERS[2]]
    assert set(layer_filter.dropped) == BASE
    assert len(out) < len(full) - len(LAYERS[0])


def _holds(tar, name, data):
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        member = t.getmember(name)
        return member.isreg() and t.extractfile(member).read() == data


@pytest.mark.parametrize('layout', [classic_save, oci_save])
def test_nothing_held_passes_the_archive_as_it_is(layout):
    full = layout()
    with pytest.raises(partial.Mismatch):
        # Nothing to drop is no partial transfer either: the caller asks
        # for a filter only with layers to drop...
        run(full, {digest(b'not there')})
    # ...and the bytes of a filter holding nothing are the archive's own.
    layer_filter = partial.LayerFilter(frozenset())
    assert b''.join(layer_filter.feed(full)) == full
    layer_filter.finish()


def test_a_held_layer_missing_from_the_save_is_a_mismatch():
    with pytest.raises(partial.Mismatch, match='held the layers'):
        run(oci_save(), BASE | {digest(b'elsewhere')})


def test_classic_epoch_layers_that_are_not_the_held_ones_mismatch():
    # Two layers on top of the base: the middle one has the epoch time
    # too and would be dropped; its hash gives it away.
    with pytest.raises(partial.Mismatch):
        run(classic_save(LAYERS + [b'more' * 10]), BASE)


def test_classic_without_epoch_times_drops_nothing_and_mismatches():
    created = ['2026-01-01T00:00:00Z'] * 3
    with pytest.raises(partial.Mismatch):
        run(classic_save(created=created), BASE)


def test_a_layer_linked_to_another_is_a_mismatch():
    full = tar_of([
        (v1_id(1) + '/json', json.dumps({'created': EPOCH}).encode()),
        (v1_id(1) + '/layer.tar', LAYERS[0]),
        (v1_id(2) + '/json', json.dumps({'created': EPOCH}).encode()),
        (v1_id(2) + '/layer.tar', '->../%s/layer.tar' % v1_id(1)),
        (v1_id(3) + '/json', json.dumps({'created': EPOCH}).encode()),
        (v1_id(3) + '/layer.tar', LAYERS[1]),
        ('manifest.json', b'[]')])
    with pytest.raises(partial.Mismatch, match='link'):
        run(full, BASE)


def test_a_cut_stream_is_a_mismatch():
    full = oci_save()
    with pytest.raises(partial.Mismatch, match='ended inside'):
        run(full[:len(full) // 2], BASE)


def test_pax_headers_go_with_their_member():
    # Long names get a pax header in front: dropped with their member,
    # kept with a kept one.
    long_dir = 'd' * 64
    full = tar_of([
        ('blobs/sha256/' + digest(LAYERS[0])[7:], LAYERS[0]),
        ('blobs/sha256/' + digest(LAYERS[1])[7:], LAYERS[1]),
        (long_dir + '/' + 'x' * 90, b'kept'),
        ('manifest.json', b'[]')], fmt=tarfile.PAX_FORMAT)
    out, _ = run(full, BASE, piece=100)
    assert names(out) == [long_dir + '/' + 'x' * 90, 'manifest.json']


@pytest.mark.parametrize('base, image, fits', [
    (['a'], ['a', 'b'], True),
    (['a', 'b'], ['a', 'b', 'c'], True),
    ([], ['a'], False),
    (['a'], ['a'], False),
    (['a'], ['a', 'b', 'c'], False),
    (['a', 'b'], ['b', 'a', 'c'], False),
    (['a'], ['a', 'a'], False),
], ids=['one-on-one', 'one-on-two', 'no-base', 'nothing-on-top',
        'two-on-top', 'other-order', 'top-repeats-base'])
def test_only_the_base_plus_one_layer_is_filtered(base, image, fits):
    assert partial.on_top(base, image) is fits
