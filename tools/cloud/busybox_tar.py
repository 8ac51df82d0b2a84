"""Write a ``docker save`` archive of busybox to stdout (or a file).

No registry is reachable from these machines to ``docker pull busybox``:
the archive is made from Debian's static ``/bin/busybox`` by
tests/fixtures/images.py (pure Python, no engine). Its command prints
HELLO, then idles until SIGTERM, which it obeys at once.

    python tools/cloud/busybox_tar.py [--boot-lines] [FILE]

``--boot-lines``: after HELLO the command prints a few more lines, the
way a VM's boot log would: tempest's console log tests (tools/tempest.sh)
want more than three lines, and three when they ask for the last three.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

from tests.fixtures import images  # noqa: E402

HELLO = 'hello from busybox'
COMMAND = ['/bin/sh', '-c',
           "trap 'exit 0' TERM; echo %s; sleep 100000 & wait" % HELLO]
BOOT_LINES = 9
BOOT_COMMAND = [
    '/bin/sh', '-c',
    "trap 'exit 0' TERM; echo %s; i=1; while [ $i -le %d ]; do "
    "echo \"boot: step $i of %d\"; i=$((i + 1)); done; "
    "sleep 100000 & wait" % (HELLO, BOOT_LINES, BOOT_LINES)]


def main(argv):
    command = COMMAND
    if len(argv) > 1 and argv[1] == '--boot-lines':
        command = BOOT_COMMAND
        argv = argv[:1] + argv[2:]
    data = images.docker_save_tar('busybox:latest', command)
    if len(argv) > 1:
        with open(argv[1], 'wb') as f:
            f.write(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
