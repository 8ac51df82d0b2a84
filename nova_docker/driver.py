"""DockerDriver: every Nova instance of this host is a Docker container
(and its sandbox).

The driver translates ComputeDriver calls into calls of the modules that
own each concern: ``container`` (instance -> create body), ``images``
(Glance <-> engine), ``host`` (resources), ``power`` (states), ``events``
(engine events -> lifecycle events), ``network`` (Neutron ports) and the
engine client. It keeps no state of its own: the containers named
``nova-<uuid>`` (the workload) and ``nova-<uuid>-sandbox`` (its network
namespace) and their labels are the whole record.
"""

import contextlib
import time

from nova import conf as nova_conf
from nova import exception
from nova.virt import driver
from nova.virt import hardware
from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_utils import excutils
import os_resource_classes as orc

from nova_docker import conf as docker_conf
from nova_docker import container
from nova_docker import disk
from nova_docker import docker
from nova_docker.docker import errors
from nova_docker import engine_checks
from nova_docker import events
from nova_docker import exception as docker_exception
from nova_docker import host
from nova_docker import images
from nova_docker import labels
from nova_docker.network import plan as network_plan
from nova_docker.network import privileged
from nova_docker.network import wiring
from nova_docker import power
from nova_docker import sandbox_image

CONF = nova_conf.CONF
docker_conf.register_opts(CONF)
LOG = logging.getLogger(__name__)

# get_console_output returns at most this much of the end of the log.
CONSOLE_LOG_MAX_BYTES = 100 * 1024
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


def _next_index(inside: dict[str, str]) -> int:
    """The number of the next ``eth<N>`` after those in a namespace."""
    taken = [int(name[len(network_plan.IFNAME_PREFIX):]) for name in inside
             if name.startswith(network_plan.IFNAME_PREFIX) and
             name[len(network_plan.IFNAME_PREFIX):].isdigit()]
    return max(taken) + 1 if taken else 0


def _built_plan(network_info, hostname: str,
                first: int = 0) -> network_plan.NetworkPlan:
    """network_plan.build, with an address that is not one refused as the
    tenant's input it is (nova's os-vif conversion parses every address
    of the ports and raises a bare ValueError)."""
    try:
        return network_plan.build(network_info, hostname, first)
    except ValueError as exc:
        raise exception.InvalidInput(
            reason='a port of the instance holds an address that is not '
                   'one (%s): fix the port or its subnet in Neutron'
                   % exc) from exc


def _reason(exc: errors.DockerError) -> str:
    """The engine's own words when it answered, else what went wrong."""
    return exc.explanation or str(exc)


class DockerDriver(driver.ComputeDriver):
    """Nova compute driver backed by a Docker Engine."""

    capabilities = dict(
        driver.ComputeDriver.capabilities,
        # Glance images with disk_format raw and container_format docker.
        supports_image_type_raw=True,
        # Loaded Glance images stay on the engine until manage_image_cache
        # finds them unused.
        has_imagecache=True,
        # Images are verified by nova's image API against the instance's
        # trusted_certs (see ImageLoader.ensure_local), as for libvirt.
        supports_trusted_certs=True,
        # Ports are wired into (and taken out of) a running instance's
        # namespace.
        supports_attach_interface=True,
    )

    def __init__(self, virtapi, client=None,
                 orphan_sandbox_grace=ORPHAN_SANDBOX_GRACE):
        super().__init__(virtapi)
        self._orphan_grace = orphan_sandbox_grace
        self._client = client or client_from_conf()
        self._images = images.ImageLoader(self._client)
        self._snapshots = images.Snapshotter(self._client)
        self._image_cache = images.ImageCache(self._client)
        # The compute host, which is also its only node.
        self._host = CONF.host
        self._events = None
        # The engine's CPU count bounds a container's CPU cap; read with
        # /info at start and at every resource audit, None until then.
        self._host_cpus = None
        # The engine's architecture picks the sandbox's pause program.
        self._arch = None
        # What the engine's storage can bound (nova_docker.disk); read
        # with /info at start, None until then.
        self._storage = None
        self._ports = wiring.PortWiring()

    # -- host -------------------------------------------------------------

    def init_host(self, host):
        self._host = host
        url = CONF.docker.host_url
        try:
            with docker_exception.engine_boundary():
                self._client.ping()
                version = self._client.api_version
                info = self._client.info()
        except errors.UnsupportedVersion as exc:
            raise docker_exception.EngineUnsupported(
                url=url, reason=exc) from exc
        LOG.info('Docker Engine at %s speaks API %s', url, version)
        self._host_cpus = info.get('NCPU')
        self._arch = info.get('Architecture')
        for warning in engine_checks.warnings(info, CONF.docker):
            LOG.warning(warning)
        self._read_storage(info)
        self._check_engine_is_ours()
        self._remove_orphan_sandboxes()

    def _read_storage(self, info: dict) -> disk.StorageFacts:
        self._storage = host.storage_facts(
            info, local=CONF.docker.host_url.startswith('unix://'))
        warning = disk.warning(self._storage)
        if warning:
            LOG.warning(warning)
        return self._storage

    def _storage_opt(self, flavor) -> dict | None:
        """The workload's disk bound: the flavor's root disk, or for a
        flavor without one the bound its images get."""
        if self._storage is None:
            with docker_exception.engine_boundary():
                self._read_storage(self._client.info())
        return disk.storage_opt(self._storage, flavor.root_gb or
                                CONF.docker.max_image_size_gb)

    def _check_engine_is_ours(self) -> None:
        """Refuse an engine that holds another compute host's containers
        unless [docker] shared_engine says it is meant to be shared."""
        with docker_exception.engine_boundary():
            listed = self._client.list_containers(
                all=True, filters=labels.instance_label_filter())
        owners = {labels.owner(c) for c in listed}
        if None in owners:
            LOG.warning('The engine holds containers of Nova instances '
                        'without a compute host label (made by an older '
                        'nova-docker): this service does not manage them')
        others = sorted(o for o in owners - {self._host, None})
        if others and not CONF.docker.shared_engine:
            raise docker_exception.EngineOfAnotherHost(
                url=CONF.docker.host_url, hosts=', '.join(others),
                host=self._host)

    def register_event_listener(self, callback):
        super().register_event_listener(callback)
        # Nova registers its listener after init_host; follow the engine's
        # events only when someone listens.
        if callback is not None and self._events is None:
            self._events = events.EventWatcher(
                self._client, self.emit_event,
                CONF.docker.lifecycle_event_delay,
                read_timeout=CONF.docker.event_stream_timeout,
                host=self._host)
            self._events.start()

    def cleanup_host(self, host):
        if self._events is not None:
            self._events.stop()
            self._events = None

    def get_available_nodes(self, refresh=False):
        return [self._host]

    def get_available_resource(self, nodename):
        with docker_exception.engine_boundary():
            info = self._client.info()
        self._host_cpus = info.get('NCPU')
        return host.available_resource(info, nodename)

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        resources = self.get_available_resource(nodename)
        ratios = self._get_allocation_ratios(
            provider_tree.data(nodename).inventory)
        reserved = {
            orc.VCPU: CONF.reserved_host_cpus,
            orc.MEMORY_MB: CONF.reserved_host_memory_mb,
            orc.DISK_GB: self._get_reserved_host_disk_gb_from_config(),
        }
        provider_tree.update_inventory(
            nodename, host.inventory(resources, ratios, reserved))

    def get_host_ip_addr(self):
        return CONF.my_ip

    def get_host_uptime(self):
        out, _err = processutils.execute('env', 'LANG=C', 'uptime')
        return out

    def get_host_cpu_stats(self):
        return host.cpu_stats()

    # -- listing ----------------------------------------------------------

    def _our_containers(self, instance_uuid=None) -> list[dict]:
        with docker_exception.engine_boundary():
            listed = self._client.list_containers(
                all=True,
                filters=labels.instance_label_filter(instance_uuid,
                                                        host=self._host))
        # A sandbox carries the instance label too, empty.
        return [c for c in listed if labels.instance_of(c)]

    def list_instances(self):
        return [c['Labels'].get(labels.LABEL_INSTANCE_NAME, '')
                for c in self._our_containers()]

    def _this_hosts_containers(self) -> list[dict]:
        """Workloads and sandboxes of this host, in one call."""
        with docker_exception.engine_boundary():
            return self._client.list_containers(
                all=True, filters=labels.host_label_filter(self._host))

    def list_instance_uuids(self):
        """Every instance with a container here, a sandbox alone too (its
        workload was never made): nova's clean-up of instances deleted
        while still on the hypervisor ([DEFAULT]
        running_deleted_instance_action) and of evacuated ones then
        destroys it."""
        uuids = (labels.instance_of(c) or labels.sandbox_of(c)
                 for c in self._this_hosts_containers())
        return list(dict.fromkeys(uuid for uuid in uuids if uuid))

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
                    self._client.remove_container(sandbox_id, force=True)
            except exception.InstanceNotFound:
                pass  # gone meanwhile
            except errors.Conflict as exc:
                # Being removed already, or held: not worth a failed start.
                LOG.warning('Could not remove the sandbox of %s: %s', uuid,
                            _reason(exc))

    def _orphan_sandboxes(self) -> list[tuple[str, str]]:
        """(instance uuid, sandbox id) of this host's sandboxes with no
        workload, older than the grace."""
        # Every container carries both labels, the one not meant empty.
        sandboxes = {labels.sandbox_of(c): c
                     for c in self._this_hosts_containers()
                     if labels.sandbox_of(c)}
        with docker_exception.engine_boundary():
            # Any host's workload: a sandbox is never taken from one.
            workloads = {labels.instance_of(c)
                         for c in self._client.list_containers(
                             all=True,
                             filters=labels.instance_label_filter())}
        now = time.time()
        # 'Created' of a listing: whole seconds since the epoch.
        return [(uuid, sandboxes[uuid]['Id'])
                for uuid in sorted(set(sandboxes) - workloads)
                if now - sandboxes[uuid].get('Created', now) >=
                self._orphan_grace]

    def instance_exists(self, instance):
        return bool(self._our_containers(instance.uuid))

    def get_info(self, instance, use_cache=True):
        state = self._inspect(instance)['State']
        return hardware.InstanceInfo(
            state=power.from_container_state(state, instance))

    def _inspect(self, instance) -> dict:
        return self._call(instance, self._client.inspect_container)

    # -- lifecycle --------------------------------------------------------

    def spawn(self, context, instance, image_meta, injected_files,
              admin_password, allocations, network_info=None,
              block_device_info=None, power_on=True, accel_info=None):
        images.check_acceptable(image_meta)
        container.command_override(image_meta)
        plan = self._plan(instance, network_info)
        image_ref = self._images.ensure_local(
            context, image_meta, root_gb=instance.flavor.root_gb,
            trusted_certs=instance.trusted_certs)
        try:
            self._create(instance, image_meta, image_ref, plan)
            if power_on:
                self._start(instance, network_info,
                            events=self._neutron_events(network_info))
        except Exception as exc:
            with excutils.save_and_reraise_exception():
                self._remove_after_failed_spawn(instance, network_info, exc)

    def _plan(self, instance, network_info) -> network_plan.NetworkPlan:
        """What the instance's ports become; refused before anything is
        made if one of them cannot be wired here."""
        self._check_ports(network_info)
        plan = _built_plan(network_info or [], container.hostname(instance))
        # Names and name servers the engine would write verbatim.
        container.check_resolution(plan.dns_servers, plan.hosts)
        return plan

    @staticmethod
    def _check_ports(network_info) -> None:
        network_plan.check_supported(network_info)
        if network_info and not CONF.docker.host_url.startswith('unix://'):
            raise docker_exception.PortsNeedLocalEngine(
                url=CONF.docker.host_url)

    def _create(self, instance, image_meta, image_ref: str,
                plan: network_plan.NetworkPlan) -> None:
        """The sandbox, then the workload that joins its namespace; both
        bodies first, so a refused image makes neither."""
        sandbox = labels.sandbox_name(instance)
        sandbox_body = container.sandbox_body(
            instance, self._sandbox_image(), plan.dns_servers, plan.hosts,
            host=self._host, node=self._host)
        body = self._workload_body(instance, image_meta, image_ref, sandbox)
        self._create_container(instance, sandbox, sandbox_body)
        self._create_container(instance, labels.container_name(
            instance), body)

    def _workload_body(self, instance, image_meta, image_ref: str,
                       sandbox: str) -> dict:
        try:
            with docker_exception.engine_boundary():
                config = self._client.inspect_image(image_ref).get('Config')
        except errors.DockerError as exc:
            raise exception.InstanceDeployFailure(
                reason='the engine could not show the image %s: %s'
                       % (image_ref, _reason(exc))) from exc
        try:
            return container.create_body(
                instance, image_meta, image_ref, CONF.docker.pids_limit,
                image_id=image_meta.id,
                hardening=container.Hardening.from_conf(CONF.docker),
                host_cpus=self._host_cpus, host=self._host, node=self._host,
                sandbox=sandbox, image_config=config,
                storage_opt=self._storage_opt(instance.flavor))
        except exception.ImageUnacceptable:
            with excutils.save_and_reraise_exception():
                self._forget_image(image_ref)

    def _forget_image(self, image_ref: str) -> None:
        """Remove a loaded image no instance may boot; one that a
        container still uses (booted before it was refused) stays."""
        try:
            with docker_exception.engine_boundary():
                self._client.remove_image(image_ref)
        except (errors.NotFound, errors.Conflict):
            pass
        except Exception as exc:  # the refusal is the news
            LOG.warning('Could not remove the refused image %s: %s',
                        image_ref, exc)

    def _create_container(self, instance, name: str, body: dict) -> None:
        try:
            with docker_exception.engine_boundary():
                self._client.create_container(body, name=name)
        except errors.DockerError as exc:
            raise exception.InstanceDeployFailure(
                reason='the engine refused the container %s: %s'
                       % (name, _reason(exc))) from exc
        LOG.info('Created container %s', name, instance=instance)

    def _sandbox_image(self) -> str:
        if CONF.docker.sandbox_image:
            return CONF.docker.sandbox_image
        with docker_exception.engine_boundary():
            if self._arch is None:
                self._arch = self._client.info().get('Architecture')
            try:
                return sandbox_image.ensure_image(self._client, self._arch)
            except ValueError as exc:
                raise docker_exception.InvalidEngineConfig(
                    reason=exc) from exc

    @staticmethod
    def _neutron_events(network_info) -> list[tuple[str, str]]:
        # As libvirt: wait only for ports Neutron reports down, which are
        # the ones that will go up once their OVS port exists.
        if not CONF.vif_plugging_timeout:
            return []
        return [('network-vif-plugged', vif['id'])
                for vif in network_info or []
                if vif.get('active', True) is False]

    def _neutron_failed_callback(self, event_name, instance):
        LOG.error('Neutron reported failure on event %s', event_name,
                  instance=instance)
        if CONF.vif_plugging_is_fatal:
            raise exception.VirtualInterfaceCreateException()

    def _start(self, instance, network_info, events=()) -> None:
        """The one way an instance starts: its sandbox runs with every
        port wired, then the workload joins it, so the workload never
        runs without its network."""
        if self._joins_sandbox(instance):
            plan = self._plan(instance, network_info)
            try:
                with self._waiting_for(instance, events):
                    netns = self._sandbox_running(instance)
                    self._ports.ensure_wired(instance, plan, netns)
            except exception.InstanceEventTimeout:
                if CONF.vif_plugging_is_fatal:
                    raise exception.VirtualInterfaceCreateException(
                    ) from None
                LOG.warning('Neutron did not report the ports plugged in '
                            '%ss; starting anyway ([DEFAULT] '
                            'vif_plugging_is_fatal = false)',
                            CONF.vif_plugging_timeout, instance=instance)
        self._start_workload(instance)

    def _waiting_for(self, instance, events):
        if not events:
            return contextlib.nullcontext()
        return self.virtapi.wait_for_instance_event(
            instance, events, timeout=CONF.vif_plugging_timeout,
            error_callback=self._neutron_failed_callback)

    def _joins_sandbox(self, instance) -> bool:
        # Containers made before sandboxes existed have a namespace of
        # their own and no ports: they start as they are.
        mode = self._inspect(instance)['HostConfig'].get('NetworkMode', '')
        return mode.startswith('container:')

    def _sandbox_running(self, instance) -> str:
        """Start the sandbox if it is not running; the path of its
        network namespace."""
        name = labels.sandbox_name(instance)
        with docker_exception.engine_boundary(instance.uuid):
            state = self._client.inspect_container(name)['State']
            if not state.get('Running'):
                self._client.start_container(name)
                state = self._client.inspect_container(name)['State']
        return privileged.namespace_path(state['Pid'])

    def _start_workload(self, instance) -> None:
        try:
            self._call(instance, self._client.start_container)
        except errors.DockerError as exc:
            raise exception.InstanceDeployFailure(
                reason='the container did not start: %s' % _reason(exc)
            ) from exc

    def _remove_after_failed_spawn(self, instance, network_info,
                                   reason) -> None:
        # The spawn's failure is the news: a removal that fails too (the
        # engine is gone) must not replace it. Nova's clean-up of the
        # failed build calls destroy, which tries again.
        LOG.warning('Spawn failed, removing what it made: %s', reason,
                    instance=instance)
        try:
            self.cleanup(None, instance, network_info)
        except Exception as exc:
            LOG.warning('Could not remove what the failed spawn made '
                        '(destroy will try again): %s', exc,
                        instance=instance)

    def _remove(self, instance) -> None:
        """Remove the workload and its sandbox; gone (or going) is fine."""
        for name in (labels.container_name(instance),
                     labels.sandbox_name(instance)):
            try:
                with docker_exception.engine_boundary(instance.uuid):
                    self._client.remove_container(name, force=True)
            except exception.InstanceNotFound:
                pass
            except errors.Conflict as exc:
                if 'already in progress' not in (exc.explanation or ''):
                    raise

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        self.cleanup(context, instance, network_info, block_device_info,
                     destroy_disks=destroy_disks,
                     destroy_secrets=destroy_secrets)

    def cleanup(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, migrate_data=None, destroy_vifs=True,
                destroy_secrets=True):
        """The containers go first (their end of every veth with them),
        then the ports' switch side."""
        self._remove(instance)
        LOG.info('Removed containers', instance=instance)
        if destroy_vifs:
            # As libvirt's clean-up: a port that cannot be unplugged (its
            # bridge is gone) must not keep the instance from going.
            self._unplug(instance, network_info, ignore_errors=True)

    # -- ports ------------------------------------------------------------

    def plug_vifs(self, instance, network_info):
        """Wire what a running instance lacks (nova calls this when the
        compute service starts); a stopped one is wired when it starts."""
        plan = self._plan(instance, network_info)
        if not plan.ports:
            return
        netns = self._running_sandbox_netns(instance)
        if netns:
            self._ports.ensure_wired(instance, plan, netns)

    def _running_sandbox_netns(self, instance) -> str | None:
        try:
            with docker_exception.engine_boundary(instance.uuid):
                state = self._client.inspect_container(
                    labels.sandbox_name(instance))['State']
        except exception.InstanceNotFound:
            return None
        if not state.get('Running'):
            return None
        return privileged.namespace_path(state['Pid'])

    def unplug_vifs(self, instance, network_info):
        self._unplug(instance, network_info)

    def _unplug(self, instance, network_info, ignore_errors=False) -> None:
        # A port of a kind the driver refused was never plugged.
        for port in network_plan.build(
                network_plan.supported(network_info), '').ports:
            self._ports.unplug(instance, port, ignore_errors=ignore_errors)

    def attach_interface(self, context, instance, image_meta, vif):
        """Wire ``vif`` as the next ``eth<N>`` of a running instance; a
        stopped one gets it with the others when it starts."""
        self._check_ports([vif])
        netns = self._running_sandbox_netns(instance)
        first = _next_index(privileged.ports_inside(netns)) if netns else 0
        plan = _built_plan([vif], container.hostname(instance), first)
        if netns:
            self._ports.wire(instance, plan.ports[0], netns)
        else:
            LOG.info('Port %s is wired when the instance starts',
                     vif['id'], instance=instance)

    def detach_interface(self, context, instance, vif):
        self.unplug_vifs(instance, [vif])

    # -- power ------------------------------------------------------------

    def _call(self, instance, method, *args, **kwargs):
        """Call the engine for ``instance``'s container, in Nova's terms:
        a missing container is InstanceNotFound, a missing engine
        EngineUnavailable (a HypervisorUnavailable)."""
        with docker_exception.engine_boundary(instance.uuid):
            return method(labels.container_name(instance),
                          *args, **kwargs)

    def _thaw(self, instance) -> None:
        # A frozen container cannot handle SIGTERM; thaw it before a stop.
        if self._inspect(instance)['State'].get('Paused'):
            self._call(instance, self._client.unpause_container)

    def reboot(self, context, instance, network_info, reboot_type,
               block_device_info=None, bad_volumes_callback=None,
               accel_info=None, share_info=None):
        """Restart the workload; the sandbox, and so every port, stays."""
        try:
            self._thaw(instance)
        except exception.InstanceNotFound:
            self._recreate(context, instance, network_info)
            return
        if reboot_type == 'SOFT':
            self._call(instance, self._client.stop_container,
                       timeout=CONF.shutdown_timeout)
        else:
            self._kill(instance)
        self._start(instance, network_info)
        LOG.info('Rebooted (%s)', reboot_type, instance=instance)

    def poll_rebooting_instances(self, timeout, instances):
        """Nothing to poll: reboot returns once the container runs again
        (as libvirt's does)."""

    def _kill(self, instance) -> None:
        try:
            self._call(instance, self._client.kill_container)
        except errors.Conflict:
            pass  # not running: nothing to kill

    def power_off(self, instance, timeout=0, retry_interval=0):
        """SIGTERM, then SIGKILL after ``timeout`` seconds (0: at once).

        The engine does the waiting and the escalation itself, so
        ``retry_interval`` has nothing to pace. The sandbox stops too: a
        stopped server answers on none of its addresses, as a stopped VM
        would; its ports are wired again when it starts.
        """
        self._thaw(instance)
        self._call(instance, self._client.stop_container, timeout=timeout)
        self._stop_sandbox(instance)

    def _stop_sandbox(self, instance) -> None:
        # A stop, not a kill: it returns once the pause program is gone
        # (the kernel tears the namespace and its veths down a moment
        # later). Its stop signal is SIGKILL: no timeout is waited out.
        try:
            with docker_exception.engine_boundary(instance.uuid):
                self._client.stop_container(
                    labels.sandbox_name(instance), timeout=0)
        except exception.InstanceNotFound:
            pass  # none: a container made before sandboxes

    def power_on(self, context, instance, network_info,
                 block_device_info=None, accel_info=None, share_info=None):
        try:
            self._start(instance, network_info)
        except exception.InstanceNotFound:
            self._recreate(context, instance, network_info)

    def _recreate(self, context, instance, network_info) -> None:
        """Make (and start) the containers again from the instance when
        the workload is gone (an operator removed it, or an engine lost
        its state), as libvirt's hard reboot defines the domain anew:
        otherwise the instance could never start again."""
        LOG.warning('Its container is gone: creating it again from the '
                    'instance and its image %s', instance.image_ref,
                    instance=instance)
        self._remove(instance)
        self.spawn(context, instance, instance.image_meta, [], None, {},
                   network_info)

    def resume_state_on_host_boot(self, context, instance, network_info,
                                  share_info, block_device_info=None):
        """Start the instance again after the host (or dockerd) came back
        ([DEFAULT] resume_guests_state_on_host_boot): the engine restarts
        nothing by itself, Nova decides."""
        if not self._inspect(instance)['State'].get('Running'):
            self._start(instance, network_info)
            LOG.info('Started again after the host came back',
                     instance=instance)

    def pause(self, instance):
        self._call(instance, self._client.pause_container)

    def unpause(self, instance):
        # A container that is not frozen has nothing to undo (libvirt's
        # resume of a running domain is a no-op too); the engine would
        # answer 500 "is not paused".
        self._thaw(instance)

    def suspend(self, context, instance):
        """Freeze every process of the container (cgroup freezer).

        Memory stays allocated: Docker saves process state to disk only
        with CRIU in experimental mode. get_info reports SUSPENDED while
        Nova holds the instance suspended, so the periodic power-state sync
        leaves it alone.
        """
        if self._inspect(instance)['State'].get('Paused'):
            return
        self._call(instance, self._client.pause_container)

    def resume(self, context, instance, network_info, block_device_info=None,
               share_info=None):
        if not self._inspect(instance)['State'].get('Paused'):
            return
        self._call(instance, self._client.unpause_container)

    # -- console ----------------------------------------------------------

    def get_console_output(self, context, instance):
        """The last CONSOLE_LOG_MAX_BYTES of the container's output, as
        str.

        Every line holds at least one byte (its newline), so the last
        CONSOLE_LOG_MAX_BYTES lines hold all of those bytes: asking the
        engine for that tail lets it read only the end of a long log.
        Decoded as latin-1, one character per byte: nova's compute
        manager encodes a str back with latin-1 and decodes the result
        ascii/replace for the API, so no byte is lost or refused on the
        way (a utf-8 decode could give characters latin-1 cannot encode).
        """
        output = self._call(instance, self._client.container_logs,
                            tail=CONSOLE_LOG_MAX_BYTES,
                            max_bytes=CONSOLE_LOG_MAX_BYTES)
        return output.decode('latin-1')

    # -- images -----------------------------------------------------------

    def snapshot(self, context, instance, image_id, update_task_state):
        """Commit the container and stream it into Glance image
        ``image_id`` (container_format docker, disk_format raw); works on a
        running, paused or stopped container."""
        with docker_exception.engine_boundary(instance.uuid):
            self._snapshots.snapshot(context, instance, image_id,
                                     update_task_state)

    def cache_image(self, context, image_id):
        """Load a Glance image before any boot needs it (nova's aggregate
        image pre-caching); True if loaded now, False if already here."""
        return self._images.cache(context, image_id)

    def manage_image_cache(self, context, all_instances):
        """Remove cached Glance images that no container and no instance
        in ``all_instances`` uses, once unused for [image_cache]
        remove_unused_original_minimum_age_seconds."""
        with docker_exception.engine_boundary():
            self._image_cache.manage(context, all_instances)
