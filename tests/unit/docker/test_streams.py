"""Streamed replies: JSON lines, multiplexed frames, re-chunking."""

import json

import pytest

from nova_docker.docker import errors
from nova_docker.docker import streams
from tests.unit.docker.helpers import frame


def test_split_lines_joins_lines_split_across_chunks():
    chunks = [b'{"a": 1}\r\n{"b"', b': 2}\n', b'\n{"c":', b' 3}']
    assert list(streams.split_lines(chunks)) == [
        b'{"a": 1}', b'{"b": 2}', b'{"c": 3}']


def test_json_lines_over_http(fake_engine, client):
    lines = [{'status': 'one'}, {'status': 'two', 'id': 'x' * 40},
             {'stream': 'three\n'}]
    text = ''.join(json.dumps(line) + '\r\n' for line in lines)
    # Cut at odd places: mid-line, and several lines in one chunk.
    chunks = [text[:5], text[5:40], text[40:41], text[41:]]
    fake_engine.route('POST', '/images/create', chunks=chunks,
                      headers={'Content-Type': 'application/json'})
    assert client.pull_image('busybox') == lines


def test_check_line_uses_error_detail_message():
    with pytest.raises(errors.StreamError) as caught:
        streams.check_line({'errorDetail': {'message': 'detail text'},
                            'error': 'short text'}, 'POST /x')
    assert caught.value.explanation == 'detail text'
    assert caught.value.status_code == 200
    assert 'POST /x' in str(caught.value)


def test_check_line_falls_back_to_error():
    with pytest.raises(errors.StreamError) as caught:
        streams.check_line({'error': 'short text'})
    assert caught.value.explanation == 'short text'


def test_check_line_passes_ordinary_lines():
    line = {'status': 'Downloading', 'progressDetail': {}}
    assert streams.check_line(line) is line


def test_malformed_line_is_a_stream_error():
    with pytest.raises(errors.StreamError, match='Malformed'):
        streams.decode_line(b'{"status": ')


def test_stream_error_is_an_api_error():
    assert issubclass(errors.StreamError, errors.APIError)


def test_demux_keeps_order_of_stdout_and_stderr():
    data = (frame(1, b'out1\n') + frame(2, b'err1\n') + frame(1, b'out2\n'))
    assert list(streams.demux([data])) == [
        (1, b'out1\n'), (2, b'err1\n'), (1, b'out2\n')]


def test_demux_frames_split_anywhere():
    data = frame(1, b'hello ') + frame(2, b'world\n') + frame(1, b'')
    # One byte per chunk splits every header and payload.
    chunks = [data[i:i + 1] for i in range(len(data))]
    assert list(streams.demux(chunks)) == [
        (1, b'hello '), (2, b'world\n'), (1, b'')]


def test_demux_bytes_filters_streams():
    data = frame(1, b'a') + frame(2, b'b') + frame(1, b'c')
    assert streams.demux_bytes([data]) == b'abc'
    assert streams.demux_bytes([data], (streams.STDERR,)) == b'b'


def test_demux_truncated_frame():
    data = frame(1, b'complete') + frame(2, b'cut short')[:-3]
    with pytest.raises(errors.StreamError, match='ended inside a frame'):
        list(streams.demux([data]))


def test_demux_refuses_a_raw_stream():
    with pytest.raises(errors.StreamError, match='bad frame header'):
        list(streams.demux([b'hello, this is tty output\n']))


def test_rechunk_gathers_small_chunks():
    chunks = [b'x' * 300] * 10
    out = list(streams.rechunk(chunks, 1000))
    assert [len(c) for c in out] == [1200, 1200, 600]
    assert b''.join(out) == b''.join(chunks)


def test_rechunk_passes_big_chunks():
    assert list(streams.rechunk([b'y' * 5000], 1000)) == [b'y' * 5000]
    assert list(streams.rechunk([], 1000)) == []


def test_tail_bytes_bounds_what_it_holds():
    pieces = [bytes([i % 256]) * 100 for i in range(1000)]
    assert streams.tail_bytes(iter(pieces), 250) == b''.join(pieces)[-250:]
    assert streams.tail_bytes(iter([b'short']), 250) == b'short'
    assert streams.tail_bytes(iter([b'abc']), 0) == b''
