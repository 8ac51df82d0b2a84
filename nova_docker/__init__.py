"""nova-docker: run Nova instances as Docker containers."""


def __getattr__(name):
    # Lazy, so that importing nova_docker.docker (the engine client) does
    # not drag in nova.
    if name == 'DockerDriver':
        from nova_docker.driver import DockerDriver
        return DockerDriver
    raise AttributeError(name)
