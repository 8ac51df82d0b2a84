"""Files the driver writes for one instance and binds into its workload.

A tree of files lives under ``<[DEFAULT] instances_path>/<uuid>/<name>``
(the config drive, the name resolution files of an engine that gives a
joined workload none), written all or nothing: the files go into a
temporary directory beside it that is renamed into place, so a
container never binds half a tree, and a rewrite (a rebuild's new user
data) replaces the old tree whole.
"""

import os
import shutil
import tempfile

from nova import exception


class InstanceFiles:
    """The trees called ``name`` of this host's instances.

    :param what: the tree, for messages ("its config drive").
    :param dir_mode, file_mode: the modes of the directories and files.
    """

    def __init__(self, instances_path: str, name: str, what: str, *,
                 dir_mode: int = 0o700, file_mode: int = 0o600):
        self.instances_path = instances_path
        self.name = name
        self.what = what
        self.dir_mode = dir_mode
        self.file_mode = file_mode

    def instance_dir(self, instance_uuid: str) -> str:
        return os.path.join(self.instances_path, instance_uuid)

    def path(self, instance_uuid: str) -> str:
        return os.path.join(self.instance_dir(instance_uuid), self.name)

    def write(self, instance_uuid: str, files: dict[str, bytes]) -> str:
        """Write ``files`` ({relative path: bytes}) as the instance's
        tree, replacing any it had; its path. A failure removes what was
        written (and the instance's directory, if it made it) before
        InstanceDeployFailure."""
        top = self.instance_dir(instance_uuid)
        made_top = not os.path.isdir(top)
        try:
            os.makedirs(top, exist_ok=True)
            staging = tempfile.mkdtemp(prefix='.%s-' % self.name, dir=top)
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
        """Remove the instance's tree (and any half-written one), then its
        directory if nothing else is in it."""
        top = self.instance_dir(instance_uuid)
        if not os.path.isdir(top):
            return
        for name in os.listdir(top):
            if name == self.name or name.startswith('.' + self.name + '-'):
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
