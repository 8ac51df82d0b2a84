"""Large ``docker save`` archives written straight to disk.

:func:`tests.fixtures.images.docker_save_tar` builds an archive in
memory, which is fine for tests but not for a 2 GB benchmark image:
:func:`write` streams one layer of random data to a file instead, with
the same layout (``manifest.json``, the config, ``<layer>/layer.tar``).
"""

import gzip
import hashlib
import io
import json
import os
import tarfile

from tests.fixtures import images as image_fx

MIB = 1024 * 1024
# tarfile copies member data in pieces of this size (its default, 16 KiB,
# makes writing 2 GB take a minute).
COPY_BUFFER = 4 * MIB


class _RandomReader:
    """A file of ``size`` random bytes for tarfile to copy from."""

    def __init__(self, size):
        self._left = size

    def read(self, n=-1):
        n = self._left if n < 0 else min(n, self._left)
        self._left -= n
        return os.urandom(n)


def _open_tar(path):
    return tarfile.open(path, 'w', format=tarfile.USTAR_FORMAT,
                        copybufsize=COPY_BUFFER)


def _add(tar, name, size, fileobj=None, type_=tarfile.REGTYPE):
    info = tarfile.TarInfo(name)
    info.type = type_
    info.size = size
    info.mode = 0o755 if type_ == tarfile.DIRTYPE else 0o644
    info.mtime = image_fx.EPOCH
    tar.addfile(info, fileobj)


def _add_bytes(tar, name, data):
    _add(tar, name, len(data), io.BytesIO(data))


def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        while chunk := f.read(COPY_BUFFER):
            digest.update(chunk)
    return digest.hexdigest()


def write(path, mb, labels=None):
    """Write a docker save archive whose one layer holds ``data.bin`` of
    ``mb`` MiB of random data to ``path``; return its engine image id
    (``sha256:...``). A layer file is made beside ``path`` and removed."""
    layer_path = path + '.layer'
    try:
        with _open_tar(layer_path) as layer:
            _add(layer, 'data.bin', mb * MIB, _RandomReader(mb * MIB))
        diff_id = 'sha256:' + _sha256_file(layer_path)
        config = image_fx.image_config(['/bin/sh'], [diff_id],
                                       labels=labels)
        config_bytes = json.dumps(config, sort_keys=True,
                                  separators=(',', ':')).encode()
        config_hex = image_fx.sha256_hex(config_bytes)
        layer_id = image_fx.sha256_hex(('layer:' + config_hex).encode())
        manifest = [{'Config': config_hex + '.json', 'RepoTags': None,
                     'Layers': [layer_id + '/layer.tar']}]
        with _open_tar(path) as tar, open(layer_path, 'rb') as data:
            _add(tar, layer_id + '/', 0, type_=tarfile.DIRTYPE)
            _add_bytes(tar, layer_id + '/VERSION', b'1.0')
            _add_bytes(tar, layer_id + '/json', json.dumps(
                {'id': layer_id, 'os': 'linux'}).encode())
            _add(tar, layer_id + '/layer.tar', os.path.getsize(layer_path),
                 data)
            _add_bytes(tar, config_hex + '.json', config_bytes)
            _add_bytes(tar, 'manifest.json', json.dumps(manifest).encode())
    finally:
        if os.path.exists(layer_path):
            os.unlink(layer_path)
    return 'sha256:' + config_hex


class _HalfRandomReader(_RandomReader):
    """Data that gzip halves, about as real layers shrink: each piece half
    random bytes, half a repeated line."""

    def read(self, n=-1):
        n = self._left if n < 0 else min(n, self._left)
        self._left -= n
        line = b'nova-docker benchmark data, compressible half\n'
        half = n // 2
        return os.urandom(half) + (line * (n // len(line) + 1))[:n - half]


def _gzip_file(src, dst):
    with open(src, 'rb') as plain, open(dst, 'wb') as raw, \
            gzip.GzipFile(fileobj=raw, mode='wb', compresslevel=1,
                          mtime=0) as packed:
        while chunk := plain.read(COPY_BUFFER):
            packed.write(chunk)


def write_gzip_layer(path, mb, labels=None):
    """Write what a containerd-store ``docker save`` writes (an OCI
    layout, ``blobs/sha256/<hex>``, with ``manifest.json``) for one gzip
    layer holding ``data.bin`` of ``mb`` MiB (half of it compressible) to
    ``path``; return the engine image id of its config (``sha256:...``).
    """
    layer_path, packed_path = path + '.layer', path + '.layer.gz'
    try:
        with _open_tar(layer_path) as layer:
            _add(layer, 'data.bin', mb * MIB, _HalfRandomReader(mb * MIB))
        diff_id = 'sha256:' + _sha256_file(layer_path)
        _gzip_file(layer_path, packed_path)
        os.unlink(layer_path)
        layer_hex = _sha256_file(packed_path)
        layer_size = os.path.getsize(packed_path)
        config = image_fx.image_config(['/bin/sh'], [diff_id],
                                       labels=labels)
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_hex = image_fx.sha256_hex(config_bytes)
        manifest = json.dumps({
            'schemaVersion': 2, 'mediaType': image_fx.OCI_MANIFEST,
            'config': {'mediaType': image_fx.OCI_CONFIG,
                       'digest': 'sha256:' + config_hex,
                       'size': len(config_bytes)},
            'layers': [{'mediaType': image_fx.OCI_LAYER['gzip'],
                        'digest': 'sha256:' + layer_hex,
                        'size': layer_size}]}).encode()
        index = {'schemaVersion': 2, 'mediaType': image_fx.OCI_INDEX,
                 'manifests': [image_fx.descriptor(image_fx.OCI_MANIFEST,
                                                   manifest)]}
        blobs = {config_hex: config_bytes,
                 image_fx.sha256_hex(manifest): manifest}
        with _open_tar(path) as tar, open(packed_path, 'rb') as data:
            _add(tar, 'blobs/', 0, type_=tarfile.DIRTYPE)
            _add(tar, 'blobs/sha256/', 0, type_=tarfile.DIRTYPE)
            _add(tar, 'blobs/sha256/' + layer_hex, layer_size, data)
            for hexpart, blob in sorted(blobs.items()):
                _add_bytes(tar, 'blobs/sha256/' + hexpart, blob)
            _add_bytes(tar, 'index.json', json.dumps(index).encode())
            _add_bytes(tar, 'manifest.json', json.dumps([{
                'Config': 'blobs/sha256/' + config_hex, 'RepoTags': None,
                'Layers': ['blobs/sha256/' + layer_hex]}]).encode())
            _add_bytes(tar, 'oci-layout', b'{"imageLayoutVersion":"1.0.0"}')
    finally:
        for leftover in (layer_path, packed_path):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return 'sha256:' + config_hex
