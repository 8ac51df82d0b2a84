"""Cinder volumes in containers: os-brick connects a volume on the host,
the file-system policy decides what may be mounted, and a privileged
helper mounts it where the workload's ``/mnt`` sees it.

See :mod:`nova_docker.volume.layout` for how a mount reaches the
container's mount namespace, and why that way.
"""
