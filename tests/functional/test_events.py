"""Lifecycle events from the real engine's event stream."""

import queue

import pytest
from nova.virt import event as virtevent

from tests.fixtures.lifecycle import Events
from tests.fixtures import nova_objects

# Runs once per engine (tests/fixtures/engines.py).
pytestmark = pytest.mark.every_engine

STARTED = virtevent.EVENT_LIFECYCLE_STARTED
STOPPED = virtevent.EVENT_LIFECYCLE_STOPPED


def listen(driver, delay):
    from nova_docker import driver as driver_mod
    driver_mod.CONF.set_override('lifecycle_event_delay', delay, 'docker')
    got = Events()
    driver.register_event_listener(got)
    return got


def test_exit_and_reboot_seen_from_the_event_stream(driver, instances,
                                                    busybox_image):
    from nova_docker import driver as driver_mod
    got = listen(driver, delay=1.0)
    try:
        exits = instances()
        rebooted = instances()
        driver.spawn(None, exits, nova_objects.image_meta(
            image_id=busybox_image.id, os_command_line='/bin/sleep 1'),
            [], None, {})
        driver.spawn(None, rebooted, busybox_image, [], None, {})
        assert got.next_for(exits.uuid) == STARTED
        assert got.next_for(exits.uuid) == STOPPED

        assert got.next_for(rebooted.uuid) == STARTED
        driver.reboot(None, rebooted, None, 'HARD')
        # The stop of the reboot is dropped: only the new start arrives,
        # and nothing after it while the container runs.
        assert got.next_for(rebooted.uuid) == STARTED
        try:
            extra = got.next_for(rebooted.uuid, timeout=2)
        except queue.Empty:
            extra = None
        assert extra is None
    finally:
        driver.cleanup_host('test-node')
        driver_mod.CONF.clear_override('lifecycle_event_delay', 'docker')
