"""A server set up at boot: ``--config-drive true --user-data ...
--property role=web``, read back from inside it through its console log
(``openstack console log show``)."""

import json
import os

from tests.cloud import cloud as cloud_mod

IMAGE = 'cloud-tests-config-drive'
SEED = '/var/lib/cloud/seed/config_drive/openstack/latest'
USER_DATA = '#!/bin/sh\necho set up by its user data\n'
# Prints the drive's metadata on one line and its user data, then idles
# (and leaves at once on SIGTERM).
SHOW = ("/bin/sh -c 'trap \"exit 0\" TERM; "
        "echo \"meta: $(cat %s/meta_data.json)\"; cat %s/user_data; "
        "echo shown; sleep 100000 & wait'" % (SEED, SEED))


def _instances_path(host):
    # tools/cloud/config.sh: instances_path = $DATA/<host>/instances.
    return os.path.join(cloud_mod.STATE, 'data', host, 'instances')


def test_config_drive_read_back_through_the_console(cloud, busybox_tar,
                                                    tmp_path):
    demo = cloud.demo
    script = tmp_path / 'script.sh'
    script.write_text(USER_DATA)
    image = demo.json('image', 'create', '--container-format', 'docker',
                      '--disk-format', 'raw', '--file', str(busybox_tar),
                      '--property', 'os_command_line=' + SHOW, IMAGE)
    server_id = None
    try:
        created = demo.json('server', 'create', '--image', image['id'],
                            '--flavor', 'm1.tiny', '--network', 'private',
                            '--config-drive', 'true',
                            '--user-data', str(script),
                            '--property', 'role=web', 'configured')
        server_id = created['id']
        server = cloud.wait_status(server_id, 'ACTIVE')
        host = cloud.host_of(server)

        out = cloud.wait_console(server_id, text='shown')
        # (A console with a TTY ends its lines with \r\n.)
        [line] = [x.strip() for x in out.splitlines()
                  if x.startswith('meta: ')]
        meta = json.loads(line[len('meta: '):])
        assert meta['uuid'] == server_id
        assert meta['name'] == 'configured'
        assert meta['meta'] == {'role': 'web'}
        assert 'set up by its user data' in out
        assert os.listdir(_instances_path(host)) == [server_id]

        demo.run('server', 'delete', '--wait', server_id)
        cloud.wait_gone(server_id)
        server_id = None
        assert os.listdir(_instances_path(host)) == []
    finally:
        if server_id:
            demo.run('server', 'delete', '--wait', server_id, check=False)
        demo.run('image', 'delete', image['id'], check=False)
