"""The response cache.

- ``entries``: cache keys (canonical request, tenant, upstream model, forwarded
  headers) and entries (compressed, bounded) in the store.
- ``layer``: the cache applied to an exchange: modes, ``Cache-Control``, TTL header,
  which answers are stored and which lookups count as hits, misses or bypasses.
"""
