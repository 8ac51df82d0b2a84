"""What the cloud refuses, and says why."""

import os


def test_non_docker_image_is_refused_with_a_fault(cloud, tmp_path):
    demo = cloud.demo
    data = tmp_path / 'disk.img'
    data.write_bytes(os.urandom(64 * 1024))
    image = demo.json('image', 'create', '--container-format', 'bare',
                      '--disk-format', 'raw', '--file', str(data),
                      'not-a-container')
    server_id = None
    try:
        server_id = demo.json('server', 'create', '--image', image['id'],
                              '--flavor', 'm1.tiny', '--nic', 'none',
                              'refused')['id']
        server = cloud.wait_status(server_id, 'ERROR')
        fault = demo.json('server', 'show', server_id)['fault']
        # The demo user sees the reason: the format, named.
        assert 'container_format' in fault['message'], fault
        assert "'bare'" in fault['message'], fault
        # Refused by the driver on the host that was tried (not a
        # scheduling failure: nova clears the host of an aborted build),
        # and not retried elsewhere: nothing was made on either engine.
        assert 'No valid host' not in fault['message'], fault
        assert server['OS-EXT-SRV-ATTR:host'] is None
        assert cloud.hosts_holding(server_id) == []
    finally:
        if server_id:
            demo.run('server', 'delete', '--wait', server_id, check=False)
        demo.run('image', 'delete', image['id'], check=False)
