"""The file-system policy: what blkid found -> what is done. Pure."""

import pytest

from nova_docker.volume import filesystem


@pytest.mark.parametrize('output, fstype', [
    ('DEVNAME=/dev/loop3\nUUID=1-2\nVERSION=1.0\nTYPE=ext4\nUSAGE=filesystem\n',
     'ext4'),
    ('TYPE=xfs\nUSAGE=filesystem\n', 'xfs'),
])
def test_ext4_and_xfs_are_mounted_as_they_are(output, fstype):
    decision = filesystem.decide(filesystem.parse_probe(output), 'ext4')
    assert decision == filesystem.Decision(fstype=fstype)


def test_a_blank_volume_gets_the_configured_file_system():
    assert filesystem.decide({}, 'xfs') == filesystem.Decision(
        fstype='xfs', mkfs=True)
    assert filesystem.decide(filesystem.parse_probe(''), 'ext4').mkfs


def test_a_blank_volume_is_refused_when_told():
    decision = filesystem.decide({}, None)
    assert decision.refusal and 'blank_volume_filesystem' in decision.refusal
    assert not decision.mkfs


@pytest.mark.parametrize('output, words', [
    ('DEVNAME=/dev/loop3\nPTTYPE=dos\n', 'partition table (dos)'),
    ('PTUUID=x\nPTTYPE=gpt\n', 'partition table (gpt)'),
    ('VERSION=1\nTYPE=crypto_LUKS\nUSAGE=crypto\n', 'crypto_LUKS'),
    ('TYPE=btrfs\n', 'btrfs'),
    ('TYPE=swap\n', 'swap'),
    ('AMBIVALENT=1\n', 'more than one signature'),
    ('UUID=abc\n', 'does not name'),
    # A file system inside a partition table: the table wins.
    ('PTTYPE=dos\nTYPE=ext4\n', 'partition table'),
])
def test_anything_else_is_refused_and_never_formatted(output, words):
    decision = filesystem.decide(filesystem.parse_probe(output), 'ext4')
    assert words in decision.refusal
    assert not decision.mkfs and decision.fstype is None
