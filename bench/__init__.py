"""``make bench``: trigger → recording latency, skew, recovery, wake and daemon cost on the namespace rig.

Not part of ``make test``: benchmarks measure, tests assert behaviour. See :mod:`bench.run`.
"""
