"""The service suite, through ``gencredits.open``.

Every test runs on a SQLite file, on PostgreSQL and on PostgreSQL through PgBouncer in
transaction mode (the ``database_url`` fixture, with the ``pgbouncer`` mark), and checks what
was written by reading the tables with plain SQL (``tests/service/probes.py``), not by
trusting the service's answer. A refusal must leave the ledger exactly as it was.
"""
