import pytest
from nova.compute import power_state

from nova_docker import power
from tests.fixtures import nova_objects


@pytest.mark.parametrize('status, expected', [
    ('running', power_state.RUNNING),
    ('paused', power_state.PAUSED),
    ('created', power_state.SHUTDOWN),
    ('exited', power_state.SHUTDOWN),
    ('dead', power_state.CRASHED),
    ('bogus', power_state.NOSTATE),
])
def test_status_maps_to_power_state(status, expected):
    assert power.from_container_state(
        {'Status': status}, nova_objects.instance()) == expected


def test_paused_container_of_a_suspended_instance_is_suspended():
    for fields in ({'vm_state': 'suspended'},
                   {'vm_state': 'active', 'task_state': 'suspending'}):
        inst = nova_objects.instance(**fields)
        assert power.from_container_state(
            {'Status': 'paused'}, inst) == power_state.SUSPENDED


def test_old_engines_without_status():
    inst = nova_objects.instance()
    assert power.from_container_state(
        {'Running': True, 'Paused': True}, inst) == power_state.PAUSED
    assert power.from_container_state(
        {'Running': False}, inst) == power_state.SHUTDOWN
