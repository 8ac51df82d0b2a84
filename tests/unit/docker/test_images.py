"""Image endpoints against the fake engine."""

import base64
import io
import json
import threading

import pytest

from nova_docker.docker import errors
from nova_docker.docker import LoadResult

LOADED = {'stream': 'Loaded image: busybox:latest\n'}
TAR_ERROR = {'errorDetail': {'message': 'archive/tar: invalid tar header'},
             'error': 'archive/tar: invalid tar header'}


def _lines(*objs):
    return [json.dumps(obj) + '\n' for obj in objs]


def test_load_streams_an_iterator_with_chunked_transfer(fake_engine,
                                                        client):
    fake_engine.route('POST', '/images/load', chunks=_lines(LOADED))
    parts = [bytes([n]) * 100_000 for n in range(10)]
    consumed = []

    def body():
        for part in parts:
            consumed.append(len(part))
            yield part

    assert client.load_image(body()) == LoadResult(names=('busybox:latest',))
    request = fake_engine.requests[-1]
    assert request.body == b''.join(parts)
    assert request.headers['Transfer-Encoding'] == 'chunked'
    assert request.headers['Content-Type'] == 'application/x-tar'
    assert len(consumed) == 10


def test_load_reports_the_id_of_an_image_loaded_without_a_name(
        fake_engine, client):
    # What the engine says of an archive whose manifest has no RepoTags.
    fake_engine.route('POST', '/images/load', chunks=_lines(
        {'status': 'Loading layer', 'progressDetail': {}},
        {'stream': 'Loaded image ID: sha256:abc\n'}))
    loaded = client.load_image(b'tar')
    assert loaded == LoadResult(image_ids=('sha256:abc',))
    assert loaded.names == () and loaded.renamed == {}


def test_load_reads_podmans_one_line_of_names_and_ids(fake_engine, client):
    # Podman answers with one line naming every image, an unnamed one by
    # its id.
    image_id = 'sha256:' + 'c' * 64
    fake_engine.route('POST', '/images/load', chunks=_lines(
        {'stream': 'Loaded image: %s' % image_id}))
    assert client.load_image(b'tar') == LoadResult(image_ids=(image_id,))
    fake_engine.route('POST', '/images/load', chunks=_lines(
        {'stream': 'Loaded image: docker.io/library/a:1,%s' % image_id}))
    assert client.load_image(b'tar') == LoadResult(
        image_ids=(image_id,), names=('a:1',))


def test_image_names_come_in_dockers_form_from_every_engine(fake_engine,
                                                             client):
    # Podman names an image of Docker Hub in full.
    podman = {'Id': 'sha256:' + 'd' * 64, 'RepoTags': [
        'docker.io/glance/x:latest', 'docker.io/library/busybox:1',
        'registry.example:5000/app:2']}
    fake_engine.route('GET', '/images/json', json=[podman])
    fake_engine.route('GET', '/images/glance/x:latest/json', json=podman)
    expected = ['glance/x:latest', 'busybox:1', 'registry.example:5000/app:2']
    assert client.list_images()[0]['RepoTags'] == expected
    assert client.inspect_image('glance/x:latest')['RepoTags'] == expected


def test_load_reports_the_names_it_applied_and_took_from_others(
        fake_engine, client):
    fake_engine.route('POST', '/images/load', chunks=_lines(
        {'stream': 'The image victim:x already exists, renaming the old one '
                   'with ID sha256:91228d to empty string\n'},
        {'stream': 'Loaded image: victim:x\n'},
        {'stream': 'Loaded image: new:y\n'},
        {'stream': 'Loaded image ID: sha256:abc\n'}))
    loaded = client.load_image(b'tar')
    assert loaded.names == ('victim:x', 'new:y')
    assert loaded.renamed == {'victim:x': 'sha256:91228d'}
    assert loaded.image_ids == ('sha256:abc',)
    assert loaded.last == {'stream': 'Loaded image ID: sha256:abc\n'}


def test_load_with_no_word_of_what_it_loaded_is_empty(fake_engine, client):
    fake_engine.route('POST', '/images/load', chunks=_lines({'status': 'x'}))
    loaded = client.load_image(b'tar')
    assert loaded == LoadResult()
    assert loaded.last == {'status': 'x'}


def test_load_a_list_of_chunks_is_streamed_not_form_encoded(fake_engine,
                                                            client):
    fake_engine.route('POST', '/images/load', chunks=_lines(LOADED))
    client.load_image([b'abc', b'def'])
    assert fake_engine.requests[-1].body == b'abcdef'


@pytest.mark.parametrize('data', [b'tar bytes', io.BytesIO(b'tar bytes')])
def test_load_bytes_or_file(fake_engine, client, data):
    fake_engine.route('POST', '/images/load', chunks=_lines(LOADED))
    client.load_image(data)
    assert fake_engine.requests[-1].body == b'tar bytes'


def test_load_error_line_under_200(fake_engine, client):
    # What 20.10 answers to a file that is not a tar.
    fake_engine.route('POST', '/images/load', chunks=_lines(TAR_ERROR))
    with pytest.raises(errors.StreamError) as caught:
        client.load_image(b'not a tar')
    assert caught.value.explanation == 'archive/tar: invalid tar header'
    assert 'invalid tar header' in str(caught.value)


def test_load_error_after_progress(fake_engine, client):
    fake_engine.route('POST', '/images/load', chunks=_lines(
        {'status': 'Loading layer', 'progressDetail': {}},
        {'errorDetail': {'message': 'unexpected EOF'},
         'error': 'unexpected EOF'}))
    with pytest.raises(errors.StreamError, match='unexpected EOF'):
        client.load_image(b'truncated')


def test_a_failing_body_iterator_propagates(fake_engine, client):
    # A Glance download that fails its checksum after the last chunk.
    class CorruptDownload(Exception):
        pass

    def body():
        yield b'x' * 1000
        raise CorruptDownload()

    fake_engine.route('POST', '/images/load', chunks=_lines(LOADED))
    with pytest.raises(CorruptDownload):
        client.load_image(body())


def test_pull(fake_engine, client):
    lines = [{'status': 'Pulling from library/busybox', 'id': 'latest'},
             {'status': 'Status: Downloaded newer image for busybox:1'}]
    fake_engine.route('POST', '/images/create', chunks=_lines(*lines))
    assert client.pull_image('127.0.0.1:5000/busybox', tag='1') == lines
    request = fake_engine.requests[-1]
    assert request.query == {'fromImage': ['127.0.0.1:5000/busybox'],
                             'tag': ['1']}


def test_pull_error_line_under_200(fake_engine, client):
    fake_engine.route('POST', '/images/create', chunks=_lines(
        {'status': 'Pulling from x'},
        {'errorDetail': {'message': 'unauthorized'}, 'error': 'denied'}))
    with pytest.raises(errors.StreamError) as caught:
        client.pull_image('x')
    assert caught.value.explanation == 'unauthorized'


def test_pull_of_a_missing_tag_is_not_found(fake_engine, client):
    fake_engine.route('POST', '/images/create', status=404,
                      json={'message': 'manifest unknown'})
    with pytest.raises(errors.NotFound, match='manifest unknown'):
        client.pull_image('127.0.0.1:5000/busybox', 'nope')


def _auth_header(request):
    raw = request.headers['X-Registry-Auth']
    return json.loads(base64.urlsafe_b64decode(raw))


def test_push_sends_empty_registry_auth(fake_engine, client):
    done = {'aux': {'Tag': 't', 'Digest': 'sha256:abc', 'Size': 1}}
    fake_engine.route('POST', '/images/.*/push', chunks=_lines(done))
    assert client.push_image('127.0.0.1:5000/img', 't')[-1] == done
    request = fake_engine.requests[-1]
    assert request.path == '/v1.41/images/127.0.0.1:5000/img/push'
    assert request.query == {'tag': ['t']}
    assert _auth_header(request) == {}


def test_push_sends_credentials_base64url(fake_engine, client):
    fake_engine.route('POST', '/images/.*/push', chunks=_lines({}))
    auth = {'username': 'u', 'password': '>>>???', 'serveraddress': 'r'}
    client.push_image('r/img', 't', auth=auth)
    raw = fake_engine.requests[-1].headers['X-Registry-Auth']
    assert '+' not in raw and '/' not in raw
    assert _auth_header(fake_engine.requests[-1]) == auth


def test_import_image(fake_engine, client):
    fake_engine.route('POST', '/images/create',
                      chunks=_lines({'status': 'sha256:0123'}))
    lines = client.import_image(iter([b'root', b'fs']), 'repo', 'tag',
                                changes=['CMD ["/bin/sh"]', 'ENV A=1'])
    assert lines == [{'status': 'sha256:0123'}]
    request = fake_engine.requests[-1]
    assert request.query == {'fromSrc': ['-'], 'repo': ['repo'],
                             'tag': ['tag'],
                             'changes': ['CMD ["/bin/sh"]', 'ENV A=1']}
    assert request.body == b'rootfs'
    assert request.headers['Content-Type'] == 'application/x-tar'


def test_save_missing_image_raises_before_iterating(fake_engine, client):
    fake_engine.route('GET', '/images/.*/get', status=404,
                      json={'message': 'reference does not exist'})
    with pytest.raises(errors.NotFound, match='reference does not exist'):
        client.save_image('nope:latest')


def test_save_streams_big_chunks(fake_engine, client):
    parts = [bytes([n]) * 300_000 for n in range(8)]
    fake_engine.route('GET', '/images/busybox:latest/get', chunks=parts,
                      headers={'Content-Type': 'application/x-tar'})
    chunks = list(client.save_image('busybox:latest'))
    assert b''.join(chunks) == b''.join(parts)
    assert [len(c) for c in chunks] == [1_200_000, 1_200_000]


def test_save_yields_before_the_engine_is_done(fake_engine, client):
    release = threading.Event()

    def parts():
        yield b'a' * (1 << 20)
        release.wait(10)  # the rest of the tar is not there yet
        yield b'b' * 10

    fake_engine.route('GET', '/images/busybox/get', chunks=parts())
    stream = client.save_image('busybox')
    try:
        assert next(stream) == b'a' * (1 << 20)
    finally:
        release.set()
    assert list(stream) == [b'b' * 10]


def test_save_several_images(fake_engine, client):
    fake_engine.route('GET', '/images/get', chunks=[b'tar'])
    assert b''.join(client.save_image(['a:1', 'b:2'])) == b'tar'
    assert fake_engine.requests[-1].query == {'names': ['a:1', 'b:2']}


def test_long_operations_use_the_image_timeout(fake_engine, client, spy):
    fake_engine.route('POST', '/images/.*', chunks=_lines({}))
    fake_engine.route('GET', '/images/.*/get', chunks=[b'x'])
    client.load_image(b'x')
    client.pull_image('x')
    client.push_image('x', 't')
    client.import_image(b'x', 'r', 't')
    list(client.save_image('x'))
    for path in ('/images/load', 'images/create', '/push', '/get'):
        assert spy.timeout_of(path) == (2, 10), path


def test_inspect_image_keeps_registry_and_tag_in_path(fake_engine, client):
    fake_engine.route('GET', '/images/.*/json', json={'Id': 'sha256:1'})
    assert client.inspect_image('127.0.0.1:5000/glance/x:latest') == {
        'Id': 'sha256:1'}
    assert (fake_engine.requests[-1].path
            == '/v1.41/images/127.0.0.1:5000/glance/x:latest/json')


def test_list_images(fake_engine, client):
    fake_engine.route('GET', '/images/json', json=[{'Id': 'i'}])
    assert client.list_images(filters={'reference': ['glance/*']}) == [
        {'Id': 'i'}]
    assert json.loads(fake_engine.requests[-1].query['filters'][0]) == {
        'reference': ['glance/*']}


def test_tag_image(fake_engine, client):
    fake_engine.route('POST', '/images/sha256:1/tag', status=201)
    client.tag_image('sha256:1', 'glance/x', 'latest')
    assert fake_engine.requests[-1].query == {'repo': ['glance/x'],
                                              'tag': ['latest']}


def test_remove_image(fake_engine, client):
    reply = [{'Untagged': 'x:1'}, {'Deleted': 'sha256:1'}]
    fake_engine.route('DELETE', '/images/x:1', json=reply)
    assert client.remove_image('x:1', noprune=True) == reply
    assert fake_engine.requests[-1].query == {'force': ['0'],
                                              'noprune': ['1']}


def test_remove_image_in_use_is_conflict(fake_engine, client):
    fake_engine.route('DELETE', '/images/x:1', status=409,
                      json={'message': 'image is being used'})
    with pytest.raises(errors.Conflict):
        client.remove_image('x:1')
