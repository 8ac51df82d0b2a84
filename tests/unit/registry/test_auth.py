"""Logins against an htpasswd file as Apache's ``htpasswd -B`` writes it."""

import base64
import shutil
import subprocess

import pytest

from nova_docker.registry import auth
from nova_docker.registry import errors
from tests.fixtures import registry as registry_fx


def _basic(user, password):
    return 'Basic ' + base64.b64encode(
        ('%s:%s' % (user, password)).encode()).decode()


@pytest.fixture
def htpasswd_file(tmp_path):
    if shutil.which('htpasswd') is None:
        pytest.fail('htpasswd is missing: tools/ensure-registry-tools.sh '
                    'installs apache2-utils')
    path = tmp_path / 'htpasswd'
    subprocess.run(['htpasswd', '-B', '-b', '-c', str(path), 'alice',
                    's3cret'], check=True, capture_output=True)
    return path


def test_an_htpasswd_B_entry_logs_in(htpasswd_file):
    checker = auth.HtpasswdAuth(str(htpasswd_file), {'alice': 'project-a'})

    principal = checker.principal(_basic('alice', 's3cret'))

    assert (principal.user, principal.project_id) == ('alice', 'project-a')


def test_a_wrong_password_is_unauthorized_with_a_challenge(htpasswd_file):
    checker = auth.HtpasswdAuth(str(htpasswd_file), {'alice': 'project-a'})

    with pytest.raises(errors.Unauthorized) as raised:
        checker.principal(_basic('alice', 'nope'))

    assert raised.value.headers['WWW-Authenticate'].startswith('Basic ')


def test_a_user_without_a_project_is_denied(htpasswd_file):
    checker = auth.HtpasswdAuth(str(htpasswd_file), {})

    with pytest.raises(errors.Denied) as raised:
        checker.principal(_basic('alice', 's3cret'))

    assert 'htpasswd_projects' in raised.value.message


def test_no_credentials_is_no_principal(htpasswd_file):
    checker = auth.HtpasswdAuth(str(htpasswd_file), {'alice': 'project-a'})
    assert checker.principal(None) is None


def test_a_keystone_that_is_down_is_unavailable_not_a_traceback():
    closed = 'http://127.0.0.1:%d/v3' % registry_fx.free_port()
    checker = auth.KeystoneAuth(closed, cache_seconds=0)

    with pytest.raises(errors.Unavailable) as raised:
        checker.principal(_basic('demo', 'secret'))

    assert raised.value.status == 503
    assert 'Keystone can not be reached' in raised.value.message
