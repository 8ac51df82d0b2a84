"""The file-system policy: what a volume holds decides what is done with
it. A volume with no signature at all is blank and may be formatted; ext4
and xfs are mounted as they are; anything else (a partition table, LUKS,
another file system, an unknown signature) is refused, so no data the
driver does not understand is ever overwritten or exposed half-read."""

import dataclasses

# File systems mounted as they are, and those a blank volume may get.
MOUNTABLE = ('ext4', 'xfs')


@dataclasses.dataclass(frozen=True)
class Decision:
    """``fstype`` to mount; ``mkfs`` True if it is to be made first;
    ``refusal`` (why not) instead when the volume is not to be used."""

    fstype: str | None = None
    mkfs: bool = False
    refusal: str | None = None


def parse_probe(output: str) -> dict[str, str]:
    """``blkid -p -o export`` output -> {KEY: value}."""
    found = {}
    for line in output.splitlines():
        key, sep, value = line.partition('=')
        if sep:
            found[key.strip()] = value.strip()
    return found


def decide(probe: dict[str, str], blank_fstype: str | None) -> Decision:
    """What to do with a volume whose low-level probe found ``probe``.

    :param blank_fstype: the file system a blank volume gets ([docker]
        blank_volume_filesystem); None: blank volumes are refused.
    """
    if 'AMBIVALENT' in probe:
        return Decision(refusal='it holds more than one signature; wipe '
                        'the ones that are not meant to be there')
    if 'PTTYPE' in probe:
        return Decision(refusal='it holds a partition table (%s); the '
                        'driver mounts a whole-volume ext4 or xfs file '
                        'system only' % probe['PTTYPE'])
    fstype = probe.get('TYPE')
    if fstype in MOUNTABLE:
        return Decision(fstype=fstype)
    if fstype:
        return Decision(refusal='it holds %s, which the driver does not '
                        'mount (ext4 and xfs are mounted; a volume with no '
                        'signature is formatted)' % fstype)
    if probe:
        return Decision(refusal='it holds a signature blkid does not name '
                        '(%s)' % ', '.join(sorted(probe)))
    if not blank_fstype:
        return Decision(refusal='it is blank, and [docker] '
                        'blank_volume_filesystem is none: format it '
                        'elsewhere with ext4 or xfs')
    return Decision(fstype=blank_fstype, mkfs=True)
