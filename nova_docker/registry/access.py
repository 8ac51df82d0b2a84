"""Who may see a Glance image, as Glance decides it, applied by the
registry itself so the rules hold even behind a Glance that trusts the
registry as an admin.
"""

from collections.abc import Callable

from nova_docker.registry.auth import Principal

# Lower sorts first: a project's own image wins over one shared with it,
# which wins over a public one.
OWN, SHARED, PUBLIC, COMMUNITY = range(4)


def standing(image: dict, principal: Principal,
             member_status: Callable[[str], str | None]) -> int | None:
    """How ``image`` stands to ``principal`` (OWN ... COMMUNITY), or None
    when it may not see it. ``member_status(image_id)`` is the caller's
    membership status of a shared image."""
    visibility = image.get('visibility')
    if principal.project_id and image.get('owner') == principal.project_id:
        return OWN
    if visibility == 'public':
        return PUBLIC
    if principal.anonymous:
        return None
    if visibility == 'community':
        return COMMUNITY
    if visibility == 'shared' and member_status(image['id']) == 'accepted':
        return SHARED
    if principal.admin:
        return COMMUNITY
    return None


def answers_plain_name(image: dict, principal: Principal) -> bool:
    """May ``image`` answer its plain name (``app:1``) to ``principal``?

    Only the caller's own project's images and public ones (which only
    Glance admins can make, by Glance's default policy) do. An image
    another project shares or makes community answers only under a name
    that carries its owner or its id, so no project can put an image
    under a name another project pulls."""
    if principal.project_id and image.get('owner') == principal.project_id:
        return True
    return image.get('visibility') == 'public'


def may_change(image: dict, principal: Principal) -> bool:
    """A push replaces or deletes only the caller's own project's images."""
    return bool(principal.project_id and
                image.get('owner') == principal.project_id)


def ranked(images: list[dict], principal: Principal,
           member_status: Callable[[str], str | None]) -> list[dict]:
    """The images ``principal`` may see, best first: own, shared, public,
    community; newest first within each."""
    seen = []
    for image in images:
        rank = standing(image, principal, member_status)
        if rank is not None:
            seen.append((rank, image))
    seen.sort(key=lambda pair: pair[1].get('created_at') or '',
              reverse=True)
    seen.sort(key=lambda pair: pair[0])
    return [image for _, image in seen]
