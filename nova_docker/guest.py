"""One instance's containers: its workload and the sandbox it joins.

As libvirt's ``Guest`` is one domain's verbs, a :class:`Guest` is what
the driver may do to one instance on the engine; every call goes through
the one boundary where engine errors become Nova's (a missing workload
is InstanceNotFound, a missing engine EngineUnavailable), applied here
once rather than at each call of the driver.
"""

from collections.abc import Callable
import contextlib

from nova import exception
from oslo_log import log as logging

from nova_docker import container
from nova_docker.docker import errors
from nova_docker import exception as docker_exception
from nova_docker import labels
from nova_docker.network import privileged
from nova_docker import power

LOG = logging.getLogger(__name__)

def _deploy_failure(what: str) -> Callable[[errors.DockerError],
                                          Exception]:
    def api_error(exc: errors.DockerError) -> Exception:
        return exception.InstanceDeployFailure(
            reason='%s: %s' % (what, docker_exception.reason(exc)))
    return api_error


class Guest:
    """An instance's workload (``nova-<uuid>``) and its sandbox
    (``nova-<uuid>-sandbox``), the container holding its network
    namespace, host name and name resolution across workload restarts.
    """

    def __init__(self, client, instance,
                 on_change: Callable[[], None] | None = None):
        """:param on_change: called after every call that changes the
            instance's containers (the host's listing of states is old
            then), whether it succeeded or not."""
        self._client = client
        self.instance = instance
        self.name = labels.container_name(instance)
        self.sandbox = labels.sandbox_name(instance)
        self._on_change = on_change or (lambda: None)

    def _engine(self, api_error=None):
        return docker_exception.engine_boundary(self.instance.uuid,
                                                api_error)

    @contextlib.contextmanager
    def _changing(self, api_error=None):
        """The engine boundary of a call that changes the containers."""
        try:
            with self._engine(api_error):
                yield
        finally:
            self._on_change()

    # -- state ----------------------------------------------------------

    def inspect(self) -> dict:
        with self._engine():
            return self._client.inspect_container(self.name)

    def get_power_state(self) -> int:
        return power.from_container_state(self.inspect()['State'],
                                          self.instance)

    def is_running(self) -> bool:
        return bool(self.inspect()['State'].get('Running'))

    def is_paused(self) -> bool:
        return bool(self.inspect()['State'].get('Paused'))

    def serial_port(self) -> int | None:
        """The serial console port recorded on the sandbox; None: there
        is none (made with [serial_console] disabled, or before
        sandboxes)."""
        try:
            with self._engine():
                config = self._client.inspect_container(self.sandbox)[
                    'Config']
        except exception.InstanceNotFound:
            return None
        return labels.serial_port({'Labels': config.get('Labels')})

    def sandbox_netns(self) -> str | None:
        """The path of the running sandbox's network namespace; None if
        it is stopped or there is none (a workload made before
        sandboxes)."""
        try:
            with self._engine():
                state = self._client.inspect_container(self.sandbox)['State']
        except exception.InstanceNotFound:
            return None
        if not state.get('Running'):
            return None
        return privileged.namespace_path(state['Pid'])

    # -- making and removing ------------------------------------------

    def create(self, sandbox_body: dict | None, body: dict) -> None:
        """The sandbox (None: it was made ahead, see start_sandbox), then
        the workload that joins it."""
        if sandbox_body is not None:
            self._create(self.sandbox, sandbox_body)
        self._create(self.name, body)

    def _create(self, name: str, body: dict) -> None:
        with self._changing(_deploy_failure(
                'the engine refused the container %s' % name)):
            self._client.create_container(body, name=name)
        LOG.info('Created container %s', name, instance=self.instance)

    def start_sandbox(self, sandbox_body: dict) -> None:
        """The sandbox made and started ahead of its workload (which
        :meth:`create` then makes with ``sandbox_body`` None, and
        :meth:`start` finds it running)."""
        self._create(self.sandbox, sandbox_body)
        self._sandbox_running()

    def remove(self) -> None:
        """Remove the workload and its sandbox; gone (or going) is fine."""
        for name in (self.name, self.sandbox):
            try:
                with self._changing():
                    self._client.remove_container(name, force=True)
            except exception.InstanceNotFound:
                pass
            except errors.Conflict as exc:
                if 'already in progress' not in (exc.explanation or ''):
                    raise

    # -- power ----------------------------------------------------------

    def start(self, wire: Callable[[str], None],
              before: Callable[[], None] | None = None) -> None:
        """The one way an instance starts: its sandbox runs and
        ``wire(netns)`` wires its ports into the sandbox's namespace,
        ``before()`` readies what the workload's first command must find
        (its volumes), then the workload joins it, so the workload never
        runs without its network or its disks."""
        if container.joins_a_sandbox(self.inspect()):
            wire(self._sandbox_running())
        if before is not None:
            before()
        with self._changing(_deploy_failure('the container did not start')):
            self._client.start_container(self.name)

    def _sandbox_running(self) -> str:
        with self._changing():
            state = self._client.inspect_container(self.sandbox)['State']
            if not state.get('Running'):
                self._client.start_container(self.sandbox)
                state = self._client.inspect_container(
                    self.sandbox)['State']
        return privileged.namespace_path(state['Pid'])

    def stop(self, timeout: int) -> None:
        """SIGTERM (or the image's stop signal) to the workload, SIGKILL
        after ``timeout`` seconds; the engine waits and escalates."""
        with self._changing():
            self._client.stop_container(self.name, timeout=timeout)

    def kill(self) -> None:
        try:
            with self._changing():
                self._client.kill_container(self.name)
        except errors.Conflict:
            pass  # not running: nothing to kill

    def stop_sandbox(self) -> None:
        """Stop the sandbox (its stop signal is SIGKILL, so no timeout is
        waited out): the kernel tears its namespace and veths down."""
        try:
            with self._changing():
                self._client.stop_container(self.sandbox, timeout=0)
        except exception.InstanceNotFound:
            pass  # none: a container made before sandboxes

    def pause(self) -> None:
        with self._changing():
            self._client.pause_container(self.name)

    def thaw(self) -> None:
        """Unfreeze a paused workload; one that is not frozen is left as
        it is (the engine would answer 500 "is not paused")."""
        if self.is_paused():
            with self._changing():
                self._client.unpause_container(self.name)

    def disk_used(self) -> int:
        """Bytes of the workload's root file system: its image and what
        it wrote (``SizeRootFs``)."""
        with self._engine():
            info = self._client.inspect_container(self.name, size=True)
        return int(info.get('SizeRootFs') or 0)

    def stats(self) -> dict:
        """The workload's counters, as the engine's stats call reads
        them (zeros while it is stopped)."""
        with self._engine():
            return self._client.container_stats(self.name)

    def update(self, limits: dict) -> None:
        """Change the workload's resource limits (``Memory``,
        ``CpuShares``...: the engine's update fields); a stopped workload
        gets them at its next start."""
        with self._engine(_deploy_failure(
                'the engine refused the new limits of %s' % self.name)):
            self._client.update_container(self.name, limits)
        LOG.info('Limits of %s are now %s', self.name, limits,
                 instance=self.instance)

    # -- output ---------------------------------------------------------

    def logs(self, max_bytes: int) -> bytes:
        """At most the last ``max_bytes`` of the workload's output."""
        with self._engine():
            return self._client.container_logs(self.name, tail=max_bytes,
                                               max_bytes=max_bytes)
