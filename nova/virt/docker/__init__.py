# nova loads 'compute_driver = docker.DockerDriver' as nova.virt.docker.DockerDriver.
from nova_docker.driver import DockerDriver  # noqa: F401
