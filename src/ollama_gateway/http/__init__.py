"""The HTTP edge: every request passes here before any API code runs.

``access`` (outermost: metrics and the access log), ``middleware`` (request id, key check, rate
limits, body limit, last-resort errors), ``auth`` (keys and how they are compared), ``ratelimit``
(per-key token buckets) and ``deps`` (the FastAPI dependencies routers read shared objects with).
"""
