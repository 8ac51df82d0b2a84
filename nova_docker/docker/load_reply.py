"""What ``POST /images/load`` did, read from the engine's reply.

The engine says it in English, one JSON line each, after HTTP 200:
``Loaded image ID: <id>`` for an image loaded without a name,
``Loaded image: <name>`` for a name it applied, and ``The image <name>
already exists, renaming the old one with ID <id> to empty string`` for a
name it took from another image. Podman words it its own way: one
``Loaded image: <a>,<b>`` line naming every image, by name or, for one
loaded without a name, by its ``sha256:`` id. That wording is the
engine's dialect; it is read here, once, and the image pipeline gets
:class:`LoadResult`.
"""

from __future__ import annotations

import dataclasses
import re

from nova_docker.docker import references

LOADED_ID = 'Loaded image ID: '
LOADED_NAME = 'Loaded image: '
# An image id where a name would be (Podman's reply for an unnamed image).
_IMAGE_ID = re.compile(r'sha256:[0-9a-f]{64}\Z')
_RENAMED = re.compile(r'The image (?P<name>\S+) already exists, renaming '
                      r'the old one with ID (?P<id>\S+) to empty string')


@dataclasses.dataclass(frozen=True)
class LoadResult:
    """What a load did.

    :ivar image_ids: the ids of images loaded without a name.
    :ivar names: the names the load applied, in the engine's order.
    :ivar renamed: ``{name: id of the image it was taken from}`` for the
        applied names that another image held before.
    :ivar last: the engine's last reply line, only to quote in messages.
    """

    image_ids: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    renamed: dict[str, str] = dataclasses.field(default_factory=dict,
                                                hash=False)
    last: dict | None = dataclasses.field(default=None, compare=False,
                                          hash=False)

    @classmethod
    def from_lines(cls, lines: list[dict]) -> LoadResult:
        """Read the decoded JSON lines of a load's reply."""
        ids, names, renamed = [], [], {}
        for line in lines:
            stream = str(line.get('stream') or '').strip()
            if stream.startswith(LOADED_ID):
                ids.append(stream[len(LOADED_ID):])
            elif stream.startswith(LOADED_NAME):
                for loaded in stream[len(LOADED_NAME):].split(','):
                    if _IMAGE_ID.match(loaded):
                        ids.append(loaded)
                    else:
                        names.append(references.familiar(loaded))
            else:
                match = _RENAMED.match(stream)
                if match:
                    renamed[references.familiar(
                        match.group('name'))] = match.group('id')
        return cls(tuple(ids), tuple(names), renamed,
                   lines[-1] if lines else None)
