"""200 boot/delete cycles through DockerDriver on the shared engine leave
nothing behind (benchmarks/soak.py runs the same cycles, with timings).

The run counts only its own objects (a project and an image label of its
own), so other runs sharing the engine do not disturb it. No timing is
asserted.
"""

import tempfile

import pytest

from benchmarks import soak as soak_mod
from nova_docker import driver as driver_mod
from nova_docker import host as host_mod

CYCLES = 200


@pytest.fixture
def soak(engine, tmp_path, monkeypatch):
    # engine: the shared engine must be up. Temp files of this process
    # go to tmp_path, which is what the soak counts.
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))
    driver_mod.CONF.set_override('image_download_dir', str(tmp_path),
                                 'docker')
    client = host_mod.client_from_conf()
    drv = driver_mod.DockerDriver(virtapi=None, host=host_mod.Host(client))
    drv.init_host('soak-node')
    run = soak_mod.Soak(drv, client, str(tmp_path))
    yield run
    run.close()
    driver_mod.CONF.clear_override('image_download_dir', 'docker')
    # Every boot named the cached image anew (glance/<id>:used): the
    # close removes that name too.
    names = {t for i in engine.images() for t in i.get('RepoTags') or []}
    assert not {t for t in names if t.startswith('glance/%s:' %
                                                  run.meta.id)}


def test_boot_delete_cycles_leak_nothing(soak):
    _seconds, leaked = soak.cycles(CYCLES)
    assert leaked == {}
    assert soak.counts()['containers'] == 0
