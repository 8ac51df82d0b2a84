"""Who is calling: Basic credentials checked against htpasswd or Keystone.

``docker login`` sends the user's name and password as Basic
authentication, and so do the pushes and pulls after it. Each
authenticator turns them into a :class:`Principal`: the project that owns
what the user pushes, and, with Keystone, a token scoped to it so Glance
can be called as the user.
"""

import base64
import binascii
import dataclasses
import hashlib
import os
import threading
import time

import bcrypt
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from oslo_log import log as logging

from nova_docker.registry import errors

LOG = logging.getLogger(__name__)

REALM = 'nova-docker-registry'
CHALLENGE = {'WWW-Authenticate': 'Basic realm="%s"' % REALM}


@dataclasses.dataclass(frozen=True)
class Principal:
    """A caller: ``project_id`` is None for an anonymous one."""

    user: str | None
    project_id: str | None
    admin: bool = False
    token: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.project_id is None


ANONYMOUS = Principal(None, None)


def unauthorized(message: str) -> errors.Unauthorized:
    return errors.Unauthorized(message, headers=CHALLENGE)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic`` header."""
    if not header:
        return None
    scheme, _, value = header.partition(' ')
    if scheme.lower() != 'basic':
        raise unauthorized('only Basic authentication is supported here: '
                           'run docker login')
    try:
        user, sep, password = base64.b64decode(
            value.strip(), validate=True).decode('utf-8').partition(':')
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized('malformed Basic credentials') from None
    if not sep or not user:
        raise unauthorized('malformed Basic credentials')
    return user, password


class _Cache:
    """Recently verified logins, so a push of many blobs does not pay a
    bcrypt check or a Keystone round trip per request."""

    def __init__(self, seconds: int):
        self._seconds = seconds
        self._entries: dict[tuple, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(user: str, password: str) -> tuple:
        return user, hashlib.sha256(password.encode()).digest()

    def get(self, user: str, password: str) -> Principal | None:
        with self._lock:
            entry = self._entries.get(self._key(user, password))
        if entry and entry[0] > time.monotonic():
            return entry[1]
        return None

    def put(self, user: str, password: str, principal: Principal) -> None:
        if self._seconds:
            with self._lock:
                self._entries[self._key(user, password)] = (
                    time.monotonic() + self._seconds, principal)


class Authenticator:
    """Base: checks Basic credentials, with a cache of good ones."""

    def __init__(self, cache_seconds: int):
        self._cache = _Cache(cache_seconds)

    def principal(self, header: str | None) -> Principal | None:
        """The caller, or None without credentials; Unauthorized when the
        credentials are wrong."""
        credentials = basic_credentials(header)
        if credentials is None:
            return None
        user, password = credentials
        principal = self._cache.get(user, password)
        if principal is None:
            principal = self.check(user, password)
            self._cache.put(user, password, principal)
        return principal

    def check(self, user: str, password: str) -> Principal:
        raise NotImplementedError


class HtpasswdAuth(Authenticator):
    """bcrypt entries of an htpasswd file (``htpasswd -B``), each user
    mapped to a Glance owner by ``htpasswd_projects``."""

    def __init__(self, path: str, projects: dict[str, str],
                 admins=(), cache_seconds: int = 60):
        super().__init__(cache_seconds)
        self._path = path
        self._projects = dict(projects)
        self._admins = frozenset(admins)
        self._entries: dict[str, bytes] = {}
        self._mtime = None
        self._lock = threading.Lock()

    def _read(self) -> dict[str, bytes]:
        try:
            mtime = os.stat(self._path).st_mtime_ns
        except OSError as exc:
            raise errors.Unavailable('htpasswd_file %s can not be read: %s'
                                     % (self._path, exc.strerror)) from exc
        with self._lock:
            if mtime != self._mtime:
                entries = {}
                with open(self._path, 'rb') as f:
                    for line in f:
                        user, sep, hashed = line.strip().partition(b':')
                        if sep and hashed.startswith(b'$2'):
                            entries[user.decode()] = hashed
                self._entries, self._mtime = entries, mtime
            return self._entries

    def check(self, user: str, password: str) -> Principal:
        hashed = self._read().get(user)
        if hashed is None or not bcrypt.checkpw(password.encode(), hashed):
            raise unauthorized('wrong user name or password')
        project = self._projects.get(user)
        if not project:
            raise errors.Denied(
                'user %s has no project: add it to [registry] '
                'htpasswd_projects' % user)
        return Principal(user, project, admin=user in self._admins)


class KeystoneAuth(Authenticator):
    """Keystone users: ``user`` (of one project) or ``user@project``."""

    def __init__(self, auth_url: str, user_domain: str = 'Default',
                 cache_seconds: int = 60, verify=True):
        super().__init__(cache_seconds)
        self._auth_url = auth_url
        self._domain = user_domain
        self._verify = verify

    def check(self, user: str, password: str) -> Principal:
        name, _, project = user.partition('@')
        try:
            if project:
                return self._scoped(name, password, project_name=project)
            return self._only_project(name, password)
        except ks_exc.Unauthorized:
            raise unauthorized('Keystone refused user %s: wrong user name '
                               'or password' % name) from None
        except (ks_exc.ConnectFailure, ks_exc.DiscoveryFailure,
                ks_exc.RequestTimeout, ks_exc.ServiceUnavailable) as exc:
            raise errors.Unavailable('Keystone can not be reached (%s)'
                                     % exc) from exc

    def _session(self, plugin):
        return ks_session.Session(auth=plugin, verify=self._verify)

    def _scoped(self, name: str, password: str, **project) -> Principal:
        plugin = v3.Password(
            auth_url=self._auth_url, username=name, password=password,
            user_domain_name=self._domain, project_domain_name=self._domain,
            **project)
        access = plugin.get_access(self._session(plugin))
        return Principal(name, access.project_id,
                         admin='admin' in access.role_names,
                         token=access.auth_token)

    def _only_project(self, name: str, password: str) -> Principal:
        plugin = v3.Password(auth_url=self._auth_url, username=name,
                             password=password,
                             user_domain_name=self._domain, unscoped=True)
        session = self._session(plugin)
        # An unscoped token carries no catalog: ask Keystone itself.
        url = self._auth_url.rstrip('/')
        if not url.endswith('/v3'):
            url += '/v3'
        projects = session.get(url + '/auth/projects').json().get(
            'projects', [])
        if len(projects) != 1:
            raise unauthorized(
                'user %s belongs to %d projects: log in as %s@<project>'
                % (name, len(projects), name))
        return self._scoped(name, password, project_id=projects[0]['id'])


def from_conf(conf) -> Authenticator:
    opts = conf.registry
    if opts.auth_strategy == 'htpasswd':
        if not opts.htpasswd_file:
            raise ValueError('[registry] auth_strategy = htpasswd needs '
                             'htpasswd_file')
        return HtpasswdAuth(opts.htpasswd_file, opts.htpasswd_projects,
                            opts.htpasswd_admins,
                            opts.credential_cache_seconds)
    auth_url = opts.keystone_auth_url or conf.glance.auth_url
    if not auth_url:
        raise ValueError('[registry] auth_strategy = keystone needs '
                         'keystone_auth_url or [glance] auth_url')
    return KeystoneAuth(auth_url, opts.keystone_user_domain,
                        opts.credential_cache_seconds,
                        verify=not conf.glance.insecure)
