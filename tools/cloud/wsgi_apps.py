"""The cloud's WSGI applications, for gunicorn (``wsgi_apps:app("...")``).

gunicorn leaves its own command line in ``sys.argv``; neutron's WSGI
entry point hands ``sys.argv[1:]`` to oslo.config, which refuses
gunicorn's options. Every application is therefore imported with
``sys.argv`` cut down to the program name, as uwsgi would leave it.

Glance is served behind :func:`name_filter_fix`: Docker image names hold a
colon (``busybox:latest``), and openstacksdk looks an image up by name
with ``GET /v2/images?name=busybox:latest``, which Glance 33 reads as the
operator ``busybox`` and refuses (400 "Unable to filter by unknown
operator"); ``openstack server create --image busybox:latest`` fails.
"""

import importlib
import sys
from urllib import parse

# Glance's filter operators (glance.common.utils.evaluate_filter_op and
# the 'in' of list filters).
GLANCE_OPERATORS = ('eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in')


def app(module, attribute='application', wrap=None):
    sys.argv = sys.argv[:1]
    application = getattr(importlib.import_module(module), attribute)
    if wrap:
        application = globals()[wrap](application)
    return application


def name_filter_fix(application):
    """``?name=a:b`` becomes ``?name=eq:a:b`` when ``a`` is no operator
    of Glance's: an exact match, which is what the client asked for."""

    def fixed(environ, start_response):
        query = environ.get('QUERY_STRING', '')
        if 'name=' in query:
            pairs = parse.parse_qsl(query, keep_blank_values=True)
            changed = [
                (key, 'eq:' + value
                 if key == 'name' and ':' in value and
                 value.split(':', 1)[0] not in GLANCE_OPERATORS else value)
                for key, value in pairs]
            if changed != pairs:
                environ = dict(environ, QUERY_STRING=parse.urlencode(changed))
        return application(environ, start_response)

    return fixed
