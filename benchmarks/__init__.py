"""Reproducible benchmarks of gencredits, each against a baseline measured in the same run.

Run them with ``gencredits bench`` or ``python -m benchmarks.run`` from a source checkout:

* ``charges``   per-charge throughput and latency on SQLite (one account, 10,000 accounts)
                against a minimal raw-SQL debit (conditional UPDATE + INSERT, one commit each);
* ``holds``     hold + capture pairs per second;
* ``quotes``    quotes per second for a five-line request, in-process;
* ``group``     group commit and ``charge_many`` against the per-charge path;
* ``postgres``  the per-charge path at 1, 4 and 16 worker threads against the raw baseline;
* ``growth``    throughput, latency and a monthly usage report at 10^5 and 10^6 entries.

Results print as a table and are written to ``benchmarks/results/*.json`` (git-ignored) with the
machine, the backends' versions and every setting. ``benchmarks/RESULTS.md`` records figures
and what the profiles showed. Nothing here is a timed test: the test suite only smoke-runs the
code with tiny counts and checks the shape of its output.
"""
