"""Image names as Docker shows them, whichever engine answers.

Docker shows an image of Docker Hub by its familiar name (``glance/x:latest``,
``busybox:latest``); Podman shows the same image fully qualified
(``docker.io/glance/x:latest``, ``docker.io/library/busybox:latest``).
The client hands every name over in Docker's form, so what reads names
(the image cache, the loader's check of applied names) reads one form.
"""

_HUB = 'docker.io/'
_OFFICIAL = _HUB + 'library/'


def familiar(name: str) -> str:
    """``name`` as Docker shows it: without the default registry, and
    without ``library/`` for an official image."""
    if name.startswith(_OFFICIAL):
        return name[len(_OFFICIAL):]
    if name.startswith(_HUB):
        return name[len(_HUB):]
    return name


def familiar_tags(image: dict) -> dict:
    """An image of ``GET /images/json`` or ``/images/{name}/json`` with
    its ``RepoTags`` in Docker's form."""
    if image.get('RepoTags'):
        image['RepoTags'] = [familiar(tag) for tag in image['RepoTags']]
    return image
