"""The registry's WSGI application: routes of the distribution API.

Handlers are small: they check the request, call :class:`Storage` or
:class:`Uploads`, and shape the answer the way Docker, skopeo and podman
expect it (headers included). Errors become the spec's JSON errors.
"""

import dataclasses
import re
import threading
import time
import urllib.parse

import webob
from oslo_log import log as logging

from nova_docker.registry import auth
from nova_docker.registry import errors
from nova_docker.registry import manifests
from nova_docker.registry import references
from nova_docker.registry.glance import GlanceError

LOG = logging.getLogger(__name__)

API_VERSION = {'Docker-Distribution-API-Version': 'registry/2.0'}
_ROUTES = [
    ('catalog', re.compile(r'/v2/_catalog\Z')),
    ('tags', re.compile(r'/v2/(?P<name>.+)/tags/list\Z')),
    ('manifest', re.compile(r'/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)\Z')),
    ('upload',
     re.compile(r'/v2/(?P<name>.+)/blobs/uploads/(?P<uuid>[^/]*)\Z')),
    ('blob', re.compile(r'/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)\Z')),
    ('base', re.compile(r'/v2/?\Z')),
]
_READS = ('GET', 'HEAD')
_RANGE = re.compile(r'bytes=(\d*)-(\d*)\Z')
_CONTENT_RANGE = re.compile(r'(?:bytes )?(\d+)-(\d+)\Z')
REAP_EVERY = 60.0


def _json(body, status=200, headers=None) -> webob.Response:
    resp = webob.Response(status=status, json_body=body)
    resp.headers.update(headers or {})
    return resp


def _empty(status, headers) -> webob.Response:
    resp = webob.Response(status=status)
    resp.headers.update(headers)
    resp.content_length = 0
    return resp


def _page(items: list[str], request) -> tuple[list[str], str | None]:
    """``n``/``last`` pagination: the page and the ``last`` of the next."""
    last = request.GET.get('last')
    if last:
        items = [item for item in items if item > last]
    n = request.GET.get('n')
    if n is None or n == '':
        return items, None
    if not n.isdigit():
        raise errors.PaginationNumberInvalid('n must be a positive number')
    n = int(n)
    if n == 0:
        return [], None
    page = items[:n]
    return page, (page[-1] if len(items) > n else None)


@dataclasses.dataclass(frozen=True)
class BodyLimits:
    """How slowly a client may send a request body: ``timeout`` seconds
    of silence (the socket's own timeout, set by the server, raises
    then), and on average ``min_rate`` bytes a second after a grace of
    ``timeout`` seconds (0: no floor)."""

    timeout: float = 60.0
    min_rate: int = 0


class _Body:
    """A request body's ``read``, refusing a client that stalls or
    trickles: a thread is held for each request body being read."""

    def __init__(self, read, limits: BodyLimits):
        self._read = read
        self._limits = limits
        self._started = time.monotonic()
        self._received = 0

    def read(self, size: int) -> bytes:
        try:
            data = self._read(size)
        except TimeoutError:
            raise errors.BlobUploadInvalid(
                'the client sent no data for %d s (request_read_timeout): '
                'the upload was removed, push again'
                % self._limits.timeout) from None
        self._received += len(data)
        rate = self._limits.min_rate
        if rate and data:
            allowed = self._limits.timeout + self._received / rate
            if time.monotonic() - self._started > allowed:
                raise errors.BlobUploadInvalid(
                    'the client sends less than %d bytes a second '
                    '(min_upload_rate): the upload was removed' % rate)
        return data


class Registry:
    """The WSGI application."""

    def __init__(self, storage, uploads, authenticator,
                 anonymous_pull: bool = False,
                 max_manifest_size: int = 4 * 1024 * 1024,
                 body_limits: 'BodyLimits | None' = None,
                 reaper=None):
        self.storage = storage
        self.uploads = uploads
        self.auth = authenticator
        self.anonymous_pull = anonymous_pull
        self.max_manifest_size = max_manifest_size
        self.body_limits = body_limits or BodyLimits()
        self.reaper = reaper
        self._reaped = 0.0
        self._reap_lock = threading.Lock()

    def start_background(self) -> None:
        """Start the upload reaper's thread: call it in every server
        process (after the fork: threads do not survive one)."""
        if self.reaper is not None:
            self.reaper.start()

    def __call__(self, environ, start_response):
        request = webob.Request(environ)
        try:
            resp = self._dispatch(request)
        except errors.RegistryError as exc:
            resp = webob.Response(status=exc.status, body=exc.body(),
                                  content_type='application/json')
            resp.headers.update(exc.headers)
            if request.method == 'HEAD':
                resp.app_iter, resp.content_length = [b''], 0
        except GlanceError as exc:
            LOG.warning('Glance refused a call for %s %s: %s',
                        request.method, request.path, exc)
            failure = errors.Unavailable('Glance refused the call (%d); see '
                                         'the registry log' % exc.status)
            resp = webob.Response(status=failure.status, body=failure.body(),
                                  content_type='application/json')
        resp.headers.update(API_VERSION)
        return resp(environ, start_response)

    def _dispatch(self, request) -> webob.Response:
        for route, pattern in _ROUTES:
            match = pattern.match(request.path_info)
            if match:
                args = match.groupdict()
                principal = self._principal(request, route)
                if 'name' in args:
                    references.check_name(args['name'])
                handler = getattr(self, '%s_%s' % (
                    route, 'read' if request.method in _READS
                    else request.method.lower()), None)
                if handler is None:
                    raise errors.Unsupported('%s is not supported on %s'
                                             % (request.method, route))
                return handler(request, principal, **args)
        raise errors.NameUnknown('no such endpoint: %s' % request.path_info)

    def _principal(self, request, route):
        principal = self.auth.principal(request.headers.get('Authorization'))
        if principal is not None:
            return principal
        if self.anonymous_pull and request.method in _READS:
            return auth.ANONYMOUS
        raise auth.unauthorized('authentication required: docker login %s'
                                % request.host)

    # -- base, catalog, tags ---------------------------------------------

    def base_read(self, request, principal):
        return _json({})

    def catalog_read(self, request, principal):
        page, last = _page(self.storage.catalog(principal), request)
        headers = {}
        if last:
            headers['Link'] = '</v2/_catalog?%s>; rel="next"' % (
                urllib.parse.urlencode({'n': request.GET['n'], 'last': last}))
        return _json({'repositories': page}, headers=headers)

    def tags_read(self, request, principal, name):
        page, last = _page(self.storage.tags(principal, name), request)
        headers = {}
        if last:
            headers['Link'] = '</v2/%s/tags/list?%s>; rel="next"' % (
                name, urllib.parse.urlencode({'n': request.GET['n'],
                                              'last': last}))
        return _json({'name': name, 'tags': page}, headers=headers)

    # -- manifests ---------------------------------------------------------

    def manifest_read(self, request, principal, name, ref):
        accepts = manifests.accepted(
            request.environ.get('HTTP_ACCEPT', '').split('\n'))
        manifest = self.storage.manifest(principal, name, ref, accepts)
        resp = webob.Response(status=200, body=manifest.raw,
                              content_type=manifest.media_type, charset=None)
        resp.headers['Docker-Content-Digest'] = manifest.digest
        resp.headers['ETag'] = '"%s"' % manifest.digest
        if request.method == 'HEAD':
            resp.app_iter = [b'']
            resp.content_length = len(manifest.raw)
        return resp

    def manifest_put(self, request, principal, name, ref):
        length = request.content_length
        if length is not None and length > self.max_manifest_size:
            raise errors.ManifestTooLarge(
                'manifest of %d bytes is larger than max_manifest_size (%d)'
                % (length, self.max_manifest_size))
        try:
            raw = request.body_file.read(self.max_manifest_size + 1)
        except TimeoutError:
            raise errors.ManifestInvalid(
                'the client sent no data for %d s (request_read_timeout)'
                % self.body_limits.timeout) from None
        if len(raw) > self.max_manifest_size:
            raise errors.ManifestTooLarge('manifest is larger than '
                                          'max_manifest_size (%d)'
                                          % self.max_manifest_size)
        began = time.monotonic()
        manifest = self.storage.put_manifest(principal, name, ref, raw,
                                             request.content_type)
        LOG.info('Stored manifest %s as %s:%s in %.2f s', manifest.digest,
                 name, ref, time.monotonic() - began)
        return _empty(201, {
            'Location': '/v2/%s/manifests/%s' % (name, manifest.digest),
            'Docker-Content-Digest': manifest.digest})

    def manifest_delete(self, request, principal, name, ref):
        self.storage.delete_manifest(principal, name, ref)
        return _empty(202, {})

    # -- blobs ---------------------------------------------------------------

    def blob_read(self, request, principal, name, digest):
        blob = self.storage.blob(principal, name, digest)
        headers = {'Docker-Content-Digest': digest, 'ETag': '"%s"' % digest,
                   'Accept-Ranges': 'bytes'}
        start, end, status = 0, blob.size, 200
        wanted = request.headers.get('Range')
        if wanted:
            start, end = self._range(wanted, blob.size)
            status = 206
            headers['Content-Range'] = 'bytes %d-%d/%d' % (start, end - 1,
                                                           blob.size)
        resp = webob.Response(status=status,
                              content_type='application/octet-stream')
        resp.headers.update(headers)
        if request.method == 'HEAD':
            resp.app_iter = [b'']
        else:
            resp.app_iter = self.storage.chunks(blob, start, end)
        resp.content_length = end - start
        return resp

    @staticmethod
    def _range(header: str, size: int) -> tuple[int, int]:
        match = _RANGE.match(header.strip())
        bad = errors.RangeInvalid(
            'range %s is outside the blob of %d bytes' % (header, size),
            headers={'Content-Range': 'bytes */%d' % size})
        if not match or not (match.group(1) or match.group(2)):
            raise bad
        first, last = match.groups()
        if not first:
            start, end = max(0, size - int(last)), size
        else:
            start = int(first)
            end = min(size, int(last) + 1) if last else size
        if start >= end:
            raise bad
        return start, end

    def blob_delete(self, request, principal, name, digest):
        raise errors.Unsupported(
            'blobs are deleted with the manifests that name them: delete '
            'the manifest, then run nova-docker-registry-prune')

    # -- uploads ---------------------------------------------------------

    def _project(self, principal) -> str:
        if principal.anonymous:
            raise auth.unauthorized('pushes need docker login')
        return principal.project_id

    def _upload_headers(self, name, upload_id, size):
        return {'Location': '/v2/%s/blobs/uploads/%s' % (name, upload_id),
                'Docker-Upload-UUID': upload_id,
                'Range': '0-%d' % max(size - 1, 0)}

    def upload_post(self, request, principal, name, uuid):
        if uuid:
            raise errors.Unsupported('POST starts an upload at '
                                     '/v2/<name>/blobs/uploads/')
        project = self._project(principal)
        self._reap()
        mount, source = request.GET.get('mount'), request.GET.get('from')
        if mount:
            references.check_digest(mount)
            if source and references.NAME.fullmatch(source) and \
                    self.storage.mount(principal, name, mount, source):
                return self._created(name, mount)
        upload_id = self.uploads.start(name, project)
        digest = request.GET.get('digest')
        if digest is None:
            return _empty(202, self._upload_headers(name, upload_id, 0))
        return self._complete(request, principal, name, upload_id, digest)

    def upload_read(self, request, principal, name, uuid):
        size = self.uploads.size(uuid, name, self._project(principal))
        return _empty(204, self._upload_headers(name, uuid, size))

    def upload_patch(self, request, principal, name, uuid):
        self._project(principal)
        start = None
        content_range = request.headers.get('Content-Range')
        if content_range:
            match = _CONTENT_RANGE.match(content_range.strip())
            if not match:
                raise errors.RangeInvalid('malformed Content-Range %r'
                                          % content_range)
            start = int(match.group(1))
            if (request.content_length is not None and
                    int(match.group(2)) - start + 1 != request.content_length):
                raise errors.RangeInvalid(
                    'Content-Range %s does not match Content-Length %d'
                    % (content_range, request.content_length))
        began = time.monotonic()
        size = self._append_streamed(principal, name, uuid,
                                     self._reader(request), start,
                                     request.content_length)
        LOG.info('Upload %s of %s has %d bytes after a PATCH of %.2f s',
                 uuid, name, size, time.monotonic() - began)
        return _empty(202, self._upload_headers(name, uuid, size))

    def _append_streamed(self, principal, name, upload_id, read, start,
                         length) -> int:
        """Append the PATCH's body, and send it into Glance as it comes
        when it is the upload's first (Docker's one PATCH per blob): the
        blob is then in Glance when its PUT arrives."""
        project = self._project(principal)
        if start or length == 0 or self.uploads.size(upload_id, name,
                                                     project):
            return self.uploads.append(upload_id, name, project, read, start,
                                       length)
        try:
            stream = self.storage.start_stream(principal, name)
        except (errors.Unavailable, GlanceError) as exc:
            # The copy at the PUT still works, or says why it can't.
            LOG.info('Upload %s is not streamed into Glance: %s', upload_id,
                     exc)
            return self.uploads.append(upload_id, name, project, read, start,
                                       length)
        try:
            # Named before a byte goes: a registry killed mid-PATCH leaves
            # the image to the reaper of any process, not in Glance. (An
            # upload gone meanwhile makes the append BLOB_UPLOAD_UNKNOWN.)
            self.uploads.note_stream(upload_id, stream.image_id, None)
            size = self.uploads.append(upload_id, name, project, read, start,
                                       length, sink=stream.feed)
        except BaseException:
            stream.abort()
            raise
        image_id = stream.close()
        if image_id is not None and not self.uploads.note_stream(
                upload_id, image_id, size):
            self.storage.discard_stream(image_id)
        return size

    def upload_put(self, request, principal, name, uuid):
        digest = request.GET.get('digest')
        if not digest:
            raise errors.DigestInvalid('the final PUT needs ?digest=')
        return self._complete(request, principal, name, uuid, digest)

    def upload_delete(self, request, principal, name, uuid):
        self.uploads.cancel(uuid, name, self._project(principal))
        return _empty(204, {})

    def _complete(self, request, principal, name, upload_id, digest):
        project = self._project(principal)
        try:
            references.check_digest(digest)
            self.uploads.append(upload_id, name, project,
                                self._reader(request), None,
                                request.content_length)
            finished = self.uploads.finish(upload_id, name, project, digest)
            kept = self.storage.store_blob(principal, name, finished,
                                           self.uploads.streamed(upload_id))
        except errors.BlobUploadUnknown:
            raise
        except BaseException:
            self.uploads.remove(upload_id)
            raise
        self.uploads.remove(upload_id, keep_stream=kept)
        return self._created(name, digest)

    @staticmethod
    def _created(name, digest):
        return _empty(201, {'Location': '/v2/%s/blobs/%s' % (name, digest),
                            'Docker-Content-Digest': digest})

    def _reader(self, request):
        stream = request.environ['wsgi.input']
        chunked = 'chunked' in request.headers.get('Transfer-Encoding', '')
        if request.content_length is None and not chunked:
            return lambda n: b''
        return _Body(stream.read, self.body_limits).read

    def _reap(self) -> None:
        now = time.monotonic()
        # A timeout shorter than REAP_EVERY would not hold otherwise.
        every = min(REAP_EVERY, self.uploads.timeout)
        with self._reap_lock:
            if now - self._reaped < every:
                return
            self._reaped = now
        for upload_id in self.uploads.reap():
            LOG.info('Removed upload %s: no data for %d s', upload_id,
                     self.uploads.timeout)
