# nova must patch (or decide not to) before anything imports it.
#
# Native threads, as nova-compute's own entry point (nova/cmd/compute.py)
# chooses: pytest imports this package before it runs any test, and
# eventlet's patching would change threads and sockets under every other
# suite of the session too (the client's unit tests hang). The variable
# is how nova's own test tree selects it: nova/tests/functional/__init__.py
# calls monkey_patch.patch() again with eventlet as its default. Set
# OS_NOVA_DISABLE_EVENTLET_PATCHING=false to run these tests on eventlet.
import os

os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', 'true')

from nova import monkey_patch; monkey_patch.patch()  # noqa: E402,E702,I001
