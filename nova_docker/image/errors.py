"""nova exceptions of the image pipeline, worded for the operator."""

from cursive import exception as cursive_exception
from nova import exception


class ImageDownloadFailed(exception.NovaException):
    msg_fmt = ('Downloading image %(image_id)s from Glance stopped after '
               '%(received)d of %(size)s bytes: %(reason)s. Check that '
               'Glance is up and reachable from this host, then retry.')


class ImageDownloadStalled(exception.NovaException):
    msg_fmt = ('Glance sent nothing of image %(image_id)s for %(seconds)d '
               'seconds ([docker] image_timeout): check that Glance and the '
               'network between it and this host are well, then retry.')


class SpoolFailed(exception.NovaException):
    msg_fmt = ('Could not keep a temporary copy of image %(image_id)s in '
               '[docker] image_download_dir %(directory)s: %(reason)s. Free '
               'space there, or point the option at a larger disk, or unset '
               'it to stream images without a copy.')


class ImageLoadFailed(exception.NovaException):
    msg_fmt = ('The Docker Engine could not store image %(image_id)s: '
               '%(reason)s')


class SnapshotFailed(exception.NovaException):
    msg_fmt = ('Snapshot of the container into image %(image_id)s failed: '
               '%(reason)s')


class ImageLargerThanFlavorDisk(exception.FlavorDiskSmallerThanImage):
    msg_fmt = ('Image %(image_id)s unpacks to more than the %(flavor_gb)d GB '
               'root disk of the flavor: boot it with a flavor with a larger '
               'root disk.')


class ImageLargerThanLimit(exception.ImageUnacceptable):
    msg_fmt = ('Image %(image_id)s is unacceptable: it unpacks to more than '
               '%(limit_gb)d GB, the limit of [docker] max_image_size_gb for '
               'flavors without a root disk size. Boot it with a flavor whose '
               'root_gb fits it, or raise the option.')


def unloadable(image_id: str, detail) -> exception.ImageUnacceptable:
    """ImageUnacceptable for data that is no Docker image."""
    return exception.ImageUnacceptable(
        image_id=image_id,
        reason='its data is not a loadable Docker image: %s. Upload a '
               '`docker save` archive or a root file system tar '
               '(`docker export`), plain or gzip-compressed' % detail)


def signature_mismatch(image_id: str
                       ) -> cursive_exception.SignatureVerificationError:
    """The error for data that does not match its Glance signature.

    cursive's type, as nova's own verification raises it: nova's compute
    manager aborts such a build without rescheduling it.
    """
    return cursive_exception.SignatureVerificationError(
        reason='the data of image %s does not match its signature '
               '(img_signature): it was changed after it was signed, or '
               'signed with another key than the one of its certificate '
               '(img_signature_certificate_uuid). Sign the image data '
               'again, or upload the signed data again' % image_id)


NO_SPACE = 'no space left on device'


def engine_failed(image_id: str, explanation: str) -> ImageLoadFailed:
    """ImageLoadFailed, with a hint when the engine ran out of space."""
    reason = explanation
    if NO_SPACE in (explanation or '').lower():
        reason = ('%s. Free space where the engine keeps images (`docker '
                  'info`: Docker Root Dir), e.g. remove unused images, '
                  'then retry' % explanation)
    return ImageLoadFailed(image_id=image_id, reason=reason)
