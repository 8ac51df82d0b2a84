"""nova-docker-registry in the cloud: ``docker login`` as the Keystone
demo user, ``docker push`` into the cloud's Glance, then a boot of the
pushed tag through the real CLI."""

import os

from tests.cloud import cloud as cloud_mod
from tests.fixtures import registry as registry_fx

REGISTRY = '127.0.0.1:5042'
LINE = 'hello from a pushed image'
CMD = ('/bin/sh', '-c',
       "trap 'exit 0' TERM; echo %s; sleep 100000 & wait" % LINE)


def _demo_password():
    with open(os.path.join(cloud_mod.STATE, 'etc', 'secrets.env')) as f:
        secrets = dict(line.strip().split('=', 1) for line in f
                       if '=' in line)
    return secrets['DEMO_PASSWORD']


def test_a_push_as_the_demo_user_lands_in_glance_and_boots(cloud):
    cli = registry_fx.DockerCLI()
    cli.setUp()
    ref = REGISTRY + '/pushed:1'
    server_id = image_id = None
    try:
        cli.login(REGISTRY, 'demo', _demo_password())
        registry_fx.build_layered_image(cli, ref, layers=2, cmd=CMD)
        cli.run('push', ref)

        image = cloud.demo.json('image', 'show', 'pushed:1')
        image_id = image['id']
        project = cloud.admin.json('project', 'show', 'demo')
        assert image['owner'] == project['id']
        assert (image['container_format'], image['disk_format'],
                image['visibility']) == ('docker', 'raw', 'private')

        created = cloud.demo.json('server', 'create', '--image', 'pushed:1',
                                  '--flavor', 'm1.tiny', '--nic', 'none',
                                  'pushed')
        server_id = created['id']
        cloud.wait_status(server_id, 'ACTIVE')
        assert LINE in cloud.wait_console(server_id, LINE)
    finally:
        if server_id:
            cloud.demo.run('server', 'delete', '--wait', server_id,
                           check=False)
        if image_id:
            cloud.demo.run('image', 'delete', image_id, check=False)
        for hidden in cloud.admin.json('image', 'list', '--hidden',
                                       '--property',
                                       'nova_docker_repository=pushed'):
            cloud.admin.run('image', 'delete', hidden['ID'], check=False)
        cli.run('rmi', '-f', ref, check=False)
        cli.cleanUp()
