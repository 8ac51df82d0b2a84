"""What tools/cloud.sh makes through the APIs, in one process.

One ``openstack`` command costs about two seconds of start-up on the
2-core machine; the thirty-odd objects a cloud needs would cost a minute.
Every step finds what exists before it makes anything, so ``up`` twice
changes nothing.

    bootstrap.py identity   # projects, users, roles, catalog
    bootstrap.py resources  # flavors, `public`, each project's network
                            # and router
    bootstrap.py wait       # every service up, every agent alive

Run with the cloud's venv; settings come from the environment that
tools/cloud.sh exports (ADMIN_PASSWORD, ...).
"""

import os
import sys
import time

import openstack

ENV = os.environ
HOST = ENV['HOST_IP']
KEYSTONE_URL = ENV['KEYSTONE_URL']
COMPUTES = ENV['COMPUTES'].split()

SERVICE_USERS = ('glance', 'placement', 'neutron', 'nova')
CATALOG = (
    # name, type, URL
    ('glance', 'image', 'http://%s:%s' % (HOST, ENV['GLANCE_PORT'])),
    ('placement', 'placement', 'http://%s:%s' % (HOST,
                                                 ENV['PLACEMENT_PORT'])),
    ('neutron', 'network', 'http://%s:%s' % (HOST, ENV['NEUTRON_PORT'])),
    ('nova', 'compute', 'http://%s:%s/v2.1' % (HOST, ENV['NOVA_API_PORT'])),
)
FLAVORS = (
    # name, id, RAM MiB, vCPUs, disk GB: the classic sizes of the names.
    ('m1.tiny', '1', 512, 1, 1),
    ('m1.small', '2', 2048, 1, 20),
)
# Each tenant project's network, subnet and router: (project, network,
# subnet, router, CIDR variable).
TENANT_NETWORKS = (
    ('demo', 'private', 'private-subnet', 'router', 'TENANT_CIDR'),
    ('alt', 'alt-private', 'alt-private-subnet', 'alt-router', 'ALT_CIDR'),
)
PUBLIC = 'public'
PUBLIC_SUBNET = 'public-subnet'
PHYSNET = 'physnet1'


def say(message):
    print('bootstrap: %s' % message, flush=True)


def admin():
    return openstack.connect(
        auth_url=KEYSTONE_URL, username='admin',
        password=ENV['ADMIN_PASSWORD'], project_name='admin',
        user_domain_name='Default', project_domain_name='Default',
        region_name='RegionOne', identity_api_version='3')


def find_or_create(find, create, name, **attrs):
    found = find(name)
    if found is not None:
        return found
    say('creating %s' % name)
    return create(name=name, **attrs)


def role(conn, name):
    return find_or_create(conn.identity.find_role, conn.identity.create_role,
                          name)


def grant(conn, project, user, role_name):
    conn.identity.assign_project_role_to_user(project, user,
                                              role(conn, role_name))


def identity(conn):
    ident = conn.identity
    domain = ident.find_domain('default')
    projects = {}
    for name in ('service', 'demo', 'alt'):
        projects[name] = find_or_create(
            ident.find_project, ident.create_project, name,
            domain_id=domain.id, description='nova-docker cloud')
    users = [(name, ENV['SERVICE_PASSWORD'], 'service', ('admin', 'service'))
             for name in SERVICE_USERS]
    users.append(('demo', ENV['DEMO_PASSWORD'], 'demo', ('member',)))
    users.append(('alt', ENV['ALT_PASSWORD'], 'alt', ('member',)))
    for name, password, project, roles in users:
        user = find_or_create(ident.find_user, ident.create_user, name,
                              password=password, domain_id=domain.id,
                              default_project_id=projects[project].id)
        # A kept database keeps its users; their passwords come from the
        # kept secrets file, so they match already.
        for role_name in roles:
            grant(conn, projects[project], user, role_name)
    for name, type_, url in CATALOG:
        service = ident.find_service(name) or ident.create_service(
            name=name, type=type_)
        have = {e.interface for e in ident.endpoints(service_id=service.id)}
        for interface in ('public', 'internal', 'admin'):
            if interface not in have:
                say('endpoint %s %s %s' % (name, interface, url))
                ident.create_endpoint(service_id=service.id, url=url,
                                      interface=interface,
                                      region_id='RegionOne')


def resources(conn):
    for name, flavor_id, ram, vcpus, disk in FLAVORS:
        if conn.compute.find_flavor(name) is None:
            say('flavor %s' % name)
            conn.compute.create_flavor(name=name, id=flavor_id, ram=ram,
                                       vcpus=vcpus, disk=disk)
    public = public_network(conn)
    for project, network, subnet, router, cidr in TENANT_NETWORKS:
        owner = conn.identity.find_project(project)
        tenant_network(conn, owner, network, subnet, router, ENV[cidr],
                       public)


def public_network(conn):
    """The external network: flat on physnet1, whose bridge on the L3
    agent's host holds PUBLIC_HOST_IP. No gateway: a router's only route
    out is the bridge's own range, so nothing leaves the machine."""
    net = conn.network.find_network(PUBLIC)
    if net is None:
        say('network %s (external, flat on %s)' % (PUBLIC, PHYSNET))
        net = conn.network.create_network(
            name=PUBLIC, is_router_external=True,
            provider_network_type='flat',
            provider_physical_network=PHYSNET)
    if conn.network.find_subnet(PUBLIC_SUBNET, network_id=net.id) is None:
        cidr = ENV['PUBLIC_CIDR']
        prefix = cidr.rsplit('.', 1)[0]
        say('subnet %s %s' % (PUBLIC_SUBNET, cidr))
        conn.network.create_subnet(
            name=PUBLIC_SUBNET, network_id=net.id, ip_version=4, cidr=cidr,
            gateway_ip=None, enable_dhcp=False,
            allocation_pools=[{'start': prefix + '.10',
                               'end': prefix + '.250'}])
    return net


def tenant_network(conn, project, name, subnet_name, router_name, cidr,
                   public):
    """A project's network and subnet, and its router to ``public``."""
    net = conn.network.find_network(name, project_id=project.id)
    if net is None:
        say('network %s (project %s)' % (name, project.name))
        net = conn.network.create_network(name=name, project_id=project.id)
    subnet = conn.network.find_subnet(subnet_name, network_id=net.id)
    if subnet is None:
        say('subnet %s %s' % (subnet_name, cidr))
        subnet = conn.network.create_subnet(
            name=subnet_name, network_id=net.id, project_id=project.id,
            ip_version=4, cidr=cidr, enable_dhcp=False)
    router = conn.network.find_router(router_name, project_id=project.id)
    if router is None:
        say('router %s (project %s) to %s' % (router_name, project.name,
                                              PUBLIC))
        router = conn.network.create_router(
            name=router_name, project_id=project.id,
            external_gateway_info={'network_id': public.id})
    attached = {p.fixed_ips[0]['subnet_id'] for p in conn.network.ports(
        device_id=router.id, device_owner='network:router_interface')}
    if subnet.id not in attached:
        say('router %s: interface on %s' % (router_name, subnet_name))
        conn.network.add_interface_to_router(router, subnet_id=subnet.id)


def missing_services(conn):
    """What does not report up yet, named as ``status`` names it."""
    up = {(s.binary, s.host) for s in conn.compute.services()
          if s.state == 'up' and s.status == 'enabled'}
    up_binaries = {binary for binary, _host in up}
    missing = [b for b in ('nova-conductor', 'nova-scheduler')
               if b not in up_binaries]
    missing += ['nova-compute@%s' % h for h in COMPUTES
                if ('nova-compute', h) not in up]
    alive = {a.host for a in conn.network.agents(
        binary='neutron-openvswitch-agent') if a.is_alive}
    missing += ['neutron-openvswitch-agent@%s' % h for h in COMPUTES
                if h not in alive]
    if not any(a.is_alive for a in conn.network.agents(
            binary='neutron-l3-agent')):
        missing.append('neutron-l3-agent')
    # A compute host is schedulable once its node is in a cell.
    nodes = {h.name for h in conn.compute.hypervisors()}
    missing += ['hypervisor %s' % h for h in COMPUTES if h not in nodes]
    return missing


def dead_processes():
    """Names of the cloud's processes that died (their pid files are
    "PID STARTTIME", as tools/cloud/common.sh writes them)."""
    dead = []
    run = ENV['RUN']
    for name in sorted(os.listdir(run)):
        if not name.endswith('.pid'):
            continue
        with open(os.path.join(run, name)) as f:
            pid, _, started = f.read().strip().partition(' ')
        try:
            with open('/proc/%s/stat' % pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            alive = fields[0] != 'Z' and fields[19] == started
        except (OSError, IndexError):
            alive = False
        if not alive:
            dead.append(name[:-len('.pid')])
    return dead


def wait(conn):
    timeout = float(ENV.get('WAIT_TIMEOUT', 120))
    deadline = time.monotonic() + timeout
    while True:
        dead = dead_processes()
        if dead:
            print('bootstrap: died: %s (see their logs)' % ', '.join(dead),
                  file=sys.stderr)
            return 1
        missing = missing_services(conn)
        if not missing:
            return 0
        if time.monotonic() > deadline:
            print('bootstrap: not up after %d s: %s' % (
                timeout, ', '.join(missing)), file=sys.stderr)
            return 1
        time.sleep(1)


def main(argv):
    conn = admin()
    step = argv[1]
    if step == 'identity':
        identity(conn)
    elif step == 'resources':
        resources(conn)
    elif step == 'wait':
        return wait(conn)
    else:
        raise SystemExit('unknown step %r' % step)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
