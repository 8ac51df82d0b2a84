"""The distribution spec's errors, each an exception with its HTTP status.

A handler raises one of these; the application turns it into
``{"errors": [{"code", "message", "detail"}]}``.
"""

import json


class RegistryError(Exception):
    """An error the client is told about, with the spec's code."""

    code = 'UNKNOWN'
    status = 500

    def __init__(self, message: str, detail=None, headers=None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.headers = dict(headers or {})

    def body(self) -> bytes:
        error = {'code': self.code, 'message': self.message}
        if self.detail is not None:
            error['detail'] = self.detail
        return json.dumps({'errors': [error]}).encode()


def _error(code: str, status: int) -> type:
    return type(code.title().replace('_', ''), (RegistryError,),
                {'code': code, 'status': status})


BlobUnknown = _error('BLOB_UNKNOWN', 404)
BlobUploadInvalid = _error('BLOB_UPLOAD_INVALID', 400)
BlobUploadUnknown = _error('BLOB_UPLOAD_UNKNOWN', 404)
DigestInvalid = _error('DIGEST_INVALID', 400)
ManifestBlobUnknown = _error('MANIFEST_BLOB_UNKNOWN', 400)
ManifestInvalid = _error('MANIFEST_INVALID', 400)
ManifestUnknown = _error('MANIFEST_UNKNOWN', 404)
NameInvalid = _error('NAME_INVALID', 400)
NameUnknown = _error('NAME_UNKNOWN', 404)
SizeInvalid = _error('SIZE_INVALID', 400)
TagInvalid = _error('TAG_INVALID', 400)
Unauthorized = _error('UNAUTHORIZED', 401)
Denied = _error('DENIED', 403)
Unsupported = _error('UNSUPPORTED', 405)
TooManyRequests = _error('TOOMANYREQUESTS', 429)
Unavailable = _error('UNAVAILABLE', 503)
PaginationNumberInvalid = _error('PAGINATION_NUMBER_INVALID', 400)


class RangeInvalid(RegistryError):
    """A PATCH that does not continue the upload where it stands, or a
    GET range outside the blob; 416 either way."""

    code = 'RANGE_INVALID'
    status = 416


class BlobTooLarge(SizeInvalid):
    status = 413


class ManifestTooLarge(SizeInvalid):
    """Over max_manifest_size: 413, as the spec asks and as a blob over
    max_blob_size is."""

    status = 413
