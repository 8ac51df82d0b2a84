"""The one boundary where engine errors become nova exceptions."""

import pytest
from nova import exception

from nova_docker.docker import errors
from nova_docker import exception as docker_exception

UUID = 'e2f4c3f0-0000-4000-8000-000000000003'


def raised(exc, **kwargs):
    with pytest.raises(Exception) as caught:
        with docker_exception.engine_boundary(**kwargs):
            raise exc
    return caught.value


def test_an_engine_that_is_gone_is_unavailable_whatever_the_call():
    translated = raised(errors.EngineUnreachable('refused'),
                        api_error=lambda exc: ValueError('not this'))
    assert isinstance(translated, docker_exception.EngineUnavailable)
    assert isinstance(translated, exception.HypervisorUnavailable)


def test_a_missing_container_of_an_instance_is_instance_not_found():
    translated = raised(errors.NotFound('404', 404, 'No such container'),
                        instance_uuid=UUID)
    assert isinstance(translated, exception.InstanceNotFound)
    assert UUID in str(translated)


def test_a_refusal_means_what_the_call_says_it_means():
    refusal = errors.Conflict('409', 409, 'name in use')
    translated = raised(refusal, api_error=lambda exc: (
        exception.InstanceDeployFailure(
            reason=docker_exception.reason(exc))))
    assert isinstance(translated, exception.InstanceDeployFailure)
    assert 'name in use' in str(translated)
    assert translated.__cause__ is refusal


def test_a_refusal_the_call_gives_no_meaning_passes_through():
    refusal = errors.Conflict('409', 409, 'not running')
    assert raised(refusal) is refusal
    assert raised(refusal, api_error=lambda exc: None) is refusal
