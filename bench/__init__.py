"""``make bench``: the deploy → call → destroy cycle and invoke latency on the embedded LocalStack.

Measures each number next to its floor (bare ``terraform``, a trivial loopback HTTP server, a bare interpreter
start), prints a table, writes ``bench/results/latest.json`` and a latency plot. A benchmark, not a test: it
asserts nothing about time, it reports.
"""
