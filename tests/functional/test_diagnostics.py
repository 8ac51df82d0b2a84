"""Server diagnostics from the real engine's stats."""

import pytest
from nova import exception

from tests.fixtures import nova_objects

# Writes 1 MB and burns some CPU, then idles.
BUSY = ("/bin/sh -c 'dd if=/dev/zero of=/root/blob bs=1024 count=1024 "
        "2>/dev/null; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; "
        "echo ready; while true; do sleep 1; done'")


def test_diagnostics_of_a_running_server(driver, engine, instances,
                                         busybox_image):
    inst = instances(flavor_obj=nova_objects.flavor(memory_mb=256))
    meta = nova_objects.image_meta(image_id=busybox_image.id,
                                   os_command_line=BUSY)
    driver.spawn(None, inst, meta, [], None, {})
    for _ in range(200):
        if b'ready' in engine.logs('nova-' + inst.uuid)[0]:
            break
    found = driver.get_diagnostics(inst)
    assert found['state'] == 'running'
    assert found['memory'] == 256 * 2 ** 20
    assert 0 < found['memory_used'] < found['memory']
    assert found['cpu_time'] > 0
    assert found['pids'] >= 1

    driver.power_off(inst)
    assert driver.get_diagnostics(inst)['state'] == 'exited'


def test_diagnostics_of_a_missing_server_is_instance_not_found(
        driver, instances):
    with pytest.raises(exception.InstanceNotFound):
        driver.get_diagnostics(instances())
