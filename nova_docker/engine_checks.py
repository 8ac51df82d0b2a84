"""What is unsafe about the engine nova-compute was given, as warnings.

Pure: the engine's ``GET /info`` reply and the ``[docker]`` options in,
sentences for the operator out. The driver logs them at start; nothing
here refuses to run, since each setting may be a deliberate choice.
"""


def _tls_off(opts) -> str | None:
    if opts.host_url.startswith('tcp://') and not opts.tls_enabled:
        return ('[docker] host_url %s is tcp:// with tls_enabled = false: '
                'the engine API, which is root on that host, travels in '
                'clear text and anyone who reaches the port can run '
                'containers there. Enable TLS (tls_enabled, ca_file, '
                'cert_file, key_file) unless the link is loopback or '
                'otherwise trusted.' % opts.host_url)
    return None


def _insecure(opts) -> str | None:
    if opts.api_insecure:
        return ('[docker] api_insecure = true: the engine\'s TLS '
                'certificate is not verified, so whoever can intercept '
                'the connection can pose as the engine and see or change '
                'every instance. Set ca_file instead.')
    return None


def _has_seccomp(info: dict) -> bool:
    # Entries read 'name=seccomp,profile=default'; 'profile=unconfined'
    # means the engine filters nothing by default.
    for entry in info.get('SecurityOptions') or []:
        fields = dict(part.partition('=')[::2] for part in entry.split(','))
        if fields.get('name') == 'seccomp':
            return fields.get('profile') != 'unconfined'
    return False


def _no_seccomp(info: dict) -> str | None:
    if not _has_seccomp(info):
        return ('The Docker Engine runs containers without a seccomp '
                'profile (GET /info SecurityOptions has no seccomp '
                'entry): every system call of the host kernel is open to '
                'instances, a kernel bug is a way out of one. Use an '
                'engine built with seccomp and its default profile.')
    return None


def _no_live_restore(keeps_running: bool) -> str | None:
    if not keeps_running:
        return ('The Docker Engine runs without live-restore: stopping or '
                'restarting dockerd (an upgrade, a crash) stops every '
                'instance on this host. Set "live-restore": true in '
                '/etc/docker/daemon.json and reload dockerd (SIGHUP) so '
                'instances keep running while it is away.')
    return None


def warnings(info: dict, opts, keeps_running: bool | None = None
             ) -> list[str]:
    """Warnings about the engine (``info``: its ``GET /info`` reply) and
    the way ``opts`` (the ``[docker]`` group) reach it. ``keeps_running``:
    whether instances outlive a stop of the engine (EngineFacts); by
    default what ``info`` says of live-restore."""
    if keeps_running is None:
        keeps_running = bool(info.get('LiveRestoreEnabled'))
    found = (_tls_off(opts), _insecure(opts), _no_seccomp(info),
             _no_live_restore(keeps_running))
    return [warning for warning in found if warning]
