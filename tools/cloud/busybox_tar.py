"""Write a ``docker save`` archive of busybox to stdout (or a file).

No registry is reachable from these machines to ``docker pull busybox``:
the archive is made from Debian's static ``/bin/busybox`` by
tests/fixtures/images.py (pure Python, no engine). Its command prints
HELLO, then idles until SIGTERM, which it obeys at once.

    python tools/cloud/busybox_tar.py [FILE]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

from tests.fixtures import images  # noqa: E402

HELLO = 'hello from busybox'
COMMAND = ['/bin/sh', '-c',
           "trap 'exit 0' TERM; echo %s; sleep 100000 & wait" % HELLO]


def main(argv):
    data = images.docker_save_tar('busybox:latest', COMMAND)
    if len(argv) > 1:
        with open(argv[1], 'wb') as f:
            f.write(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
