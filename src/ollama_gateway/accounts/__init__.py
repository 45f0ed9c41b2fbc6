"""Many users, one gateway: keys with roles and model lists, quotas, usage, shared limits.

- :mod:`records` (:class:`KeyRecord`, what the request path knows), :mod:`roles` (the scope
  table), :mod:`policy` (model access and option caps)
- :mod:`tables`, :mod:`db`, :mod:`store` (keys, audit) and :mod:`usage_store` (usage events,
  rollups): the database (SQLite by default, PostgreSQL), its migrations and the repository
- :mod:`cache` (keys served from memory), :mod:`recorder` (usage written in batches, off the
  request path), :mod:`admission` (the edge's gate): :mod:`limits` and :mod:`quotas` per
  process, or :mod:`shared` (atomic in Redis) with :mod:`lease` (a process's share of a key's
  limits, so that most requests make no round trip)
- :mod:`service`: :class:`Accounts`, which the app owns and the edge, the routers and the admin
  API use
"""
