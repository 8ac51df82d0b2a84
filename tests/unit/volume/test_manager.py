"""Volumes: what is refused before the host is touched."""

import pytest

from nova_docker import exception as docker_exception
from nova_docker.volume import manager


def test_a_relative_volume_directory_is_refused_at_start():
    with pytest.raises(docker_exception.InvalidEngineConfig,
                       match='volume_mount_dir'):
        manager.Volumes(base='var/lib/volumes').init_host()
