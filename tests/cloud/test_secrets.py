"""What the cloud keeps from the machine's other users: its secrets are
in files only root reads, and every port it opens is on loopback."""

import os
import stat
import subprocess

from tests.cloud import cloud as cloud_mod

ETC = os.path.join(cloud_mod.STATE, 'etc')
SECRETS = os.path.join(ETC, 'secrets.env')
LOOPBACK = ('127.0.0.1', '::1')
AMQP_LOGIN = '''
import sys
import amqp
conn = amqp.Connection('127.0.0.1:5672', userid=sys.argv[1],
                       password=sys.argv[2], connect_timeout=10)
try:
    conn.connect()
except amqp.exceptions.AccessRefused:
    sys.exit(3)
conn.close()
'''


def _secrets():
    with open(SECRETS) as f:
        return dict(line.strip().split('=', 1) for line in f if '=' in line)


def _holds_a_secret(path, secrets):
    with open(path, errors='replace') as f:
        text = f.read()
    return any(value in text for value in secrets.values())


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_holding_a_secret_are_root_only(cloud):
    secrets = _secrets()
    holding = []
    for top, _, files in os.walk(ETC):
        holding += [os.path.join(top, name) for name in files
                    if _holds_a_secret(os.path.join(top, name), secrets)]
    # The services' configurations hold the database's or the service
    # user's password, RabbitMQ's its user's.
    names = {os.path.relpath(path, ETC) for path in holding}
    assert {'secrets.env', 'keystone.conf', 'glance/glance-api.conf',
            'placement/placement.conf', 'neutron/neutron.conf',
            'nova/nova.conf', 'rabbitmq.conf',
            'nova-docker-registry.conf'} <= names, names
    holding.append(os.path.join(cloud_mod.STATE, 'clouds.yaml'))
    keys = os.path.join(cloud_mod.STATE, 'data', 'keystone')
    for repo in ('fernet-keys', 'credential-keys'):
        holding += [os.path.join(keys, repo, name)
                    for name in os.listdir(os.path.join(keys, repo))]
    modes = {path: oct(_mode(path)) for path in holding}
    assert {p: m for p, m in modes.items() if m != oct(0o600)} == {}
    # Nor can another user reach them through their directory.
    assert _mode(ETC) & 0o077 == 0, oct(_mode(ETC))


def test_every_listener_is_on_loopback(cloud):
    pids = cloud_mod.cloud_pids()
    names = cloud_mod.recorded_pids()
    for name in ('mariadb', 'rabbitmq', 'keystone', 'nova-api',
                 'dockerd@compute1'):
        assert names[name] in pids, name
    listeners = cloud_mod.tcp_listeners(pids)
    ports = {port for _, _, port in listeners}
    # The checked set is the whole cloud: databases, RabbitMQ (AMQP and
    # Erlang's distribution), the APIs, nova-serialproxy.
    assert {3306, 5672, 5000, 9292, 8774, 8778, 9696, 6083} <= ports, \
        listeners
    assert [(pid, addr, port) for pid, addr, port in listeners
            if addr not in LOOPBACK] == []


def _amqp_login(user, password):
    return subprocess.run(
        [os.path.join(cloud_mod.VENV, 'bin', 'python'), '-c', AMQP_LOGIN,
         user, password], capture_output=True, text=True, timeout=60)


def test_rabbitmq_knows_only_the_cloud_user(cloud):
    secrets = _secrets()
    own = _amqp_login(secrets['RABBIT_USER'], secrets['RABBIT_PASSWORD'])
    assert own.returncode == 0, own.stderr
    guest = _amqp_login('guest', 'guest')
    assert guest.returncode == 3, guest.stderr
    # Nor does the user exist at all (it may log in from loopback only,
    # but every local user is on loopback).
    data = os.path.join(cloud_mod.STATE, 'data', 'rabbitmq')
    users = subprocess.run(
        ['/usr/lib/rabbitmq/bin/rabbitmqctl', '-n', 'ndcloud@localhost',
         '-q', 'list_users'],
        env=dict(os.environ, HOME=data,
                 RABBITMQ_CTL_ERL_ARGS='-kernel inet_dist_use_interface '
                                       '{127,0,0,1}'),
        capture_output=True, text=True, timeout=120, check=True).stdout
    names = {line.split()[0] for line in users.splitlines()[1:]
             if line.strip()}
    assert names == {secrets['RABBIT_USER']}, users
