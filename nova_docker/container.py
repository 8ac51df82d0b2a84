"""Instance -> container: pure translation, no I/O.

Each ``_<concern>`` function maps one aspect of an instance (its flavor,
image, identity) onto a fragment of the engine's ``POST /containers/create``
body; :func:`create_body` merges them. Nothing here talks to the engine, so
every rule is testable without one.

Which image config fields an image may set
------------------------------------------
The engine fills every field the create body leaves unset from the image's
config (Docker's ``merge`` of the two). The image is the tenant's, so each
field is either the tenant's to choose or pinned by the body:

================  ==========  ==========================================
field             image may?  why
================  ==========  ==========================================
Entrypoint, Cmd   yes         the instance's program (``os_command_line``
                              replaces Cmd), as a VM image's init
Env, WorkingDir   yes         the program's own environment
User              yes         whom the program runs as inside the
                              instance; capabilities and
                              ``no-new-privileges`` still fence it
ExposedPorts      yes, inert  the engine publishes nothing: Neutron owns
                              the network (NetworkMode none/container)
StopSignal        a valid     power_off sends it, then SIGKILL after the
                  one         timeout: any signal harms only the
                              instance; one the engine would not know is
                              refused (ImageUnacceptable)
Labels            not ours    ``org.openstack.nova.*`` is the driver's:
                              every label it knows, and any of that
                              prefix the image carries, is set by the
                              body (empty where not meant)
Healthcheck       no          pinned off (``NONE``): the engine runs the
                              probe outside the instance's CPU limit
Volumes           no          refused (ImageUnacceptable): an anonymous
                              engine volume escapes the root disk bound,
                              Nova's snapshots and its accounting
StopTimeout,      inert       the engine does not take them from an
OnBuild, Shell,               image (build-time or container-only);
Hostname,                     power_off always passes its own timeout,
Domainname                    the sandbox holds the host name
ArgsEscaped       inert       Windows only
================  ==========  ==========================================

Volumes are refused rather than neutralised: the create body can only
cover an image's VOLUME with another mount, and the one that stays
bounded without a host path, a tmpfs (charged to the memory limit),
would lose its data at every stop without a word. A refusal tells the
tenant at once what to change.
"""

import dataclasses
import ipaddress
import re
import shlex
import signal
from typing import Any

from nova import exception

from nova_docker import conf
from nova_docker import labels
from nova_docker import sandbox_image

# Bounds for the sandbox. The pause program needs almost nothing, but
# runc's init, a Go program whose threads count as tasks, runs in the
# container's cgroups before it execs it: two tasks made starts fail now
# and then ("cannot start a stopped process").
SANDBOX_MEMORY = 32 * 1024 * 1024
SANDBOX_PIDS = 64

# How a workload joins its sandbox's namespaces (HostConfig.NetworkMode).
JOIN_PREFIX = 'container:'

MIB = 1024 * 1024
# Docker refuses a memory limit below 6 MB; Podman takes any and the
# workload dies at once. Refused here, the same on every engine.
MIN_MEMORY_MB = 6
# Docker's unit for CpuShares: one CPU is worth 1024.
SHARES_PER_VCPU = 1024
# The CFS quota/period bounds the kernel accepts, in microseconds.
CFS_PERIOD_RANGE = (1000, 1000000)
CFS_QUOTA_MIN = 1000
# libvirt's flavor extra specs for a CFS limit of the flavor's own.
CPU_QUOTA_SPEC = 'quota:cpu_quota'
CPU_PERIOD_SPEC = 'quota:cpu_period'
# Docker's unit for NanoCpus: one CPU is 10^9.
NANO_CPUS_PER_VCPU = 10 ** 9

Body = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Hardening:
    """How far every container is fenced in, from the ``[docker]``
    options; the defaults are those of the options."""

    cap_drop: tuple[str, ...] = conf.DEFAULT_CAP_DROP
    cap_add: tuple[str, ...] = ()
    cpu_hard_cap: bool = True
    # None: the engine's own log driver and options.
    log_max_size: str | None = conf.DEFAULT_LOG_MAX_SIZE
    log_max_files: int = conf.DEFAULT_LOG_MAX_FILES

    @classmethod
    def from_conf(cls, opts) -> 'Hardening':
        """:param opts: the ``[docker]`` group (``CONF.docker``)."""
        return cls(cap_drop=tuple(opts.cap_drop),
                   cap_add=tuple(opts.cap_add),
                   cpu_hard_cap=opts.cpu_hard_cap,
                   log_max_size=opts.log_max_size or None,
                   log_max_files=opts.log_max_files)


def _labels(meant: dict, image_config: dict | None) -> Body:
    """``meant`` (the labels that apply; None or '' values do not), and
    every other label of ours empty: those the driver knows and any of
    our prefix the image carries."""
    image_labels = (image_config or {}).get('Labels') or {}
    pinned = dict.fromkeys(labels.KNOWN_LABELS, '')
    pinned.update(dict.fromkeys(
        (key for key in image_labels
         if key.startswith(labels.LABEL_PREFIX)), ''))
    pinned.update({key: value for key, value in meant.items() if value})
    return {'Labels': pinned}


def _workload_labels(instance, image_id: str | None, host: str | None,
                     node: str | None, image_config: dict | None) -> Body:
    return _labels({labels.LABEL_INSTANCE_UUID: instance.uuid,
                    labels.LABEL_INSTANCE_NAME: instance.name,
                    labels.LABEL_PROJECT_ID: instance.project_id,
                    labels.LABEL_HOST: host, labels.LABEL_NODE: node,
                    labels.LABEL_IMAGE_ID: image_id}, image_config)


# RFC 1123 host names: dot-separated labels of letters, digits and '-',
# neither first nor last; the kernel holds at most 64 bytes of it.
_HOST_LABEL = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$')
HOSTNAME_MAX = 63


def hostname(instance) -> str:
    """The instance's host name for the engine, which writes it verbatim
    into /etc/hostname and /etc/hosts (newlines too).

    Nova sanitises it to an RFC 952 name; anything else is refused
    (InvalidInput). Instances that predate hostname get their uuid.
    """
    name = instance.hostname or instance.uuid
    if len(name) > HOSTNAME_MAX:
        # Cut at the limit, a name may end inside a label.
        name = name[:HOSTNAME_MAX].rstrip('.-')
    check_hostname(name)
    return name


def check_hostname(name: str) -> None:
    if name and all(_HOST_LABEL.match(part) for part in name.split('.')):
        return
    raise exception.InvalidInput(
        reason='the host name %r is not an RFC 1123 host name (letters, '
               'digits and "-" in dot-separated labels): set a valid '
               'hostname on the server' % name)


def check_address(address: str, what: str) -> str:
    """``address`` as an IP address in its usual form, or InvalidInput:
    the engine writes name servers and /etc/hosts addresses verbatim."""
    try:
        # A zone (fe80::1%eth0) is free text: none is needed in the
        # instance's own namespace.
        if '%' in address:
            raise ValueError('a zone is not accepted')
        return str(ipaddress.ip_address(address))
    except ValueError:
        raise exception.InvalidInput(
            reason='%s %r is not an IP address: fix it in the network '
                   '(e.g. the subnet\'s dns_nameservers)' % (what, address)
        ) from None


def check_resolution(dns_servers=(), hosts=()) -> None:
    """Refuse name servers and /etc/hosts lines that are not what they
    say, before anything is made for the instance."""
    _resolution(dns_servers, hosts)


def _resolution(dns_servers, hosts) -> tuple[list, list]:
    servers = [check_address(s, 'the DNS server') for s in dns_servers]
    lines = []
    for name, address in hosts:
        check_hostname(name)
        lines.append('%s:%s' % (name, check_address(
            address, 'the /etc/hosts address of %s' % name)))
    return servers, lines


def _hostname(instance) -> Body:
    return {'Hostname': hostname(instance)}


def _memory(flavor) -> Body:
    if flavor.memory_mb < MIN_MEMORY_MB:
        raise exception.InstanceDeployFailure(
            reason='the flavor %s has %d MB of memory, below the minimum '
                   'memory of %d MB a container can run in: use a flavor '
                   'with more' % (flavor.name, flavor.memory_mb,
                                  MIN_MEMORY_MB))
    limit = flavor.memory_mb * MIB
    # MemorySwap equal to Memory: no swap beyond the flavor's RAM, as a
    # VM of that flavor would have.
    return {'HostConfig': {'Memory': limit, 'MemorySwap': limit}}


def _int_extra_spec(flavor, key: str) -> int | None:
    value = (flavor.extra_specs or {}).get(key)
    if value in (None, ''):
        return None
    try:
        return int(value)
    except ValueError:
        raise exception.InvalidInput(
            reason='flavor %s: extra spec %s=%r is not an integer; set it '
                   'to microseconds, e.g. 50000' % (flavor.name, key, value)
        ) from None


def _cpu(flavor) -> Body:
    host_config: Body = {'CpuShares': flavor.vcpus * SHARES_PER_VCPU}
    # libvirt's names, so a flavor means the same on both drivers.
    quota = _int_extra_spec(flavor, CPU_QUOTA_SPEC)
    period = _int_extra_spec(flavor, CPU_PERIOD_SPEC)
    if period is not None:
        low, high = CFS_PERIOD_RANGE
        if not low <= period <= high:
            raise exception.InvalidInput(
                reason='flavor %s: quota:cpu_period must be between %d and '
                       '%d microseconds, got %d' % (flavor.name, low, high,
                                                    period))
        host_config['CpuPeriod'] = period
    if quota is not None and quota > 0:
        if quota < CFS_QUOTA_MIN:
            raise exception.InvalidInput(
                reason='flavor %s: quota:cpu_quota must be at least %d '
                       'microseconds (or <= 0 for no cap), got %d'
                       % (flavor.name, CFS_QUOTA_MIN, quota))
        host_config['CpuQuota'] = quota
    return {'HostConfig': host_config}


def _cpu_hard_cap(flavor, enabled: bool, host_cpus: int | None) -> Body:
    """At most the flavor's vCPUs worth of CPU time, as a libvirt guest
    gets: shares alone let one instance take every idle core."""
    if not enabled:
        return {}
    # A flavor with a CFS limit of its own (even libvirt's "no cap",
    # quota <= 0) has said what it wants; the engine also refuses
    # NanoCpus next to CpuQuota or CpuPeriod.
    if any(_int_extra_spec(flavor, key) is not None
           for key in (CPU_QUOTA_SPEC, CPU_PERIOD_SPEC)):
        return {}
    vcpus = flavor.vcpus
    # The engine refuses more CPUs than it has, and a container could
    # not use them anyway: a flavor wider than the host (placement
    # forbids it, a test or a remote engine may not) gets the host.
    if host_cpus:
        vcpus = min(vcpus, host_cpus)
    return {'HostConfig': {'NanoCpus': vcpus * NANO_CPUS_PER_VCPU}}


def _cap_name(name: str) -> str:
    # The engine takes NET_RAW, CAP_NET_RAW, net_raw alike; one spelling
    # lets cap_add cancel cap_drop below.
    name = name.strip().upper()
    return name[len('CAP_'):] if name.startswith('CAP_') else name


def _capabilities(cap_drop, cap_add) -> Body:
    add = list(dict.fromkeys(_cap_name(c) for c in cap_add if c.strip()))
    # A capability given back is not also taken: the engine would let
    # CapAdd win, but the body should say what the container gets.
    drop = [c for c in dict.fromkeys(_cap_name(c) for c in cap_drop
                                     if c.strip())
            if c not in add]
    return {'HostConfig': {'CapDrop': drop, 'CapAdd': add}}


def _log(max_size: str | None, max_files: int) -> Body:
    """A console log bounded on the engine's disk.

    json-file is what get_console_output reads back through the engine
    (and the engine's default); it rotates at ``max_size`` and keeps
    ``max_files`` files, so an instance's output takes at most about
    their product.
    """
    if not max_size:
        return {}
    # The engine's log options are strings, counts too.
    return {'HostConfig': {'LogConfig': {
        'Type': 'json-file',
        'Config': {'max-size': max_size, 'max-file': str(max_files)}}}}


def _pids(pids_limit: int) -> Body:
    # 0 means unlimited in our option; the engine wants it left out.
    if pids_limit <= 0:
        return {}
    return {'HostConfig': {'PidsLimit': pids_limit}}


def _image_fields(image_id: str | None, image_config: dict | None) -> Body:
    """What the body pins of the image's config (see the table above),
    refusing an image whose config cannot be made safe."""
    config = image_config or {}
    volumes = sorted(config.get('Volumes') or {})
    if volumes:
        raise exception.ImageUnacceptable(
            image_id=image_id,
            reason='it declares VOLUME %s: the engine would keep that data '
                   'outside the instance\'s root disk, its bound and its '
                   'snapshots. Rebuild the image without VOLUME (keep the '
                   'data in its file system) and attach a Cinder volume '
                   'for data that must outlive the server'
                   % ', '.join(volumes))
    stop_signal = config.get('StopSignal')
    if stop_signal and not valid_signal(stop_signal):
        raise exception.ImageUnacceptable(
            image_id=image_id,
            reason='its StopSignal %r is not a signal: rebuild it with a '
                   'valid STOPSIGNAL (e.g. SIGTERM) or none' % stop_signal)
    # Test NONE: no probe at all, whatever else the image says of it.
    return {'Healthcheck': {'Test': ['NONE']}}


# Real-time signals as the engine names them: RTMIN+1..15, RTMAX-14..1
# (and RTMIN, RTMAX themselves, among the names below).
_RT_SIGNAL = re.compile(r'^RT(?:MIN\+(1[0-5]|[1-9])|MAX-(1[0-4]|[1-9]))$')
_SIGNAL_NAMES = frozenset(name[len('SIG'):]
                          for name in signal.Signals.__members__)


def valid_signal(name: str) -> bool:
    """Whether the engine knows ``name`` as a signal: a number, or a name
    with or without ``SIG``, in any case."""
    name = str(name).upper()
    if name.isdigit():
        return 0 < int(name) <= signal.SIGRTMAX
    name = name[len('SIG'):] if name.startswith('SIG') else name
    return name in _SIGNAL_NAMES or bool(_RT_SIGNAL.match(name))


def _security() -> Body:
    # Never privileged: that is root on the host with every device.
    # no-new-privileges: a setuid or file-capability binary in the image
    # cannot gain what the container was not given (capabilities
    # dropped above stay dropped).
    return {'HostConfig': {'Privileged': False,
                           'SecurityOpt': ['no-new-privileges']}}


def joins_a_sandbox(container_info: dict) -> bool:
    """Whether an inspected workload joins a sandbox (as
    :func:`_network` writes it). Workloads made before sandboxes existed
    have a namespace of their own and no ports."""
    mode = (container_info.get('HostConfig') or {}).get('NetworkMode', '')
    return mode.startswith(JOIN_PREFIX)


def _network(sandbox: str | None) -> Body:
    # Neutron owns the instance's network: the engine gives it none, and
    # the workload joins the namespace its sandbox holds, where the ports
    # are wired.
    if sandbox:
        return {'HostConfig': {'NetworkMode': JOIN_PREFIX + sandbox}}
    return {'HostConfig': {'NetworkMode': 'none'}}


def _command(image_meta, tty: bool = True) -> Body:
    """``os_command_line`` overrides the image's CMD; else the image's own.

    stdin is kept open so that an image whose command is an interactive
    shell (busybox's ``sh``) stays up like a booted machine instead of
    exiting on EOF at once; with ``tty`` it runs on a terminal, as a VM's
    getty on its serial port: the serial console is that terminal.
    """
    body: Body = {'OpenStdin': True, 'StdinOnce': False, 'Tty': tty}
    argv = command_override(image_meta)
    if argv:
        body['Cmd'] = argv
    return body


def command_override(image_meta) -> list[str] | None:
    """The image property ``os_command_line`` as an argv, or None.

    ImageUnacceptable, naming the property, if it is not a command line a
    shell would parse: the driver checks it before loading anything.
    """
    props = image_meta.properties
    if not (props.obj_attr_is_set('os_command_line') and
            props.os_command_line):
        return None
    try:
        return shlex.split(props.os_command_line)
    except ValueError as exc:
        raise exception.ImageUnacceptable(
            image_id=image_meta.id,
            reason='its os_command_line %r is not a valid command line '
                   '(%s): fix the image property, e.g. close its quotes'
                   % (props.os_command_line, exc)) from None


def _mounts(mounts) -> Body:
    return {'HostConfig': {'Mounts': [dict(m) for m in mounts]}} \
        if mounts else {}


def _ulimits(ulimits) -> Body:
    return {'HostConfig': {'Ulimits': [dict(u) for u in ulimits]}} \
        if ulimits else {}


def resource_limits(flavor, pids_limit: int,
                    hardening: Hardening | None = None,
                    host_cpus: int | None = None) -> Body:
    """The workload's limits of ``flavor`` (memory, CPU shares, CPU cap,
    pids) as a ``HostConfig`` fragment: what :func:`create_body` gives a
    new container and a resize gives an existing one (the engine's
    ``POST /containers/{id}/update`` takes the same fields)."""
    hardening = hardening or Hardening()
    return _merge(_memory(flavor), _cpu(flavor),
                  _cpu_hard_cap(flavor, hardening.cpu_hard_cap, host_cpus),
                  _pids(pids_limit)).get('HostConfig', {})


def _merge(*fragments: Body) -> Body:
    body: Body = {}
    for fragment in fragments:
        for key, value in fragment.items():
            if isinstance(value, dict):
                body.setdefault(key, {}).update(value)
            else:
                body[key] = value
    return body


def create_body(instance, image_meta, image_ref: str, pids_limit: int,
                image_id: str | None = None, *,
                hardening: Hardening | None = None,
                host_cpus: int | None = None, host: str | None = None,
                node: str | None = None,
                sandbox: str | None = None,
                image_config: dict | None = None,
                storage_opt=None, ulimits=(),
                own_hostname: bool = False, tty: bool = True,
                mounts=()) -> Body:
    """The ``POST /containers/create`` body for ``instance``.

    :param image_ref: the engine-local image to run (see nova_docker.images).
    :param image_id: the Glance image id, recorded as a label.
    :param hardening: the [docker] options' fences; None: their defaults.
    :param host_cpus: the engine's CPU count (``/info`` ``NCPU``), the
        most a CPU cap may say; None: not known.
    :param host, node: the compute service host and node, as labels.
    :param sandbox: the sandbox whose namespace (and hostname) the
        workload joins; None: a namespace of its own with no network.
    :param image_config: the engine-local image's ``Config`` (inspect):
        ImageUnacceptable if the body cannot pin what it would set.
    :param storage_opt: its disk bound (nova_docker.disk), None: none.
    :param ulimits: ``HostConfig.Ulimits`` the engine needs in every
        create (nova_docker.engine_facts.EngineFacts); empty: none.
    :param own_hostname: the workload carries the hostname though it
        joins a sandbox (an engine that shares no hostname, EngineFacts).
    :param tty: the workload runs on a terminal ([docker] workload_tty).
    :param mounts: ``HostConfig.Mounts`` entries: its volumes, config
        drive and resolution files (each module's own binds); empty: none.
    """
    flavor = instance.flavor
    hardening = hardening or Hardening()
    return _merge(
        {'Image': image_ref},
        _image_fields(image_id or image_meta.id, image_config),
        _workload_labels(instance, image_id, host, node, image_config),
        # Docker refuses a hostname on a container that joins another's
        # namespace: the sandbox carries it, unless the engine says.
        {} if sandbox and not own_hostname else _hostname(instance),
        _command(image_meta, tty),
        {'HostConfig': resource_limits(flavor, pids_limit, hardening,
                                       host_cpus)},
        _security(),
        _capabilities(hardening.cap_drop, hardening.cap_add),
        _log(hardening.log_max_size, hardening.log_max_files),
        _network(sandbox),
        {'HostConfig': {'StorageOpt': storage_opt}} if storage_opt else {},
        _ulimits(ulimits),
        _mounts(mounts),
    )


def sandbox_body(instance, image_ref: str, dns_servers=(), hosts=(), *,
                 host: str | None = None, node: str | None = None,
                 ulimits=(), serial_port: int | None = None) -> Body:
    """The ``POST /containers/create`` body of ``instance``'s sandbox.

    :param image_ref: the engine-local pause image (nova_docker.sandbox_image).
    :param dns_servers: its resolv.conf's name servers (the subnets'):
        IP addresses, else InvalidInput.
    :param hosts: (name, address) pairs for its /etc/hosts: RFC 1123
        names and IP addresses, else InvalidInput.
    :param ulimits: as :func:`create_body`'s.
    :param serial_port: the instance's serial console port, recorded as
        a label (None: it has no serial console).
    """
    servers, lines = _resolution(dns_servers, hosts)
    # Every label of ours, as on the workload: the sandbox image may be
    # any the operator names ([docker] sandbox_image).
    sandbox_labels = _labels({labels.LABEL_SANDBOX_OF: instance.uuid,
                              labels.LABEL_HOST: host,
                              labels.LABEL_NODE: node,
                              labels.LABEL_SERIAL_PORT:
                                  str(serial_port) if serial_port else None},
                             None)['Labels']
    host_config: Body = {
        'NetworkMode': 'none',
        'Memory': SANDBOX_MEMORY,
        'MemorySwap': SANDBOX_MEMORY,
        'PidsLimit': SANDBOX_PIDS,
        'CapDrop': ['ALL'],
        'ReadonlyRootfs': True,
        'Privileged': False,
        'SecurityOpt': ['no-new-privileges'],
        'LogConfig': {'Type': 'none', 'Config': {}},
        'ExtraHosts': lines,
    }
    if servers:
        host_config['Dns'] = servers
    # SIGKILL: the pause program, PID 1 without handlers, ignores SIGTERM.
    return _merge({'Image': image_ref, 'Labels': sandbox_labels,
                   'StopSignal': sandbox_image.STOP_SIGNAL,
                   'Healthcheck': {'Test': ['NONE']},
                   'HostConfig': host_config},
                  _hostname(instance), _ulimits(ulimits))

