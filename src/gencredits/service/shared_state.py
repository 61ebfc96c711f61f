"""State that every worker process of one database shares besides the ledger: dashboard
sessions signed out, and the rate limits' token buckets (see
``store/queries/shared_state.py``).

The edges (``api``, ``web``) reach the database for these through here only.
"""

from __future__ import annotations

from sqlalchemy import Engine

from gencredits.store.queries import shared_state


def record_signed_out(engine: Engine, nonce: str, expires_at_seconds: int, now_seconds: int
                      ) -> None:
    """Every worker process refuses session ``nonce`` from now until it would expire."""
    shared_state.record_signed_out(engine, nonce, expires_at_seconds, now_seconds)


def is_signed_out(engine: Engine, nonce: str) -> bool:
    return shared_state.is_signed_out(engine, nonce)


def fold_into_bucket(
    engine: Engine, name: str, count: int, interval_microseconds: int, now_microseconds: int
) -> int:
    """Add ``count`` requests to the shared bucket ``name``; its new arrival time."""
    assert count >= 1 and interval_microseconds >= 1
    return shared_state.fold_into_bucket(
        engine, name, count, interval_microseconds, now_microseconds
    )


def forget_full_buckets(engine: Engine, now_microseconds: int) -> None:
    shared_state.forget_full_buckets(engine, now_microseconds)
