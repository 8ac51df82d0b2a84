"""Files the driver writes for one instance and binds into its workload.

A tree of files lives under ``<[DEFAULT] instances_path>/<uuid>/<name>@<host>``
(the config drive, the name resolution files), written all or nothing: the
files go into a temporary directory beside it that is renamed into place,
so a container never binds half a tree, and a rewrite (a rebuild's new
user data) replaces the old tree whole.

The tree is the compute host's own. Operators often share instances_path
between hosts (NFS, for libvirt's live migration); a moved instance's
uuid directory is then the same on its source and its target, which both
bind files from it while the move is unconfirmed. Each host writes,
reads and removes only its own trees, so the source's confirm (or the
target's clean-up of a failed arrival, or of a revert) never takes away
the files the other host's containers bind. Trees written before a host
had its own (``<uuid>/<name>``) are still read and removed.
"""

import hashlib
import os
import re
import shutil
import tempfile

from nova import exception

# A host name kept as it is in a file name; any other is hashed. '@' is
# not in it, so a kept name can never read as another's hash.
_PLAIN_HOST = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]{0,63}')


def tree_name(name: str, host: str) -> str:
    """The name of ``host``'s tree ``name`` in an instance's directory."""
    if _PLAIN_HOST.fullmatch(host):
        return '%s@%s' % (name, host)
    return '%s@sha256-%s' % (
        name, hashlib.sha256(host.encode('utf-8')).hexdigest()[:32])


class InstanceFiles:
    """The trees called ``name`` of this host's instances.

    :param what: the tree, for messages ("its config drive").
    :param dir_mode, file_mode: the modes of the directories and files.

    Its trees are those of the compute host named by :meth:`serve`,
    which the driver's ``init_host`` calls before any other method.
    """

    def __init__(self, instances_path: str, name: str, what: str, *,
                 dir_mode: int = 0o700, file_mode: int = 0o600):
        self.instances_path = instances_path
        self.name = name
        self.what = what
        self.dir_mode = dir_mode
        self.file_mode = file_mode
        self._tree: str | None = None

    def serve(self, host: str) -> None:
        """Write, read and remove the trees of the compute host ``host``."""
        self._tree = tree_name(self.name, host)

    @property
    def tree(self) -> str:
        if self._tree is None:
            raise RuntimeError('%s has no host: call serve() first'
                               % type(self).__name__)
        return self._tree

    def instance_dir(self, instance_uuid: str) -> str:
        return os.path.join(self.instances_path, instance_uuid)

    def path(self, instance_uuid: str) -> str:
        """Where this host's tree of the instance is (or would be)."""
        return os.path.join(self.instance_dir(instance_uuid), self.tree)

    def existing(self, instance_uuid: str) -> str | None:
        """The instance's tree this host wrote, if it has one: its own,
        else one written before hosts had their own; None if neither."""
        for path in (self.path(instance_uuid),
                     os.path.join(self.instance_dir(instance_uuid),
                                  self.name)):
            if os.path.isdir(path):
                return path
        return None

    def write(self, instance_uuid: str, files: dict[str, bytes]) -> str:
        """Write ``files`` ({relative path: bytes}) as the instance's
        tree, replacing any it had; its path. A failure removes what was
        written (and the instance's directory, if it made it) before
        InstanceDeployFailure."""
        tree, top = self.tree, self.instance_dir(instance_uuid)
        made_top = not os.path.isdir(top)
        try:
            os.makedirs(top, exist_ok=True)
            staging = tempfile.mkdtemp(prefix='.%s-' % tree, dir=top)
        except OSError as exc:
            raise self._failure(top, exc) from None
        try:
            for path, data in files.items():
                self._write_file(staging, path, data)
            _replace(staging, self.path(instance_uuid))
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if made_top:
                _remove_if_empty(top)
            raise self._failure(top, exc) from None
        return self.path(instance_uuid)

    def _failure(self, top: str, exc: OSError) -> Exception:
        return exception.InstanceDeployFailure(
            reason='%s could not be written under %s (%s): check that '
                   '[DEFAULT] instances_path is a writable directory with '
                   'free space' % (self.what, top, exc))

    def remove(self, instance_uuid: str) -> None:
        """Remove this host's tree of the instance (and any half-written
        one, and one written before hosts had their own), then its
        directory if nothing else (another host's tree) is in it."""
        top = self.instance_dir(instance_uuid)
        if not os.path.isdir(top):
            return
        for name in os.listdir(top):
            if name in (self.tree, self.name) or name.startswith(
                    '.' + self.tree + '-'):
                shutil.rmtree(os.path.join(top, name))
        _remove_if_empty(top)

    def _write_file(self, staging: str, path: str, data: bytes) -> None:
        full = os.path.join(staging, path)
        self._make_dirs(staging, os.path.dirname(path))
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                     os.O_NOFOLLOW, self.file_mode)
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        # The umask must not narrow what a workload's users may read.
        os.chmod(full, self.file_mode)

    def _make_dirs(self, staging: str, relative: str) -> None:
        current = staging
        for part in [p for p in relative.split('/') if p]:
            current = os.path.join(current, part)
            if not os.path.isdir(current):
                os.mkdir(current, self.dir_mode)


def _replace(staging: str, final: str) -> None:
    # rename() will not replace a non-empty directory: the old tree steps
    # aside first, and goes once the new one is in place.
    old = None
    if os.path.lexists(final):
        old = staging + '.old'
        os.rename(final, old)
    os.rename(staging, final)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def _remove_if_empty(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        # Not empty (nova or an operator keeps something there) or gone.
        pass
