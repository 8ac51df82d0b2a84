"""The consoles a person can use: the serial console
(:mod:`nova_docker.console.serial`)."""
