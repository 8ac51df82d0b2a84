"""Glance <-> Docker Engine images: load, snapshot and cache.

* :mod:`.names` - the engine-side names of Glance images and of the
  snapshots' commits (pure).
* :mod:`.local` - the engine's copies of Glance images: lock, last use,
  tagging, quiet removal, the snapshots' leftover commits.
* :mod:`.digest` - check Glance's hash (the tar and gzip filters are in
  :mod:`nova_docker.archive`).
* :mod:`.source` - Glance's download as a checked stream of tar pieces.
* :mod:`.loader` - Glance image -> engine image (load or import).
* :mod:`.snapshot` - container -> Glance image (commit, save, upload).
* :mod:`.cache` - removal of engine images no instance uses any more.

``nova_docker.images`` re-exports what the driver uses.
"""
