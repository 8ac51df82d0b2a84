# nova loads 'compute_driver = docker.DockerDriver' as
# nova.virt.docker.DockerDriver: this shim is all the wheel puts under nova/.
from nova_docker.driver import DockerDriver  # noqa: F401
