import pytest
from nova import exception

from nova_docker import container
from tests.unit import nova_objects


def body_for(instance=None, image_meta=None, pids_limit=100):
    return container.create_body(instance or nova_objects.instance(),
                                 image_meta or nova_objects.image_meta(),
                                 'glance/x:latest', pids_limit,
                                 image_id='img-1')


def test_name_and_labels_carry_the_instance():
    inst = nova_objects.instance(project_id='p-1')
    body = body_for(inst)
    assert container.container_name(inst) == 'nova-' + inst.uuid
    assert body['Labels'] == {
        container.LABEL_INSTANCE_UUID: inst.uuid,
        container.LABEL_INSTANCE_NAME: inst.name,
        container.LABEL_PROJECT_ID: 'p-1',
        container.LABEL_IMAGE_ID: 'img-1',
    }
    assert body['Image'] == 'glance/x:latest'
    assert body['Hostname'] == 'test-host'


def test_memory_is_the_flavor_with_no_extra_swap():
    inst = nova_objects.instance(nova_objects.flavor(memory_mb=64))
    host_config = body_for(inst)['HostConfig']
    assert host_config['Memory'] == 64 * 1024 * 1024
    assert host_config['MemorySwap'] == host_config['Memory']


def test_cpu_shares_scale_with_vcpus_and_quota_caps():
    flavor = nova_objects.flavor(vcpus=3, extra_specs={
        'quota:cpu_quota': '50000', 'quota:cpu_period': '100000'})
    host_config = body_for(nova_objects.instance(flavor))['HostConfig']
    assert host_config['CpuShares'] == 3 * 1024
    assert host_config['CpuQuota'] == 50000
    assert host_config['CpuPeriod'] == 100000


def test_no_cpu_cap_without_extra_specs():
    host_config = body_for()['HostConfig']
    assert 'CpuQuota' not in host_config
    assert 'CpuPeriod' not in host_config


@pytest.mark.parametrize('specs, words', [
    ({'quota:cpu_quota': 'lots'}, 'not an integer'),
    ({'quota:cpu_quota': '10'}, 'at least 1000'),
    ({'quota:cpu_period': '5'}, 'between 1000 and 1000000'),
])
def test_bad_cpu_extra_specs_are_refused_with_the_reason(specs, words):
    flavor = nova_objects.flavor(extra_specs=specs)
    with pytest.raises(exception.InvalidInput, match=words):
        body_for(nova_objects.instance(flavor))


def test_pids_limit_from_config_and_zero_means_unlimited():
    assert body_for(pids_limit=100)['HostConfig']['PidsLimit'] == 100
    assert 'PidsLimit' not in body_for(pids_limit=0)['HostConfig']


def test_never_privileged_no_new_privileges_no_engine_network():
    host_config = body_for()['HostConfig']
    assert host_config['Privileged'] is False
    assert 'no-new-privileges' in host_config['SecurityOpt']
    assert host_config['NetworkMode'] == 'none'


def test_command_from_os_command_line_else_the_images_own():
    meta = nova_objects.image_meta(os_command_line='/bin/sh -c "echo hi"')
    assert body_for(image_meta=meta)['Cmd'] == ['/bin/sh', '-c', 'echo hi']
    assert 'Cmd' not in body_for()


def test_label_filter_lists_ours_or_one():
    assert container.instance_label_filter() == {
        'label': [container.LABEL_INSTANCE_UUID]}
    assert container.instance_label_filter('u') == {
        'label': [container.LABEL_INSTANCE_UUID + '=u']}
