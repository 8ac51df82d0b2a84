# nova must patch (or decide not to) before anything imports it: the
# functional tests import nova's own test tree (nova.tests.unit calls
# monkey_patch.patch() with eventlet as its default). Native threads, as
# nova-compute runs and as tests/e2e/__init__.py chooses; eventlet's
# patching would change threads and sockets under every other suite of
# the session too.
import os

os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', 'true')

from nova import monkey_patch; monkey_patch.patch()  # noqa: E402,E702,I001
