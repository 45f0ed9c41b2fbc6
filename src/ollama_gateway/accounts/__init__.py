"""Many users, one gateway: keys with roles and model lists, quotas, usage, shared limits.

- :mod:`records` (:class:`KeyRecord`, what the request path knows), :mod:`roles` (the scope
  table), :mod:`policy` (model access and option caps)
- :mod:`tables`, :mod:`db`, :mod:`store`: the database (SQLite by default, PostgreSQL), its
  migrations and the repository
- :mod:`cache` (keys served from memory), :mod:`recorder` (usage written in batches, off the
  request path), :mod:`quotas` and :mod:`shared` (per process, or atomic in Redis)
- :mod:`service`: :class:`Accounts`, which the app owns and the edge, the routers and the admin
  API use
"""
