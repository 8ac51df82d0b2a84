"""The driver's record: container names and labels."""

from nova_docker import labels
from tests.fixtures import nova_objects


def test_names_say_whose_workload_and_sandbox_they_are():
    inst = nova_objects.instance()
    assert labels.container_name(inst) == 'nova-' + inst.uuid
    assert labels.sandbox_name(inst) == 'nova-%s-sandbox' % inst.uuid


def test_label_filter_lists_ours_or_one():
    assert labels.instance_label_filter() == {
        'label': [labels.LABEL_INSTANCE_UUID]}
    assert labels.instance_label_filter('u') == {
        'label': [labels.LABEL_INSTANCE_UUID + '=u']}


def test_every_label_constant_is_a_known_label():
    # A label added later without joining KNOWN_LABELS would be one an
    # image could set on every container.
    constants = {value for name, value in vars(labels).items()
                 if name.startswith('LABEL_') and name != 'LABEL_PREFIX'}
    assert constants == set(labels.KNOWN_LABELS)


def test_a_listed_container_says_whose_it_is():
    uuid = 'e2f4c3f0-0000-4000-8000-000000000002'
    workload = {'Labels': {labels.LABEL_INSTANCE_UUID: uuid,
                           labels.LABEL_SANDBOX_OF: ''}}
    sandbox = {'Labels': {labels.LABEL_INSTANCE_UUID: '',
                          labels.LABEL_SANDBOX_OF: uuid}}
    assert (labels.instance_of(workload), labels.sandbox_of(workload)) == (
        uuid, None)
    assert (labels.instance_of(sandbox), labels.sandbox_of(sandbox)) == (
        None, uuid)
    assert labels.host_label_filter('cmp-1') == {
        'label': [labels.LABEL_HOST + '=cmp-1']}
