"""Glance <-> Docker Engine images: load, snapshot and cache.

* :mod:`.names` - the engine-local name of a Glance image.
* :mod:`.tarstream`, :mod:`.compression`, :mod:`.digest` - pure stream
  filters: follow a tar, undo gzip, check Glance's hash.
* :mod:`.source` - Glance's download as a checked stream of tar pieces.
* :mod:`.loader` - Glance image -> engine image (load or import).
* :mod:`.snapshot` - container -> Glance image (commit, save, upload).
* :mod:`.cache` - removal of engine images no instance uses any more.

``nova_docker.images`` re-exports what the driver uses.
"""
