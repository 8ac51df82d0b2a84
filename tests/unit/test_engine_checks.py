"""Start-up warnings about the engine and how it is reached."""

import types

import pytest

from nova_docker import engine_checks

SAFE_INFO = {'SecurityOptions': ['name=apparmor',
                                 'name=seccomp,profile=default'],
             'LiveRestoreEnabled': True}


def opts(host_url='unix:///var/run/docker.sock', tls_enabled=True,
         api_insecure=False):
    return types.SimpleNamespace(host_url=host_url, tls_enabled=tls_enabled,
                                 api_insecure=api_insecure)


def test_a_well_set_up_engine_gives_no_warning():
    assert engine_checks.warnings(SAFE_INFO, opts()) == []
    assert engine_checks.warnings(
        SAFE_INFO, opts('tcp://10.0.0.1:2376')) == []


def test_tcp_without_tls_is_named():
    [warning] = engine_checks.warnings(
        SAFE_INFO, opts('tcp://10.0.0.1:2375', tls_enabled=False))
    assert 'tcp://10.0.0.1:2375' in warning
    assert 'clear text' in warning


def test_tls_off_does_not_matter_on_a_unix_socket():
    assert engine_checks.warnings(SAFE_INFO, opts(tls_enabled=False)) == []


def test_api_insecure_is_named():
    [warning] = engine_checks.warnings(
        SAFE_INFO, opts('tcp://10.0.0.1:2376', api_insecure=True))
    assert 'api_insecure' in warning
    assert 'not verified' in warning


@pytest.mark.parametrize('security_options', [
    [], None, ['name=apparmor'], ['name=seccomp,profile=unconfined']])
def test_an_engine_without_seccomp_is_named(security_options):
    info = dict(SAFE_INFO, SecurityOptions=security_options)
    [warning] = engine_checks.warnings(info, opts())
    assert 'seccomp' in warning


def test_no_live_restore_says_what_happens_and_the_fix():
    for info in (dict(SAFE_INFO, LiveRestoreEnabled=False),
                 {'SecurityOptions': SAFE_INFO['SecurityOptions']}):
        [warning] = engine_checks.warnings(info, opts())
        assert 'stops every instance' in warning
        assert '"live-restore": true' in warning
        assert 'daemon.json' in warning


def test_every_problem_at_once():
    warnings = engine_checks.warnings(
        {}, opts('tcp://h:2375', tls_enabled=False, api_insecure=True))
    assert len(warnings) == 4
