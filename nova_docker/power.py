"""Container state -> Nova power state (pure)."""

from nova.compute import power_state
from nova.compute import task_states
from nova.compute import vm_states

# Docker's State.Status values.
_STATUS_TO_POWER_STATE = {
    'running': power_state.RUNNING,
    'restarting': power_state.RUNNING,
    'paused': power_state.PAUSED,
    'created': power_state.SHUTDOWN,
    'exited': power_state.SHUTDOWN,
    'removing': power_state.SHUTDOWN,
    'dead': power_state.CRASHED,
}


def is_suspended(instance) -> bool:
    """Whether Nova holds ``instance`` suspended (or is suspending it).

    Docker has one frozen state, paused, for both Nova's pause and suspend
    (see DockerDriver.suspend); Nova's own record tells the two apart, so
    no state of ours has to survive a restart.
    """
    return (instance.vm_state == vm_states.SUSPENDED or
            instance.task_state == task_states.SUSPENDING)


def from_container_state(state: dict, instance) -> int:
    """Nova power state of a container's ``State`` (from inspect)."""
    status = state.get('Status')
    if status is None:
        # Engines before API 1.21 have no Status; derive it.
        status = ('paused' if state.get('Paused') else
                  'running' if state.get('Running') else 'exited')
    result = _STATUS_TO_POWER_STATE.get(status, power_state.NOSTATE)
    if result == power_state.PAUSED and is_suspended(instance):
        return power_state.SUSPENDED
    return result
