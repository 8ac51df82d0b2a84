"""nova-docker-registry: a Docker registry (OCI distribution API) whose
storage is Glance.

* :mod:`.references` - repository names, tags and digests, and the Glance
  image name ``repo:tag`` that stands for a tag.
* :mod:`.errors` - the distribution spec's error codes as exceptions.
* :mod:`.manifests` - parsing and checking pushed manifests; the manifest
  served for a Glance image that was never pushed.
* :mod:`.glance` - a small Glance v2 client on a keystoneauth session.
* :mod:`.access` - who may see which Glance image (owner, visibility).
* :mod:`.auth` - Basic credentials against htpasswd or Keystone.
* :mod:`.uploads` - blob uploads in flight, on local disk.
* :mod:`.archive` - the ``docker load``-able archive a push stores.
* :mod:`.saved` - the layers inside a Glance image's ``docker save`` or
  root file system tar, found with ranged reads.
* :mod:`.storage` - repositories, tags, manifests and blobs over Glance.
* :mod:`.app` - the WSGI application; :mod:`.cmd` - the commands.
"""
