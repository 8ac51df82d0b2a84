"""Readers of tenant archives with hard bounds, free of nova.

Tar streams and their members, decompression and digests, used alike by
the driver (``nova_docker.image``) and the registry
(``nova_docker.registry``). Nothing here imports nova or oslo: the
registry stands on this package without pulling in a compute service,
and every reader refuses (``TarFormatError`` and its kinds) instead of
holding more than its bound.
"""
