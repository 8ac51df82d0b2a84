"""Names, tags and digests as the distribution spec writes them, and the
Glance image name that stands for a tag.

Repository ``app`` with tag ``1`` is the Glance image named ``app:1``.
"""

import re

from nova_docker.registry import errors

# The distribution spec's grammar: path components of lowercase
# alphanumerics joined by one separator ('.', '_', '__' or dashes).
_COMPONENT = r'[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*'
NAME = re.compile(r'%s(?:/%s)*' % (_COMPONENT, _COMPONENT))
TAG = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}')
DIGEST = re.compile(r'[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+')
SHA256 = re.compile(r'sha256:[a-f0-9]{64}')

DEFAULT_TAG = 'latest'
GLANCE_NAME_MAX = 255
# What a name may take up of a Glance name: the rest is ':' and a tag.
NAME_MAX = GLANCE_NAME_MAX - 2


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise errors.NameInvalid(
            'invalid repository name %r: use lowercase letters, digits and '
            'single separators (. _ __ -) between path components' % name,
            detail={'name': name})
    if len(name) > NAME_MAX:
        raise errors.NameInvalid(
            'repository name is %d characters; with its tag it must fit a '
            'Glance image name (%d characters)' % (len(name), GLANCE_NAME_MAX),
            detail={'name': name})
    return name


def check_tag(name: str, tag: str) -> str:
    if not TAG.fullmatch(tag):
        raise errors.TagInvalid(
            'invalid tag %r: up to 128 letters, digits, _ . -, not '
            'starting with . or -' % tag, detail={'tag': tag})
    if len(glance_name(name, tag)) > GLANCE_NAME_MAX:
        raise errors.TagInvalid(
            '%s:%s is %d characters, longer than a Glance image name may '
            'be (%d): use a shorter tag or repository name'
            % (name, tag, len(glance_name(name, tag)), GLANCE_NAME_MAX),
            detail={'tag': tag})
    return tag


def is_digest(reference: str) -> bool:
    return ':' in reference


def check_digest(digest: str, error=errors.DigestInvalid) -> str:
    if not DIGEST.fullmatch(digest or ''):
        raise error('invalid digest %r: expected algorithm:hex' % digest,
                    detail={'digest': digest})
    if not SHA256.fullmatch(digest):
        raise error('unsupported digest %r: this registry keeps sha256 '
                    'digests of 64 lowercase hex digits' % digest,
                    detail={'digest': digest})
    return digest


def glance_name(name: str, tag: str) -> str:
    return '%s:%s' % (name, tag)


def split_glance_name(image_name: str | None) -> tuple[str, str] | None:
    """``(repository, tag)`` if a Glance image name reads as one; a name
    without a tag (a Nova snapshot's, say) is its ``latest``, as Docker
    reads a reference without one."""
    if not image_name:
        return None
    if ':' not in image_name:
        return (image_name, DEFAULT_TAG) if NAME.fullmatch(
            image_name) else None
    name, _, tag = image_name.rpartition(':')
    if NAME.fullmatch(name) and TAG.fullmatch(tag):
        return name, tag
    return None
