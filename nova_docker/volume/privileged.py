"""The privileged half of volumes: probing, formatting and mounting block
devices on the host, run by an oslo.privsep helper of its own (it needs
CAP_SYS_ADMIN to mount, not the network helper's capabilities).

Every entry point takes plain data (paths) since privsep sends its
arguments over a socket. Paths are the driver's own directories (see
:mod:`nova_docker.volume.layout`): nothing here resolves a path the
workload can write, and nothing is ever deleted but empty directories.
"""

import ctypes
import ctypes.util
import errno
import os
import re
import stat

from oslo_concurrency import processutils
from oslo_privsep import capabilities as caps
from oslo_privsep import priv_context

from nova_docker import conf as docker_conf

# CAP_SYS_ADMIN for mount and umount; CAP_DAC_OVERRIDE to open the
# block devices and the driver's directories whoever owns them.
mount_admin = priv_context.PrivContext(
    'nova_docker',
    cfg_section=docker_conf.VOLUME_PRIVSEP_GROUP,
    pypath=__name__ + '.mount_admin',
    capabilities=[caps.CAP_SYS_ADMIN, caps.CAP_DAC_OVERRIDE],
)

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_BIND = 0x1000
MS_SHARED = 1 << 20
UMOUNT_NOFOLLOW = 0x8
MNT_DETACH = 0x2
# blkid's exit codes: nothing found, and more than one signature.
BLKID_NOTHING = 2
BLKID_AMBIVALENT = 8
MKFS = {'ext4': ('mkfs.ext4', '-q'), 'xfs': ('mkfs.xfs', '-q')}

_ESCAPED = re.compile(r'\\([0-7]{3})')
_libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)


def _check(result: int, what: str, path: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, '%s %s: %s' % (what, path, os.strerror(err)))


def _mount(source, target: str, fstype, flags: int) -> None:
    _check(_libc.mount(source and os.fsencode(source), os.fsencode(target),
                       fstype and os.fsencode(fstype), flags, None),
           'mount', target)


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as \ooo.
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 8)), field)


def mounts() -> dict[str, str]:
    """{mount point: 'major:minor'} of this mount namespace (the last
    mount on a point wins, as it is the one seen)."""
    found = {}
    with open('/proc/self/mountinfo') as f:
        for line in f:
            fields = line.split()
            found[_unescape(fields[4])] = fields[2]
    return found


def _device_number(device: str) -> str:
    rdev = os.stat(device).st_rdev
    return '%d:%d' % (os.major(rdev), os.minor(rdev))


@mount_admin.entrypoint
def share_dir(path: str) -> None:
    """Make ``path`` a shared mount (a bind of itself if it is not a
    mount point), so that what is mounted under it propagates to the
    workloads' ``rslave`` binds of its subdirectories."""
    os.makedirs(path, 0o755, exist_ok=True)
    if path not in mounts():
        _mount(path, path, None, MS_BIND)
    _mount(None, path, None, MS_SHARED)


@mount_admin.entrypoint
def make_dir(path: str) -> None:
    os.makedirs(path, 0o755, exist_ok=True)


@mount_admin.entrypoint
def probe(device: str) -> str:
    """``blkid -p -o export`` of ``device``: its signatures, read from
    the device itself (no cache); '' when it holds none."""
    out, _err = processutils.execute(
        'blkid', '-p', '-o', 'export', device,
        check_exit_code=[0, BLKID_NOTHING, BLKID_AMBIVALENT])
    if not out.strip() and _ambivalent(device):
        return 'AMBIVALENT=1\n'
    return out


def _ambivalent(device: str) -> bool:
    _out, err = processutils.execute('blkid', '-p', device,
                                     check_exit_code=False)
    return 'ambivalent' in err


@mount_admin.entrypoint
def make_filesystem(device: str, fstype: str) -> None:
    """Format a blank ``device``; when that fails, wipe what it wrote so
    the volume is blank again rather than half a file system."""
    try:
        processutils.execute(*MKFS[fstype], device)
    except processutils.ProcessExecutionError:
        processutils.execute('wipefs', '-a', device, check_exit_code=False)
        raise


@mount_admin.entrypoint
def mount_volume(device: str, fstype: str, target: str) -> bool:
    """Mount ``device`` on ``target`` (made if missing), without device
    files or set-uid programs; True if mounted now, False if it was
    already. A target that holds another device is refused."""
    number = _device_number(device)
    held = mounts().get(target)
    if held == number:
        return False
    if held is not None:
        raise OSError(errno.EBUSY, '%s holds another device (%s), not %s'
                      % (target, held, device))
    try:
        os.mkdir(target, 0o755)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(target).st_mode):
            raise
    try:
        _mount(device, target, fstype, MS_NODEV | MS_NOSUID)
    except OSError:
        # The workload would see an empty directory as if it were the
        # volume.
        os.rmdir(target)
        raise
    return True


@mount_admin.entrypoint
def unmount_volume(target: str, lazy: bool = False,
                   keep_dir: bool = False) -> bool:
    """Unmount ``target`` and remove its directory (unless ``keep_dir``);
    True if it was mounted. EBUSY (an OSError) while something still uses
    it, unless ``lazy``: then it goes once no one does."""
    mounted = target in mounts()
    if mounted:
        _check(_libc.umount2(os.fsencode(target),
                             UMOUNT_NOFOLLOW | (MNT_DETACH if lazy else 0)),
               'umount', target)
    if not keep_dir:
        try:
            os.rmdir(target)
        except FileNotFoundError:
            pass
    return mounted


@mount_admin.entrypoint
def mounted_under(path: str) -> list[str]:
    """The mount points below ``path``."""
    prefix = path.rstrip('/') + '/'
    return sorted(p for p in mounts() if p.startswith(prefix))


@mount_admin.entrypoint
def remove_dir(path: str) -> None:
    """Remove an instance's volume directory: its empty subdirectories,
    then itself. A mount or a file left there is an OSError."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for name in names:
        os.rmdir(os.path.join(path, name))
    os.rmdir(path)


@mount_admin.entrypoint
def grow(device: str, fstype: str, target: str) -> None:
    """Grow the mounted file system to its device's size."""
    if fstype == 'xfs':
        processutils.execute('xfs_growfs', target)
    else:
        processutils.execute('resize2fs', device)


@mount_admin.entrypoint
def mount_of(device: str, under: str) -> str | None:
    """Where below ``under`` ``device`` is mounted; None: nowhere."""
    number = _device_number(device)
    prefix = under.rstrip('/') + '/'
    for point, held in sorted(mounts().items()):
        if point.startswith(prefix) and held == number:
            return point
    return None
