"""PostgreSQL connection options, and why gencredits may sit behind a transaction pooler.

psycopg 3 PREPAREs a statement on the server once a connection has run it five times (its
``prepare_threshold``), under a name counted per connection (``_pg3_0``, ...). Behind a pooler
in transaction mode (PgBouncer: how PostgreSQL deployments pool connections; Debian 12's 1.18
does not track prepared statements, 1.21+ only with ``max_prepared_statements``) the next
transaction may run on another server connection, where that name does not exist or another
client's does: 17 of 48 transactions failed so. So by default gencredits never prepares on the
server (its own "prepared" statements, store/prepared.py, are compiled once on the client and
sent as text); ``GENCREDITS_PREPARE_ON_SERVER=1`` lets psycopg prepare again, for a direct
connection (the README's Storage section gives the cost).

Nothing else is kept in a session between transactions: no SET, advisory lock, LISTEN or
temporary table; row locks (``FOR UPDATE``) and the isolation level (REPEATABLE READ for
reads, sent by psycopg with the ``BEGIN``) last one transaction.
"""

from __future__ import annotations

from typing import Any


def connect_arguments(prepare_on_server: bool) -> dict[str, Any]:
    """psycopg's connection options: ``prepare_threshold=None`` never prepares on the server;
    without it psycopg's default (after five runs) applies."""
    return {} if prepare_on_server else {"prepare_threshold": None}
