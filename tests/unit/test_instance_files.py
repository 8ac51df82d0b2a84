"""Each compute host's own trees in an instance's directory, so hosts
that share instances_path never take each other's files away."""

import os

import pytest

from nova_docker import instance_files


def _files(tmp_path, host):
    files = instance_files.InstanceFiles(str(tmp_path), 'tree', 'its tree')
    files.serve(host)
    return files


@pytest.mark.parametrize('host', ['compute-1', 'c1.example.org', 'C_2'])
def test_a_plain_host_name_is_kept(host):
    assert instance_files.tree_name('tree', host) == 'tree@' + host


@pytest.mark.parametrize('host', ['../up', 'a/b', '', '.hidden', 'x' * 65,
                                  'compute 1', 'nöde', 'a@b'])
def test_any_other_host_name_is_hashed_into_one_path_component(host):
    name = instance_files.tree_name('tree', host)
    assert name.startswith('tree@sha256-')
    assert len(name) == len('tree@sha256-') + 32
    assert '/' not in name and name.count('@') == 1


def test_distinct_hosts_have_distinct_trees():
    hosts = ['compute-1', 'compute-2', 'a/b', 'a_b', 'a:b']
    assert len({instance_files.tree_name('tree', h) for h in hosts}) == 5


def test_a_shared_instances_path_keeps_the_other_hosts_tree(tmp_path):
    # A moved instance on NFS: the source confirms while the target runs.
    source, target = _files(tmp_path, 'src'), _files(tmp_path, 'dst')
    source.write('u', {'f': b'source'})
    there = target.write('u', {'f': b'target'})

    source.remove('u')
    assert sorted(os.listdir(tmp_path / 'u')) == ['tree@dst']
    assert target.existing('u') == there
    assert source.existing('u') is None
    with open(os.path.join(there, 'f'), 'rb') as f:
        assert f.read() == b'target'

    target.remove('u')
    assert os.listdir(tmp_path) == []


def test_a_tree_written_before_hosts_had_their_own_is_read_and_removed(
        tmp_path):
    files = _files(tmp_path, 'compute-1')
    legacy = tmp_path / 'u' / 'tree'
    legacy.mkdir(parents=True)
    (legacy / 'f').write_bytes(b'kept')
    assert files.existing('u') == str(legacy)
    files.remove('u')
    assert os.listdir(tmp_path) == []


def test_a_host_tree_is_preferred_to_one_written_before(tmp_path):
    files = _files(tmp_path, 'compute-1')
    (tmp_path / 'u' / 'tree').mkdir(parents=True)
    own = files.write('u', {'f': b'new'})
    assert files.existing('u') == own


def test_files_of_no_host_are_a_programming_error(tmp_path):
    files = instance_files.InstanceFiles(str(tmp_path), 'tree', 'its tree')
    with pytest.raises(RuntimeError, match='serve'):
        files.write('u', {'f': b'x'})
    assert os.listdir(tmp_path) == []
