import threading
import time

from nova.virt import event as virtevent

from nova_docker import container
from nova_docker import events


def engine_event(action, uuid='u-1'):
    return {'Type': 'container', 'Action': action,
            'Actor': {'Attributes': {container.LABEL_INSTANCE_UUID: uuid}}}


class Collector:
    def __init__(self):
        self.events = []
        self.arrived = threading.Event()

    def __call__(self, event):
        self.events.append((event.uuid, event.transition))
        self.arrived.set()


def test_start_is_reported_at_once():
    got = Collector()
    watcher = events.EventWatcher(None, got, stop_delay=60)
    watcher.handle(engine_event('start'))
    assert got.events == [('u-1', virtevent.EVENT_LIFECYCLE_STARTED)]


def test_stop_is_reported_after_the_delay():
    got = Collector()
    watcher = events.EventWatcher(None, got, stop_delay=0.05)
    watcher.handle(engine_event('die'))
    assert got.arrived.wait(5)
    assert got.events == [('u-1', virtevent.EVENT_LIFECYCLE_STOPPED)]


def test_a_start_within_the_delay_cancels_the_stop():
    got = Collector()
    watcher = events.EventWatcher(None, got, stop_delay=0.3)
    watcher.handle(engine_event('die'))
    watcher.handle(engine_event('start'))
    watcher.handle(engine_event('die', uuid='u-2'))
    watcher.handle(engine_event('destroy', uuid='u-2'))
    # Well past the delay: no stop may have fired for either.
    time.sleep(0.6)
    assert got.events == [('u-1', virtevent.EVENT_LIFECYCLE_STARTED)]


def test_events_of_other_containers_are_ignored():
    got = Collector()
    watcher = events.EventWatcher(None, got, stop_delay=0)
    watcher.handle({'Action': 'start', 'Actor': {'Attributes': {}}})
    assert got.events == []
