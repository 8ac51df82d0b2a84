"""Real nova objects for tests: an instance, its flavor, an image."""

import uuid

from nova import objects

objects.register_all()


def flavor(memory_mb=512, vcpus=1, extra_specs=None, name='m1.tiny'):
    return objects.Flavor(name=name, memory_mb=memory_mb, vcpus=vcpus,
                          root_gb=1, ephemeral_gb=0, swap=0,
                          extra_specs=extra_specs or {})


def instance(flavor_obj=None, vm_state='active', task_state=None,
             **kwargs):
    instance_uuid = kwargs.pop('uuid', str(uuid.uuid4()))
    fields = dict(uuid=instance_uuid, hostname='test-host',
                  display_name='test', project_id='project-a',
                  user_id='user-a', vm_state=vm_state,
                  task_state=task_state, id=1, trusted_certs=None)
    fields.update(kwargs)
    inst = objects.Instance(**fields)
    inst.flavor = flavor_obj or flavor()
    return inst


def image_meta(image_id=None, container_format='docker', **properties):
    return objects.ImageMeta.from_dict({
        'id': image_id or str(uuid.uuid4()),
        'name': 'busybox:latest',
        'container_format': container_format,
        'disk_format': 'raw',
        'properties': properties,
    })
