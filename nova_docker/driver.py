"""DockerDriver: every Nova instance of this host is a Docker container
(and its sandbox).

The driver keeps Nova's protocol only: the order of spawn and clean-up,
the waits for Neutron, and the calls into the rooms that own each
concern: the :class:`~nova_docker.host.Host` (the engine, its facts, this
host's instances, its events) and its :class:`~nova_docker.guest.Guest`
per instance (one instance's containers), ``container`` (instance ->
create bodies), ``images`` (Glance <-> engine) and ``network`` (Neutron
ports). It keeps no state of its own: the containers named
``nova-<uuid>`` (the workload) and ``nova-<uuid>-sandbox`` (its network
namespace) and their labels are the whole record.
"""

import contextlib
import functools

from nova.compute import task_states
from nova import conf as nova_conf
from nova import exception
from nova.image import glance
from nova.virt import configdrive
from nova.virt import driver
from nova.virt import hardware
from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_utils import excutils
import os_resource_classes as orc

from nova_docker import conf as docker_conf
from nova_docker import config_drive
from nova_docker import container
from nova_docker import diagnostics
from nova_docker import exception as docker_exception
from nova_docker import host as host_mod
from nova_docker import images
from nova_docker import labels
from nova_docker import migration as migration_mod
from nova_docker import resolution
from nova_docker.network import plan as network_plan
from nova_docker.network import privileged
from nova_docker.network import wiring
from nova_docker import resources
from nova_docker.volume import connection as volume_connection
from nova_docker.volume import manager as volume_manager

CONF = nova_conf.CONF
docker_conf.register_opts(CONF)
LOG = logging.getLogger(__name__)

# get_console_output returns at most this much of the end of the log.
CONSOLE_LOG_MAX_BYTES = 100 * 1024


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
        # Cinder volumes are mounted in the workload at /mnt/<device>,
        # hot and at every start (nova_docker.volume).
        supports_extend_volume=True,
        # Evacuate rebuilds from the image on another host (nothing is on
        # shared storage), and a compute service that comes back removes
        # what its engine still holds of evacuated instances (nova's
        # _destroy_evacuated_instances, which needs this flag too).
        supports_evacuate=True,
    )

    def __init__(self, virtapi, host=None, image_api=None, volumes=None,
                 config_drives=None, instance_metadata=None,
                 find_migration=None, target_stats=None):
        """:param host: the engine's :class:`~nova_docker.host.Host`
            (by default one from the ``[docker]`` options).
        :param image_api: nova's image API (by default Glance's).
        :param volumes: the :class:`~nova_docker.volume.manager.Volumes`
            (by default one from the ``[docker]`` options).
        :param config_drives: the
            :class:`~nova_docker.config_drive.ConfigDrives` (by default
            under ``[DEFAULT] instances_path``).
        :param instance_metadata: makes an instance's metadata for its
            config drive, as :func:`nova_docker.config_drive.metadata`
            (the default: nova's ``InstanceMetadata``).
        :param find_migration: ``(context, instance) -> Migration``, the
            instance's migration in progress (by default from Nova's
            database, :func:`nova_docker.migration.find_migration`).
        :param target_stats: ``(context, migration) -> dict``, the
            ComputeNode stats of a migration's target (by default from
            Nova's database, :func:`nova_docker.migration.target_stats`).
        """
        super().__init__(virtapi)
        self._host = host or host_mod.Host()
        client = self._host.client
        self._images = images.ImageLoader(client, image_api=image_api,
                                          facts=lambda: self._host.facts)
        self._snapshots = images.Snapshotter(client, image_api=image_api)
        self._image_cache = images.ImageCache(client)
        self._local_images = images.LocalImages(client)
        self._ports = wiring.PortWiring()
        self._volumes = volumes or volume_manager.Volumes()
        self._config_drives = (config_drives or
                               config_drive.ConfigDrives(CONF.instances_path))
        self._resolutions = resolution.Resolutions(
            self._config_drives.instances_path)
        self._instance_metadata = (instance_metadata or
                                   config_drive.metadata)
        self._find_migration = find_migration or migration_mod.find_migration
        self._target_stats = (migration_mod.target_stats
                              if target_stats is None else target_stats)
        self._transfers = migration_mod.Transfers(
            self._snapshots, self._images, self._local_images,
            image_api or glance.API())

    # -- host -------------------------------------------------------------

    def init_host(self, host):
        self._host.init_host(host)
        self._config_drives.serve(host)
        self._resolutions.serve(host)
        self._volumes.init_host()

    def register_event_listener(self, callback):
        super().register_event_listener(callback)
        # Nova registers its listener after init_host; follow the engine's
        # events only when someone listens.
        if callback is not None:
            self._host.follow_events(self.emit_event)

    def cleanup_host(self, host):
        self._host.cleanup()

    def get_available_nodes(self, refresh=False):
        return [self._host.name]

    def get_available_resource(self, nodename):
        return self._host.available_resource(nodename)

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        offered = self.get_available_resource(nodename)
        ratios = self._get_allocation_ratios(
            provider_tree.data(nodename).inventory)
        reserved = {
            orc.VCPU: CONF.reserved_host_cpus,
            orc.MEMORY_MB: CONF.reserved_host_memory_mb,
            orc.DISK_GB: self._get_reserved_host_disk_gb_from_config(),
        }
        provider_tree.update_inventory(
            nodename, resources.inventory(offered, ratios, reserved))

    def get_host_ip_addr(self):
        return CONF.my_ip

    def get_host_uptime(self):
        out, _err = processutils.execute('env', 'LANG=C', 'uptime')
        return out

    def get_host_cpu_stats(self):
        return resources.cpu_stats()

    # -- listing ----------------------------------------------------------

    def list_instances(self):
        return [c['Labels'].get(labels.LABEL_INSTANCE_NAME, '')
                for c in self._host.workloads()]

    def list_instance_uuids(self):
        """Every instance with a container here, a sandbox alone too (its
        workload was never made): nova's clean-up of instances deleted
        while still on the hypervisor ([DEFAULT]
        running_deleted_instance_action) and of evacuated ones then
        destroys it."""
        return self._host.list_instance_uuids()

    def instance_exists(self, instance):
        return bool(self._host.workloads(instance.uuid))

    def get_num_instances(self):
        """nova's power-state sync compares this with its database: from
        the listing its get_info calls then use."""
        return self._host.count_workloads()

    def get_info(self, instance, use_cache=True):
        """``use_cache`` (nova's power-state sync): from one listing of
        this host's workloads a moment old at most, an engine call per
        pass rather than per instance; without it (after an action), the
        engine's word now."""
        return hardware.InstanceInfo(
            state=self._host.power_state(instance, use_cache=use_cache))

    # -- lifecycle --------------------------------------------------------

    def spawn(self, context, instance, image_meta, injected_files,
              admin_password, allocations, network_info=None,
              block_device_info=None, power_on=True, accel_info=None):
        self._spawn(context, instance, image_meta, network_info,
                    block_device_info, power_on,
                    functools.partial(self._write_config_drive, instance,
                                      injected_files, admin_password,
                                      network_info))

    def _spawn(self, context, instance, image_meta, network_info,
               block_device_info, power_on: bool, config_drive) -> None:
        """spawn, the instance's config drive made by ``config_drive()``
        (its host directory or None)."""
        images.check_acceptable(image_meta)
        container.command_override(image_meta)
        # nova hands network_info over while Neutron still binds the
        # ports (the first look at it waits): the image and, on a local
        # engine, the started sandbox are made meanwhile.
        image_ref = self._images.ensure_local(
            context, image_meta, root_gb=instance.flavor.root_gb,
            trusted_certs=instance.trusted_certs)
        guest = self._host.get_guest(instance)
        try:
            early = power_on and self._host.engine_is_local
            if early:
                guest.start_sandbox(self._sandbox_body(instance))
            plan = self._plan(instance, network_info)
            drive = config_drive()
            self._create(guest, image_meta, image_ref, plan, drive,
                         sandbox_made=early)
            if power_on:
                self._start(guest, network_info, block_device_info,
                            events=self._neutron_events(network_info))
        except Exception as exc:
            with excutils.save_and_reraise_exception():
                self._remove_after_failed_spawn(instance, network_info,
                                                exc, block_device_info)

    def _plan(self, instance, network_info) -> network_plan.NetworkPlan:
        """What the instance's ports become; refused before anything is
        made if one of them cannot be wired here."""
        self._check_ports(network_info)
        plan = network_plan.build(network_info or [],
                                  container.hostname(instance))
        # Names and name servers the engine would write verbatim.
        container.check_resolution(plan.dns_servers, plan.hosts)
        return plan

    def _check_ports(self, network_info) -> None:
        network_plan.check_supported(network_info)
        if network_info and not self._host.engine_is_local:
            raise docker_exception.PortsNeedLocalEngine(
                url=CONF.docker.host_url)

    def _write_config_drive(self, instance, injected_files,
                            admin_password, network_info) -> str | None:
        """The instance's config drive written anew (a rebuild's new user
        data and metadata too), if it asks for one ([DEFAULT]
        force_config_drive, the image's img_config_drive or the server's
        own); its host directory, else None."""
        if not configdrive.required_by(instance):
            return None
        if not self._host.engine_is_local:
            raise docker_exception.ConfigDriveNeedsLocalEngine(
                url=CONF.docker.host_url)
        md = self._instance_metadata(instance, injected_files,
                                     admin_password, network_info)
        files = config_drive.tree(md.metadata_for_config_drive())
        LOG.info('Writing its config drive (%d files)', len(files),
                 instance=instance)
        return self._config_drives.write(instance.uuid, files)

    def _create(self, guest, image_meta, image_ref: str,
                plan: network_plan.NetworkPlan,
                drive: str | None = None, sandbox_made: bool = False
                ) -> None:
        """The sandbox (unless ``sandbox_made``), then the workload that
        joins its namespace; both bodies first, so a refused image makes
        neither."""
        instance = guest.instance
        sandbox_body = (None if sandbox_made else
                        self._sandbox_body(instance, plan))
        mounts = (self._volumes.binds(instance) +
                  self._resolution_binds(instance, plan) +
                  ([config_drive.mount(drive)] if drive else []))
        body = self._workload_body(instance, image_meta, image_ref,
                                   guest.sandbox, mounts)
        guest.create(sandbox_body, body)

    def _sandbox_body(self, instance, plan=None) -> dict:
        """The sandbox's create body. On a local engine it holds nothing
        of ``plan`` (the workload reads the driver's resolution files,
        not the sandbox's), so it can be made before Neutron is done."""
        local = self._host.engine_is_local
        return container.sandbox_body(
            instance, self._host.sandbox_image(),
            () if local else plan.dns_servers, () if local else plan.hosts,
            host=self._host.name, node=self._host.name,
            ulimits=self._host.facts.ulimits,
            serial_port=self._serial_port(instance))

    def _resolution_binds(self, instance, plan) -> list[dict]:
        """On a local engine, the workload's read-only resolv.conf, hosts
        and hostname in place of the engine's writable ones
        (nova_docker.resolution)."""
        if not self._host.engine_is_local:
            return []
        return self._resolutions.write_for(
            instance.uuid, plan.dns_servers, plan.hosts,
            container.hostname(instance))

    def _workload_body(self, instance, image_meta, image_ref: str,
                       sandbox: str, mounts=()) -> dict:
        config = self._local_images.config(image_meta.id)
        try:
            return container.create_body(
                instance, image_meta, image_ref, CONF.docker.pids_limit,
                image_id=image_meta.id,
                hardening=container.Hardening.from_conf(CONF.docker),
                host_cpus=self._host.facts.cpus, host=self._host.name,
                node=self._host.name, sandbox=sandbox, image_config=config,
                storage_opt=self._host.storage_opt(
                    instance.flavor.root_gb or CONF.docker.max_image_size_gb),
                ulimits=self._host.facts.ulimits,
                own_hostname=self._host.facts.workload_hostname,
                tty=CONF.docker.workload_tty, mounts=mounts)
        except exception.ImageUnacceptable:
            with excutils.save_and_reraise_exception():
                self._local_images.forget_refused(image_meta.id,
                                                  instance=instance)

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

    def _start(self, guest, network_info, block_device_info,
               events=()) -> None:
        """Start the instance through its guest's one start, wiring its
        ports (and waiting for Neutron to see them) once the sandbox
        runs; its volumes are mounted before the workload starts."""
        instance = guest.instance
        plan = self._plan(instance, network_info)

        def wire(netns: str) -> None:
            try:
                with self._waiting_for(instance, events):
                    self._ports.ensure_wired(instance, plan, netns)
            except exception.InstanceEventTimeout:
                if CONF.vif_plugging_is_fatal:
                    raise exception.VirtualInterfaceCreateException(
                    ) from None
                LOG.warning('Neutron did not report the ports plugged in '
                            '%ss; starting anyway ([DEFAULT] '
                            'vif_plugging_is_fatal = false)',
                            CONF.vif_plugging_timeout, instance=instance)

        guest.start(wire, before=lambda: self._volumes.mount_all(
            instance, block_device_info, guest.inspect))

    def _waiting_for(self, instance, events):
        if not events:
            return contextlib.nullcontext()
        return self.virtapi.wait_for_instance_event(
            instance, events, timeout=CONF.vif_plugging_timeout,
            error_callback=self._neutron_failed_callback)

    def _remove_after_failed_spawn(self, instance, network_info,
                                   reason, block_device_info) -> None:
        # The spawn's failure is the news: a removal that fails too (the
        # engine is gone) must not replace it. Nova's clean-up of the
        # failed build calls destroy, which tries again.
        LOG.warning('Spawn failed, removing what it made: %s', reason,
                    instance=instance)
        try:
            self.cleanup(None, instance, network_info, block_device_info)
        except Exception as exc:
            LOG.warning('Could not remove what the failed spawn made '
                        '(destroy will try again): %s', exc,
                        instance=instance)

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        self.cleanup(context, instance, network_info, block_device_info,
                     destroy_disks=destroy_disks,
                     destroy_secrets=destroy_secrets)

    def cleanup(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, migrate_data=None, destroy_vifs=True,
                destroy_secrets=True):
        """The containers go first (their end of every veth with them),
        then the ports' switch side and the volumes (unmounted,
        disconnected, their data kept), and its config drive unless
        its disks stay (``destroy_disks`` False: an instances_path shared
        with the host it went to).

        A revert of a resize on the same host keeps the containers (nova
        destroys the "target" first, which is the same container here):
        finish_revert_migration gives them the old flavor back."""
        if self._kept_for_revert(context, instance):
            try:
                self.power_off(instance)
            except exception.InstanceNotFound:
                pass  # gone: finish_revert_migration makes it again
            self._volumes.detach_all(instance, block_device_info)
            LOG.info('Kept the containers for the revert of the resize on '
                     'this host', instance=instance)
            return
        self._host.get_guest(instance).remove()
        LOG.info('Removed containers', instance=instance)
        self._host.consoles.close(instance.uuid)
        if destroy_disks:
            self._config_drives.remove(instance.uuid)
            self._resolutions.remove(instance.uuid)
        self._volumes.remove_all(instance, block_device_info)
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
        netns = self._host.get_guest(instance).sandbox_netns()
        if netns:
            self._ports.ensure_wired(instance, plan, netns)

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
        netns = self._host.get_guest(instance).sandbox_netns()
        first = (network_plan.next_index(privileged.ports_inside(netns))
                 if netns else 0)
        plan = network_plan.build([vif], container.hostname(instance), first)
        if netns:
            self._ports.wire(instance, plan.ports[0], netns)
        else:
            LOG.info('Port %s is wired when the instance starts',
                     vif['id'], instance=instance)

    def detach_interface(self, context, instance, vif):
        self.unplug_vifs(instance, [vif])

    # -- volumes ----------------------------------------------------------

    def get_volume_connector(self, instance):
        """os-brick's initiator properties of this host, as libvirt's."""
        return volume_connection.connector_properties()

    def default_root_device_name(self, instance, image_meta, root_bdm):
        """A container has no root device; Nova still names one, and
        names each volume after it: ``/dev/vda`` makes the first volume
        ``/dev/vdb``, mounted at ``/mnt/vdb`` (nova's own default,
        ``/dev/sda``, would make it ``/mnt/sdb``)."""
        return '/dev/vda'

    def attach_volume(self, context, connection_info, instance, mountpoint,
                      disk_bus=None, device_type=None, encryption=None):
        """Connect the volume and mount it at ``/mnt/<device name>``,
        where the running workload sees it at once; a stopped one sees
        it when it starts."""
        volume_id = connection_info.get('serial')
        if encryption:
            raise exception.VolumeEncryptionNotSupported(
                volume_type='an encrypted', volume_id=volume_id)
        self._volumes.check_mountable(
            instance, self._host.get_guest(instance).inspect(), volume_id)
        self._volumes.attach(instance, connection_info, mountpoint)

    def detach_volume(self, context, connection_info, instance, mountpoint,
                      encryption=None):
        self._volumes.detach(instance, connection_info, mountpoint)

    def extend_volume(self, context, connection_info, instance,
                      requested_size):
        """os-brick sees the new size, then the mounted file system grows
        to it online."""
        return self._volumes.extend(instance, connection_info,
                                    requested_size)

    # -- power ------------------------------------------------------------

    def reboot(self, context, instance, network_info, reboot_type,
               block_device_info=None, bad_volumes_callback=None,
               accel_info=None, share_info=None):
        """Restart the workload; the sandbox, and so every port, stays."""
        guest = self._host.get_guest(instance)
        try:
            guest.thaw()
        except exception.InstanceNotFound:
            self._recreate(context, instance, network_info,
                           block_device_info)
            return
        if reboot_type == 'SOFT':
            guest.stop(timeout=CONF.shutdown_timeout)
        else:
            guest.kill()
        self._start(guest, network_info, block_device_info)
        LOG.info('Rebooted (%s)', reboot_type, instance=instance)

    def poll_rebooting_instances(self, timeout, instances):
        """Nothing to poll: reboot returns once the container runs again
        (as libvirt's does)."""

    def power_off(self, instance, timeout=0, retry_interval=0):
        """SIGTERM, then SIGKILL after ``timeout`` seconds (0: at once).

        The engine does the waiting and the escalation itself, so
        ``retry_interval`` has nothing to pace. The sandbox stops too: a
        stopped server answers on none of its addresses, as a stopped VM
        would; its ports are wired again when it starts.
        """
        guest = self._host.get_guest(instance)
        # A frozen container cannot handle SIGTERM.
        guest.thaw()
        guest.stop(timeout=timeout)
        guest.stop_sandbox()

    def power_on(self, context, instance, network_info,
                 block_device_info=None, accel_info=None, share_info=None):
        try:
            self._start(self._host.get_guest(instance), network_info,
                        block_device_info)
        except exception.InstanceNotFound:
            self._recreate(context, instance, network_info,
                           block_device_info)

    def _recreate(self, context, instance, network_info,
                  block_device_info) -> None:
        """Make (and start) the containers again from the instance when
        the workload is gone (an operator removed it, or an engine lost
        its state), as libvirt's hard reboot defines the domain anew:
        otherwise the instance could never start again."""
        LOG.warning('Its container is gone: creating it again from the '
                    'instance and its image %s', instance.image_ref,
                    instance=instance)
        self._host.get_guest(instance).remove()
        self._spawn(context, instance, instance.image_meta, network_info,
                    block_device_info, True,
                    functools.partial(self._kept_config_drive, instance,
                                      network_info))

    def _kept_config_drive(self, instance, network_info) -> str | None:
        """The config drive the instance's spawn wrote, as libvirt's hard
        reboot keeps disk.config: its injected files and admin password
        are nowhere else. Written anew (without them) only if it is
        gone."""
        path = self._config_drives.existing(instance.uuid)
        if configdrive.required_by(instance) and path:
            LOG.info('Keeping its config drive', instance=instance)
            return path
        return self._write_config_drive(instance, None, None, network_info)

    def resume_state_on_host_boot(self, context, instance, network_info,
                                  share_info, block_device_info=None):
        """Start the instance again after the host (or dockerd) came back
        ([DEFAULT] resume_guests_state_on_host_boot): the engine restarts
        nothing by itself, Nova decides."""
        guest = self._host.get_guest(instance)
        if not guest.is_running():
            self._start(guest, network_info, block_device_info)
            LOG.info('Started again after the host came back',
                     instance=instance)

    def pause(self, instance):
        self._host.get_guest(instance).pause()

    def unpause(self, instance):
        # A container that is not frozen has nothing to undo (libvirt's
        # resume of a running domain is a no-op too).
        self._host.get_guest(instance).thaw()

    def suspend(self, context, instance):
        """Freeze every process of the container (cgroup freezer).

        Memory stays allocated: Docker saves process state to disk only
        with CRIU in experimental mode. get_info reports SUSPENDED while
        Nova holds the instance suspended, so the periodic power-state sync
        leaves it alone.
        """
        guest = self._host.get_guest(instance)
        if not guest.is_paused():
            guest.pause()

    def resume(self, context, instance, network_info, block_device_info=None,
               share_info=None):
        self._host.get_guest(instance).thaw()

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
        output = self._host.get_guest(instance).logs(CONSOLE_LOG_MAX_BYTES)
        return output.decode('latin-1')

    def get_serial_console(self, context, instance):
        """The TCP port (on [serial_console] proxyclient_address) where
        nova-serialproxy reaches the terminal of the instance's running
        workload; one client at a time (nova_docker.console.serial)."""
        if not CONF.serial_console.enabled:
            raise exception.ConsoleTypeUnavailable(console_type='serial')
        return self._host.serial_console(instance)

    def _serial_port(self, instance) -> int | None:
        """The port the instance's serial console listens on from its
        spawn, recorded on its sandbox; None when serial consoles are
        off. A recreated instance keeps the one it has."""
        if not CONF.serial_console.enabled:
            return None
        return self._host.consoles.open(instance.uuid)

    # -- diagnostics ------------------------------------------------------

    def get_diagnostics(self, instance):
        """The workload's counters from the engine's stats (the server
        diagnostics of microversions before 2.48)."""
        guest = self._host.get_guest(instance)
        return diagnostics.from_stats(guest.stats(), guest.inspect())

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

    # -- resize and cold migration (nova_docker.migration) ----------------

    def migrate_disk_and_power_off(self, context, instance, dest,
                                   flavor, network_info,
                                   block_device_info=None,
                                   timeout=0, retry_interval=0):
        """Check the new ``flavor`` before anything stops, stop the
        workload and let its volumes go; to another host, also send its
        file system as a transfer image (named in the returned
        disk_info)."""
        guest = self._host.get_guest(instance)
        move = self._find_migration(context, instance)
        self._check_resize(guest, flavor, migration_mod.same_host(move))
        self.power_off(instance, timeout, retry_interval)
        self._volumes.detach_all(instance, block_device_info)
        if migration_mod.same_host(move):
            return migration_mod.disk_info(None)
        # The target wires them now; a revert wires them here again.
        self._unplug(instance, network_info, ignore_errors=True)
        return migration_mod.disk_info(self._transfers.send(
            context, instance, move,
            self._stats_of_target(context, instance, move)))

    def _stats_of_target(self, context, instance, move) -> dict:
        """The target's ComputeNode stats; none (the whole image goes)
        if they cannot be read."""
        try:
            return self._target_stats(context, move)
        except Exception as exc:
            LOG.warning('Could not read the stats of the migration\'s '
                        'target %s (%s): sending the whole image',
                        move.dest_compute, exc, instance=instance)
            return {}

    def _check_resize(self, guest, flavor, same_host: bool) -> None:
        """The new flavor's disk and limits, refused while the server
        still runs (InstanceFaultRollback: nova puts it back as it was
        and records why)."""
        try:
            migration_mod.check_disk(guest.instance, flavor, guest.disk_used())
            limits = migration_mod.limits(flavor, CONF.docker,
                                          self._host.facts.cpus)
            if same_host:
                migration_mod.update_body(guest.inspect()['HostConfig'],
                                          limits, guest.instance, flavor)
        except (exception.FlavorDiskSmallerThanImage, exception.InvalidInput,
                exception.InstanceDeployFailure,
                exception.ResizeError) as exc:
            raise exception.InstanceFaultRollback(
                inner_exception=exc) from exc

    def _apply_flavor(self, guest) -> None:
        """The workload's limits become its instance's flavor's."""
        limits = migration_mod.limits(guest.instance.flavor, CONF.docker,
                                      self._host.facts.cpus)
        guest.update(migration_mod.update_body(
            guest.inspect()['HostConfig'], limits, guest.instance,
            guest.instance.flavor))

    def finish_migration(self, context, migration, instance, disk_info,
                         network_info, image_meta, resize_instance,
                         allocations, block_device_info=None, power_on=True,
                         share_info=None):
        """The resized or moved workload, with the new flavor, its ports
        and volumes, started if ``power_on``."""
        guest = self._host.get_guest(instance)
        transfer = migration_mod.transfer_from(disk_info)
        if transfer is None:
            self._apply_flavor(guest)
        else:
            self._make_from_transfer(context, guest, image_meta, transfer,
                                     network_info, block_device_info)
        if power_on:
            self._start_moved(context, guest, network_info,
                              block_device_info, transfer)
        LOG.info('Finished the resize or migration', instance=instance)

    def _make_from_transfer(self, context, guest, image_meta, transfer,
                            network_info, block_device_info) -> None:
        try:
            meta, ref = self._transfers.load(context, guest.instance,
                                             image_meta, transfer)
            # The target writes the drive anew: the source's stays with
            # its stopped server until confirm or revert.
            drive = self._write_config_drive(guest.instance, None, None,
                                             network_info)
            self._create(guest, meta, ref,
                         self._plan(guest.instance, network_info), drive)
        except Exception as exc:
            with excutils.save_and_reraise_exception():
                self._undo_transfer(context, guest.instance, network_info,
                                    block_device_info, transfer, exc)

    def _start_moved(self, context, guest, network_info, block_device_info,
                     transfer) -> None:
        try:
            self._start(guest, network_info, block_device_info)
        except Exception as exc:
            if transfer is None:
                raise  # the same container: a hard reboot starts it
            with excutils.save_and_reraise_exception():
                self._undo_transfer(context, guest.instance, network_info,
                                    block_device_info, transfer, exc)

    def _undo_transfer(self, context, instance, network_info,
                       block_device_info, transfer, reason) -> None:
        """Nothing of a failed arrival stays: its containers, ports,
        mounts, the loaded transfer image and the Glance one. The source
        keeps the stopped server (nova's revert, or a hard reboot)."""
        self._remove_after_failed_spawn(instance, network_info, reason,
                                        block_device_info)
        self._transfers.forget(transfer, instance)
        self._transfers.delete(context, transfer, instance)

    def confirm_migration(self, context, migration, instance, network_info):
        """On the source: its containers and the transfer image go (the
        ports were unplugged and the volumes let go when it stopped). On
        the same host there is nothing to remove."""
        if migration_mod.same_host(migration):
            return
        # The ports' switch side went when it stopped; the same port is
        # the target's now.
        self.cleanup(context, instance, network_info, destroy_vifs=False)
        self._transfers.delete_all(context, migration, instance)
        LOG.info('Removed the containers the server left here',
                 instance=instance)

    def finish_revert_migration(self, context, instance, network_info,
                                migration, block_device_info=None,
                                power_on=True, share_info=None):
        """On the source: the server as it was (the same container, the
        old flavor's limits again), started if ``power_on``; the transfer
        image goes."""
        guest = self._host.get_guest(instance)
        if migration_mod.same_host(migration):
            try:
                self._apply_flavor(guest)
            except exception.InstanceNotFound:
                pass  # power_on makes it again
        else:
            self._transfers.delete_all(context, migration, instance)
        if power_on:
            self.power_on(context, instance, network_info, block_device_info)
        LOG.info('Reverted the resize or migration', instance=instance)

    def delete_instance_files(self, instance):
        """Remove what a deleted instance left on this host after a
        failed migration (nova's clean-up of incomplete migrations): the
        source's stopped containers when the target failed, or the
        target's when the revert failed."""
        self.cleanup(None, instance, None, destroy_vifs=False)
        return True

    def _kept_for_revert(self, context, instance) -> bool:
        """Whether this destroy is the revert of a resize on this very
        host, whose container is the server's own."""
        if (not instance.obj_attr_is_set('task_state') or
                instance.task_state != task_states.RESIZE_REVERTING):
            return False
        try:
            return migration_mod.same_host(
                self._find_migration(context, instance))
        except Exception as exc:
            # Keeping a container that should have gone is recoverable;
            # removing the server's only copy is not.
            LOG.warning('Could not read the migration being reverted '
                        '(%s): the containers stay', exc, instance=instance)
            return True
