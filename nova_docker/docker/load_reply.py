"""What ``POST /images/load`` did, read from the engine's reply.

The engine says it in English, one JSON line each, after HTTP 200:
``Loaded image ID: <id>`` for an image loaded without a name,
``Loaded image: <name>`` for a name it applied, and ``The image <name>
already exists, renaming the old one with ID <id> to empty string`` for a
name it took from another image. That wording is the engine's dialect;
it is read here, once, and the image pipeline gets :class:`LoadResult`.
"""

from __future__ import annotations

import dataclasses
import re

LOADED_ID = 'Loaded image ID: '
LOADED_NAME = 'Loaded image: '
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
                names.append(stream[len(LOADED_NAME):])
            else:
                match = _RENAMED.match(stream)
                if match:
                    renamed[match.group('name')] = match.group('id')
        return cls(tuple(ids), tuple(names), renamed,
                   lines[-1] if lines else None)
