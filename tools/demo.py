"""nova boot onto Docker, on this machine, in one process.

Run by ``tools/demo.sh`` (which installs Docker and the virtualenv first):
starts an all-in-one cloud (placement, nova-api, -conductor, -scheduler,
-compute with ``compute_driver = docker.DockerDriver``, and a real
glance-api) in this process with the e2e test harness
(``tests/e2e/cloud.py``), uploads a busybox image to Glance as
``busybox:latest``, boots it like the seed's walk-through::

    $ nova boot --image busybox:latest --flavor m1.tiny test

and shows the server, its container as the engine shows it, and its
console log. Then it deletes the server, removes the image the driver
cached on the engine and stops everything. ``--keep`` leaves the server's
container running on the engine (nova itself stops with this process).

nova-api and placement are served in-process (no TCP port); Glance listens
on a free port of 127.0.0.1, so no fixed port can be taken.
"""

import argparse
import os
import re
import signal
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T0 = float(os.environ.get('NOVA_DOCKER_DEMO_T0') or time.time())
INSTANCE_LABEL = 'org.openstack.nova.instance-uuid'
TIMESTAMP = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d')


def say(message):
    print('[%6.1fs] %s' % (time.time() - T0, message), flush=True)


def fail(message):
    print('[%6.1fs] ERROR: %s' % (time.time() - T0, message),
          file=sys.stderr, flush=True)
    sys.exit(1)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog='tools/demo.sh',
        description='Boot a server through an all-in-one Nova onto the '
                    'local Docker Engine, show it, and clean up.')
    parser.add_argument('--keep', action='store_true',
                        help='leave the server (its container) running and '
                             'say how to look at it and remove it')
    parser.add_argument('--name', default='test', help='server name')
    parser.add_argument('--flavor', default='m1.tiny', help='flavor name')
    parser.add_argument('--image', default='busybox:latest',
                        help='name of the Glance image to upload and boot')
    return parser.parse_args(argv)


def _widths(headers, rows):
    return [max(len(str(x)) for x in col)
            for col in zip(headers, *rows, strict=True)]


def _cells(row, widths):
    return [str(x).ljust(w) for x, w in zip(row, widths, strict=True)]


def table(headers, rows):
    """A table drawn like the OpenStack clients draw theirs."""
    widths = _widths(headers, rows)
    line = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'
    lines = [line, '| ' + ' | '.join(_cells(headers, widths)) + ' |', line]
    lines += ['| ' + ' | '.join(_cells(r, widths)) + ' |' for r in rows]
    return '\n'.join(lines + [line])


def plain_table(headers, rows):
    """A table drawn like the docker CLI draws its lists."""
    widths = _widths(headers, rows)
    return '\n'.join('   '.join(_cells(r, widths)).rstrip()
                     for r in [headers] + list(rows))


def truncate(text, width=30):
    return text if len(text) <= width else text[:width - 1] + '\u2026'


def ago(seconds):
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return '%d second%s ago' % (seconds, '' if seconds == 1 else 's')
    return '%d minutes ago' % (seconds // 60)


def preflight():
    """What must hold before nova is imported."""
    if os.geteuid() != 0:
        fail('run as root: sudo tools/demo.sh (the Docker Engine socket '
             'is root-only)')
    from tests.fixtures import engine

    if not engine.ping():
        fail('the Docker Engine does not answer on %s; run sudo '
             'tools/demo.sh, which installs and starts it (or run '
             'tools/ensure-docker.sh)' % engine.engine_socket())
    api = engine.EngineAPI()
    try:
        left = [c for c in api.containers()
                if INSTANCE_LABEL in (c.get('Labels') or {})]
    finally:
        api.close()
    if left:
        names = ' '.join(c['Names'][0].lstrip('/') for c in left)
        fail('the engine already runs nova instances (%s), e.g. from an '
             'earlier "tools/demo.sh --keep"; a new nova-compute refuses '
             'to start next to instances it does not know. Remove them:\n'
             '    docker rm -f %s' % (names, names))


def make_demo(args):
    """The demo as a test case of the e2e harness (imported late: nova
    must be patched first)."""
    from tests.e2e import cloud

    class Demo(cloud.DockerCloudTestCase):

        # Underscored: nova's TestCase deletes public attributes at the
        # end of a run.
        _kept = None

        def progress(self, message):
            say(message)

        def setUp(self):
            super().setUp()
            # Runs first at clean-up: servers are already handled.
            self.addCleanup(say, 'stopping nova-api, -compute, -scheduler,'
                                 ' -conductor, placement and Glance')

        def run_demo(self):
            say('uploading %s to Glance (container_format docker, '
                'disk_format raw)' % args.image)
            data = cloud.busybox_tar()
            image = self.upload_image(args.image, data)
            print('\n$ glance image-list')
            print(table(
                ['ID', 'Name', 'Disk Format', 'Container Format', 'Size',
                 'Status'],
                [[i['id'], i['name'], i['disk_format'],
                  i['container_format'], i['size'], i['status']]
                 for i in self.glance_server.list_images()]))
            print()

            print('$ nova boot --image %s --flavor %s %s\n' % (
                args.image, args.flavor, args.name), flush=True)
            server = self.boot(args.name, image['id'], flavor=args.flavor,
                               wait=None)
            shown = self.show(server)
            print(table(['Property', 'Value'], [
                [key, shown.get(key)] for key in (
                    'OS-EXT-STS:task_state', 'OS-EXT-STS:vm_state',
                    'OS-EXT-STS:power_state', 'created', 'id', 'name',
                    'status')] + [
                ['flavor', shown['flavor']['original_name']],
                ['image', '%s (%s)' % (args.image, image['id'])]]))
            print(flush=True)
            server = self.wait_for(server, status='ACTIVE')
            say('server %s is ACTIVE' % server['id'])
            self.wait_for_console(server)

            print('\n$ nova list')
            print(table(
                ['ID', 'Name', 'Status', 'Power State', 'Image'],
                [[s['id'], s['name'], s['status'],
                  cloud.POWER_STATE_NAMES.get(
                      s['OS-EXT-STS:power_state'],
                      s['OS-EXT-STS:power_state']),
                  args.image if s['image']['id'] == image['id']
                  else s['image']['id']]
                 for s in self.api.get_servers()]))

            print('\n$ docker ps   # the engine\'s GET /containers/json')
            now = time.time()
            print(plain_table(
                ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS',
                 'NAMES'],
                [[c['Id'][:12], c['Image'], '"%s"' % truncate(c['Command']),
                  ago(now - c['Created']), c['Status'],
                  ','.join(n.lstrip('/') for n in c['Names'])]
                 for c in self.containers_of(server['id'])]))

            print('\n$ nova console-log %s' % args.name)
            print(self.console_output(server).rstrip('\n'))
            print(flush=True)

            if args.keep:
                self.keep(server, image)
                return
            say('$ nova delete %s' % args.name)
            self.delete(server)
            left = self.containers_of(server['id'])
            if left:
                raise cloud.CloudError('the container is still there: %s'
                                       % left)
            say('server deleted; its container is gone from the engine')
            for tag in self.engine_clean.cached_images():
                say('removing %s (the driver keeps Glance images cached '
                    'on the engine)' % tag)
                self.engine.remove_image(tag)

        def wait_for_console(self, server, timeout=10):
            deadline = time.monotonic() + timeout
            while (cloud.HELLO not in self.console_output(server) and
                   time.monotonic() < deadline):
                time.sleep(0.05)

        def keep(self, server, image):
            # Out of the harness's hands: no delete, no cache removal.
            self.server_ids.discard(server['id'])
            self.image_ids.discard(image['id'])
            self._kept = (server, image)

        def delete_all_servers(self):
            if self._kept is None:
                return super().delete_all_servers()
            for server in self.admin_api.get_servers(
                    detail=False, search_opts={'all_tenants': 1}):
                if server['id'] != self._kept[0]['id']:
                    self.delete(server, timeout=20)

    return Demo('run_demo')


class Result(object):
    """Collects what went wrong, with nova's captured log."""

    tb_locals = False

    def __init__(self):
        self.problems = []

    def _add(self, test, err=None, details=None):
        self.problems.append(details or {})

    addError = addFailure = _add

    def addSkip(self, test, reason=None, details=None):
        self.problems.append({'reason': reason})

    def __getattr__(self, name):
        # startTest, stopTest, addSuccess, tags, time, ...
        return lambda *a, **k: None


def _detail_text(content):
    try:
        return ''.join(t if isinstance(t, str) else t.decode('utf-8',
                                                              'replace')
                       for t in content.iter_text())
    except Exception:
        return str(content)


def _error_blocks(log):
    """The ERROR records of nova's log, with their tracebacks."""
    blocks, keep = [], False
    for line in log.splitlines():
        if TIMESTAMP.match(line):
            keep = ' ERROR [' in line
        if keep:
            blocks.append(line)
    return blocks


def report(problems):
    for details in problems:
        texts = {name: _detail_text(content) if hasattr(
            content, 'iter_text') else str(content)
            for name, content in details.items()}
        log = ''.join(t for n, t in texts.items()
                      if n.startswith('pythonlogging'))
        for name, text in sorted(texts.items()):
            if name.startswith('pythonlogging') or not text.strip():
                continue
            last = text.strip().splitlines()[-1]
            if last.startswith(('tests.e2e.cloud.CloudError: ',
                                'AssertionError: ')):
                text = last.split(': ', 1)[1]  # says it all
            print(text.rstrip(), file=sys.stderr)
        errors = _error_blocks(log)
        if errors:
            print('--- errors nova logged ---', file=sys.stderr)
            print('\n'.join(errors[-40:]), file=sys.stderr)


def _interrupt(signum, frame):
    raise KeyboardInterrupt()


def main(argv=None):
    args = parse_args(argv)
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    preflight()
    tmp_before = set(os.listdir(tempfile.gettempdir()))

    # nova-compute's own entry point runs with native threads; so does
    # the demo (tests/e2e/__init__.py patches before nova is imported).
    import logging
    import warnings
    warnings.simplefilter('ignore')
    # Logged after nova's log capture has ended (its thread pools stop
    # last): keep them off the terminal.
    logging.getLogger('nova.thread_pool_factory').setLevel(logging.WARNING)
    # Glance's db_sync'ed template database: kept in the virtualenv (not
    # in a temp dir), so the next run starts Glance 2.5 s faster.
    os.environ.setdefault('NOVA_DOCKER_GLANCE_DB_CACHE', os.path.join(
        sys.prefix, 'var', 'cache', 'nova-docker'))

    say('starting the all-in-one cloud in this process')
    case = make_demo(args)
    result = Result()
    # SIGTERM like Ctrl-C: the harness's clean-ups (delete the server,
    # stop Glance's gunicorn, remove temp dirs) run either way.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        case.run(result)
    except KeyboardInterrupt:
        fail('interrupted; what the demo started was stopped and removed')
    if result.problems:
        report(result.problems)
        fail('the demo failed (see above); what it started was stopped '
             'and removed')

    new_tmp = set(os.listdir(tempfile.gettempdir())) - tmp_before
    if new_tmp:
        say('note: new entries in %s: %s' % (tempfile.gettempdir(),
                                             ' '.join(sorted(new_tmp))))
    kept = case._kept
    if kept:
        server, image = kept
        name = 'nova-' + server['id']
        ref = 'glance/%s:latest' % image['id']
        say('done; nova and Glance are stopped, the container stays')
        print('\nThe server\'s container keeps running on the engine:\n'
              '    docker ps --filter label=%s=%s\n'
              '    docker logs %s\n'
              '    docker exec -it %s sh\n'
              'Clean up with:\n'
              '    docker rm -f %s; docker rmi %s' % (
                  INSTANCE_LABEL, server['id'], name, name, name, ref))
    else:
        say('done: server deleted, nova and Glance stopped; nothing left '
            '(no container, no glance/<id> image, no temp dir)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
