"""The engine of this compute host, as libvirt's ``Host`` is its
hypervisor connection: the client, what the engine is and has, the
listing of this host's instances, the event follower, and a
:class:`~nova_docker.guest.Guest` per instance."""

import dataclasses
import time

from nova import conf as nova_conf
from nova import exception
from oslo_log import log as logging

from nova_docker import conf as docker_conf
from nova_docker.console import serial
from nova_docker import disk
from nova_docker import docker
from nova_docker.docker import errors
from nova_docker import engine_checks
from nova_docker import engine_facts
from nova_docker.engine_facts import EngineFacts
from nova_docker import events
from nova_docker import exception as docker_exception
from nova_docker import guest
from nova_docker import labels
from nova_docker import power
from nova_docker import resources
from nova_docker import sandbox_image
from nova_docker import workload_states

CONF = nova_conf.CONF
docker_conf.register_opts(CONF)
LOG = logging.getLogger(__name__)

# Seconds a sandbox may be without its workload before a start of
# nova-compute takes it for the remains of a spawn it died in: a spawn
# makes the workload well under a second after its sandbox.
ORPHAN_SANDBOX_GRACE = 60


def client_from_conf() -> 'docker.DockerClient':
    opts = CONF.docker
    tls = None
    if opts.host_url.startswith('tcp://') and opts.tls_enabled:
        try:
            tls = docker.TLSConfig(ca_file=opts.ca_file,
                                   cert_file=opts.cert_file,
                                   key_file=opts.key_file,
                                   insecure=opts.api_insecure)
        except ValueError as exc:
            raise docker_exception.InvalidEngineConfig(reason=exc) from exc
    return docker.DockerClient(opts.host_url, tls=tls,
                               connect_timeout=opts.connect_timeout,
                               read_timeout=opts.read_timeout,
                               image_timeout=opts.image_timeout)


class Host:
    """This compute host's engine.

    :param client: the engine client; by default one made from the
        ``[docker]`` options.
    :param orphan_sandbox_grace: seconds a sandbox without its workload
        is left alone at start (see :meth:`init_host`).
    :param state_cache_seconds: how long a listing of the workloads'
        states answers :meth:`power_state` (see
        :mod:`nova_docker.workload_states`); ``clock`` times it.
    """

    def __init__(self, client=None,
                 orphan_sandbox_grace: float = ORPHAN_SANDBOX_GRACE,
                 state_cache_seconds: float = (
                     workload_states.STATE_CACHE_SECONDS),
                 clock=time.monotonic):
        self.client = client or client_from_conf()
        self._orphan_grace = orphan_sandbox_grace
        self._states = workload_states.StateCache(
            self._workloads_only, labels.instance_of,
            max_age=state_cache_seconds, clock=clock)
        # The compute host, which is also its only node.
        self.name = CONF.host
        self._facts: EngineFacts | None = None
        self._events: events.EventWatcher | None = None
        self.consoles = serial.SerialConsoles(self.attach)

    # -- the engine -----------------------------------------------------

    def init_host(self, name: str) -> None:
        """Connect, read what the engine is, refuse an engine of another
        compute host, and remove the remains of spawns this service died
        in."""
        self.name = name
        url = CONF.docker.host_url
        try:
            with docker_exception.engine_boundary():
                self.client.ping()
                version, info = self.client.version(), self.client.info()
        except errors.UnsupportedVersion as exc:
            raise docker_exception.EngineUnsupported(
                url=url, reason=exc) from exc
        facts = self._read_facts(version, info)
        LOG.info('%s at %s speaks API %s', facts.product, url,
                 facts.api_version)
        for warning in engine_checks.warnings(
                info, CONF.docker, keeps_running=facts.keeps_running):
            LOG.warning(warning)
        if disk.warning(facts.storage):
            LOG.warning(disk.warning(facts.storage))
        self._check_engine_is_ours()
        self._remove_orphan_sandboxes()
        self._listen_serial_consoles()

    @property
    def facts(self) -> EngineFacts:
        """Read at start (init_host) and by the first caller before it."""
        if self._facts is None:
            with docker_exception.engine_boundary():
                self._read_facts(self.client.version(), self.client.info())
        return self._facts

    def _read_facts(self, version: dict, info: dict) -> EngineFacts:
        self._facts = engine_facts.read(self.client.api_version, version,
                                        info, local=self.engine_is_local)
        return self._facts

    @property
    def engine_is_local(self) -> bool:
        """Whether the engine runs on this host (``[docker] host_url`` a
        unix socket): what binds a host directory or wires a port into a
        container's namespace needs it."""
        return CONF.docker.host_url.startswith('unix://')

    def get_guest(self, instance) -> guest.Guest:
        return guest.Guest(self.client, instance,
                           on_change=self._states.invalidate)

    # -- serial consoles ------------------------------------------------

    def attach(self, instance_uuid: str):
        """The terminal of the instance's running workload: its serial
        console's other end (an :class:`~nova_docker.docker.attach.
        AttachedStream`)."""
        name = labels.workload_name(instance_uuid)
        with docker_exception.engine_boundary(instance_uuid):
            workload = self.client.inspect_container(name)
            # The engine would hold an attach to a stopped container
            # until it starts: the client is told now instead.
            if not workload['State'].get('Running'):
                raise docker_exception.ConsoleNeedsRunningInstance(
                    instance_id=instance_uuid)
            return self.client.attach_container(
                name, multiplexed=not workload['Config'].get('Tty'))

    def serial_console(self, instance):
        """Where nova-serialproxy reaches the instance's serial console
        (listened on again here if nova-compute restarted)."""
        this = self.get_guest(instance)
        if not this.is_running():
            raise docker_exception.ConsoleNeedsRunningInstance(
                instance_id=instance.uuid)
        port = this.serial_port()
        if port is None:
            raise docker_exception.NoSerialPort(instance_id=instance.uuid)
        self.consoles.ensure(instance.uuid, port)
        return serial.connection_info(port)

    def _listen_serial_consoles(self) -> None:
        """Listen again on the ports recorded on this host's instances,
        so that each keeps its port across restarts of nova-compute."""
        if not CONF.serial_console.enabled:
            return
        for listed in self._list(labels.host_label_filter(self.name)):
            uuid, port = labels.sandbox_of(listed), labels.serial_port(listed)
            if not (uuid and port):
                continue
            try:
                self.consoles.ensure(uuid, port)
            except exception.SocketPortInUseException as exc:
                # Its console is refused until the port is free; the
                # instance itself is fine.
                LOG.error('The serial console of instance %s cannot listen '
                          'on its port again: %s', uuid,
                          exc.format_message())

    def cleanup(self) -> None:
        """What nova-compute's stop ends: the event follower and the
        consoles (whose ports stay recorded on the instances)."""
        self.stop_events()
        self.consoles.close_all()

    def sandbox_image(self) -> str:
        """The sandbox's image: the operator's, or the one the driver
        builds for the engine's architecture."""
        if CONF.docker.sandbox_image:
            return CONF.docker.sandbox_image
        arch = self.facts.arch
        with docker_exception.engine_boundary():
            try:
                return sandbox_image.ensure_image(self.client, arch)
            except ValueError as exc:
                raise docker_exception.InvalidEngineConfig(
                    reason=exc) from exc

    def storage_opt(self, root_gb: int) -> dict | None:
        """A workload's disk bound of ``root_gb``, as the storage allows."""
        return disk.storage_opt(self.facts.storage, root_gb)

    def available_resource(self, nodename: str) -> dict:
        """What placement gets (nova's resource audit), the engine's facts
        read afresh with it."""
        with docker_exception.engine_boundary():
            info = self.client.info()
        if self._facts is not None:
            self._facts = dataclasses.replace(
                self._facts, cpus=info.get('NCPU'),
                arch=info.get('Architecture'))
        offered = resources.available_resource(info, nodename)
        offered['stats'] = engine_facts.node_stats(self.facts)
        return offered

    # -- events ---------------------------------------------------------

    def follow_events(self, emit) -> None:
        """Hand the lifecycle events of this host's instances to ``emit``
        from a thread of the watcher's own, until :meth:`stop_events`."""
        if self._events is None:
            self._events = events.EventWatcher(
                self.client, emit, CONF.docker.lifecycle_event_delay,
                read_timeout=CONF.docker.event_stream_timeout,
                host=self.name)
            self._events.start()

    def stop_events(self) -> None:
        if self._events is not None:
            self._events.stop()
            self._events = None

    # -- this host's instances ------------------------------------------

    def _list(self, filters: dict) -> list[dict]:
        with docker_exception.engine_boundary():
            return self.client.list_containers(all=True, filters=filters)

    def workloads(self, instance_uuid: str | None = None) -> list[dict]:
        """This host's workloads (or the one of ``instance_uuid``)."""
        listed = self._list(labels.instance_label_filter(instance_uuid,
                                                         host=self.name))
        # A sandbox carries the instance label too, empty.
        return [c for c in listed if labels.instance_of(c)]

    def _workloads_only(self) -> list[dict]:
        """This host's workloads, the engine leaving out the sandboxes:
        it builds and sends half the summaries. A workload made before
        its sandbox label existed is not listed, and is inspected."""
        return [c for c in self._list(labels.workload_filter(self.name))
                if labels.instance_of(c)]

    def power_state(self, instance, use_cache: bool = True) -> int:
        """The instance's power state; with ``use_cache`` (nova's
        power-state sync) from the listing of this host's workloads that
        answers every instance of a pass in one engine call, else (or if
        the listing lacks it) from its own inspect."""
        if use_cache:
            state = self._states.states().get(instance.uuid)
            if state:
                return power.from_container_state({'Status': state},
                                                  instance)
        return self.get_guest(instance).get_power_state()

    def count_workloads(self) -> int:
        """How many workloads this host has, from the same listing."""
        return len(self._states.states())

    def list_instance_uuids(self) -> list[str]:
        """Every instance with a container here, a sandbox alone too."""
        uuids = (labels.instance_of(c) or labels.sandbox_of(c)
                 for c in self._list(labels.host_label_filter(self.name)))
        return list(dict.fromkeys(uuid for uuid in uuids if uuid))

    def _check_engine_is_ours(self) -> None:
        """Refuse an engine that holds another compute host's containers
        unless [docker] shared_engine says it is meant to be shared."""
        owners = {labels.owner(c)
                  for c in self._list(labels.instance_label_filter())}
        if None in owners:
            LOG.warning('The engine holds containers of Nova instances '
                        'without a compute host label (made by an older '
                        'nova-docker): this service does not manage them')
        others = sorted(o for o in owners - {self.name, None})
        if others and not CONF.docker.shared_engine:
            raise docker_exception.EngineOfAnotherHost(
                url=CONF.docker.host_url, hosts=', '.join(others),
                host=self.name)

    def _remove_orphan_sandboxes(self) -> None:
        """Remove this host's sandboxes that have had no workload for
        longer than the grace: the remains of a spawn that nova-compute
        died in between the two creates, invisible to nova otherwise.

        At start only: nova calls init_host before the service takes any
        request, so no spawn of this process is between its creates. The
        grace keeps a sandbox whose workload is being made by another
        process of the same host name (a second service started by
        mistake, or tests sharing an engine). nova puts the interrupted
        build in ERROR itself; a younger orphan stays listed
        (list_instance_uuids) and goes with the instance's destroy.
        """
        for uuid, sandbox_id in self._orphan_sandboxes():
            LOG.warning('Removing the sandbox %s: its instance %s has had '
                        'no workload for over %d s (nova-compute stopped '
                        'while creating it)', sandbox_id[:12], uuid,
                        self._orphan_grace)
            try:
                with docker_exception.engine_boundary(uuid):
                    self.client.remove_container(sandbox_id, force=True)
            except exception.InstanceNotFound:
                pass  # gone meanwhile
            except errors.Conflict as exc:
                # Being removed already, or held: not worth a failed start.
                LOG.warning('Could not remove the sandbox of %s: %s', uuid,
                            docker_exception.reason(exc))

    def _orphan_sandboxes(self) -> list[tuple[str, str]]:
        """(instance uuid, sandbox id) of this host's sandboxes with no
        workload, older than the grace."""
        # Every container carries both labels, the one not meant empty.
        sandboxes = {labels.sandbox_of(c): c
                     for c in self._list(labels.host_label_filter(self.name))
                     if labels.sandbox_of(c)}
        # Any host's workload: a sandbox is never taken from one.
        workloads = {labels.instance_of(c)
                     for c in self._list(labels.instance_label_filter())}
        now = time.time()
        # 'Created' of a listing: whole seconds since the epoch.
        return [(uuid, sandboxes[uuid]['Id'])
                for uuid in sorted(set(sandboxes) - workloads)
                if now - sandboxes[uuid].get('Created', now) >=
                self._orphan_grace]
