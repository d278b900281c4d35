"""Benchmarks of the operator on a fresh local control plane (``make bench`` / ``python -m bench``).

``python -m bench --help`` lists the knobs; ``bench/run.py`` holds the scenarios, ``docs/performance.md``
the figures and what limits them. ``local_store.py`` is the separate micro-benchmark of the encrypted
store format (no cluster).
"""
