"""BlobStream: a Glance upload fed from another thread."""

import threading

from nova_docker.registry import streaming


class _Glance:
    """An upload that gathers what it is sent (or fails after ``fail_at``
    chunks), and the deletes."""

    def __init__(self, fail_at=None, gate=None):
        self.received = []
        self.deleted = []
        self.fail_at = fail_at
        self.gate = gate

    def upload(self, image_id, chunks):
        for chunk in chunks:
            if self.gate is not None:
                self.gate.wait(5)
            if len(self.received) == self.fail_at:
                raise OSError('glance went away')
            self.received.append(chunk)

    def delete(self, image_id):
        self.deleted.append(image_id)


def test_what_is_fed_reaches_glance_in_order():
    glance = _Glance()
    stream = streaming.BlobStream('img', glance.upload, glance.delete)
    pieces = [bytes([i]) * 10 for i in range(50)]
    for piece in pieces:
        stream.feed(piece)
    assert stream.close() == 'img'
    assert glance.received == pieces
    assert glance.deleted == []


def test_a_failed_glance_upload_is_deleted_and_the_feeder_goes_on():
    glance = _Glance(fail_at=3)
    stream = streaming.BlobStream('img', glance.upload, glance.delete)
    for _ in range(streaming.DEPTH * 4):
        stream.feed(b'x')
    assert stream.close() is None
    assert glance.deleted == ['img']


def test_abort_stops_the_upload_and_deletes_the_image():
    gate = threading.Event()
    glance = _Glance(gate=gate)
    stream = streaming.BlobStream('img', glance.upload, glance.delete)
    for _ in range(streaming.DEPTH):
        stream.feed(b'x')
    gate.set()
    stream.abort()
    assert glance.deleted == ['img']
    assert len(glance.received) <= streaming.DEPTH
