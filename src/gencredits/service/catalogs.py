"""Price versions in the database: publishing catalog changes and reading any version.

Every change to the catalog publishes a whole new document under the next version number;
old versions stay forever, so anything priced can be explained and re-priced exactly. The
current catalog is cached in-process and re-checked at most every
``CURRENT_VERSION_TTL_SECONDS``; a change made by this process is seen at once.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from sqlalchemy import Engine

from gencredits.documents.catalog import (
    catalog_from_document,
    catalog_to_document,
    entry_to_document,
)
from gencredits.domain.catalog import Catalog, CatalogEntry
from gencredits.domain.errors import InvalidRequest, NotFound
from gencredits.domain.pricing import superseded_version_honoured
from gencredits.service.mutation import Mutation, claim_once, operator_scope
from gencredits.store.engine import read_transaction, write_transaction
from gencredits.store.queries import catalog_versions as version_queries

# How stale another process's price change may be seen here: a quote made in that window is
# still priced at a version that was current a moment ago, never at an invented price.
CURRENT_VERSION_TTL_SECONDS = 1.0


class CatalogStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._versions: dict[int, Catalog] = {}
        self._current: Catalog | None = None
        self._checked_at = 0.0

    def current(self) -> Catalog:
        now = time.monotonic()
        current = self._current
        if current is not None and now - self._checked_at < CURRENT_VERSION_TTL_SECONDS:
            return current
        with read_transaction(self._engine) as connection:
            version = version_queries.latest_version(connection)
        if version is None:
            raise NotFound("catalog", "current")
        catalog = self.at(version)
        with self._lock:
            self._current, self._checked_at = catalog, now
        return catalog

    def at(self, version: int) -> Catalog:
        """The catalog as it was at ``version`` (cached; versions never change)."""
        cached = self._versions.get(version)
        if cached is not None:
            return cached
        with read_transaction(self._engine) as connection:
            document = version_queries.version_document(connection, version)
        if document is None:
            raise NotFound("price version", version, field="price_version")
        catalog = catalog_from_document(document, source=f"price version {version}")
        with self._lock:
            self._versions[version] = catalog
        return catalog

    def for_quote(self, version: int | None, now: datetime) -> Catalog:
        """The catalog to price at: the current one, or the quoted ``version`` while that
        quote can still be valid (the rule: ``domain.pricing.superseded_version_honoured``)."""
        current = self.current()
        if version is None or version == current.version:
            return current
        if version > current.version:
            self._checked_at = 0.0
            current = self.current()
            if version == current.version:
                return current
            if version > current.version:
                # Not published yet; and ``version + 1`` below could pass the column's integer
                # range (PostgreSQL refused 2**31 - 1 + 1 with a 500).
                raise NotFound("price version", version, field="price_version")
        with read_transaction(self._engine) as connection:
            superseded_at = version_queries.version_created_at(connection, version + 1)
        if not superseded_version_honoured(superseded_at, now):
            raise InvalidRequest(
                f"price version {version} is no longer quoted; quote again at version "
                f"{current.version}",
                field="price_version",
            )
        return self.at(version)

    def publish(
        self,
        catalog: Catalog,
        *,
        actor: str,
        note: str,
        now: datetime,
        mutation: Mutation[int] | None = None,
    ) -> Catalog:
        """Store ``catalog`` as the next version (its own version number is replaced); with
        a ``mutation`` (its idempotency key and request), a replay gets the version its key
        published first and publishes nothing."""
        claim = mutation or Mutation(
            scope=operator_scope("publish_catalog"), key=None, operation="publish_catalog",
            payload={}, encode=_version_document, decode=_version,
        )
        with write_transaction(self._engine) as connection:
            published: list[Catalog] = []

            def perform() -> int:
                latest = version_queries.latest_version(connection)
                version = 1 if latest is None else latest + 1
                published.append(Catalog(version=version, entries=catalog.entries))
                version_queries.insert_version(
                    connection, version=version, document=catalog_to_document(published[0]),
                    now=now, actor=actor, note=note,
                )
                return version

            version = claim_once(connection, claim, now, perform)
        if not published:  # a replay: the version its key published
            return self.at(version)
        with self._lock:
            self._versions[version] = published[0]
            self._current, self._checked_at = published[0], time.monotonic()
        return published[0]

    def put_entry(
        self,
        entry: CatalogEntry,
        *,
        actor: str,
        note: str,
        now: datetime,
        idempotency_key: str | None = None,
    ) -> Catalog:
        mutation = Mutation(
            scope=operator_scope("put_catalog_entry"), key=idempotency_key,
            operation="put_catalog_entry", payload={"entry": entry_to_document(entry)},
            encode=_version_document, decode=_version,
        )
        return self.publish(self.current().with_entry(entry), actor=actor, note=note, now=now,
                            mutation=mutation)

    def history(self, limit: int = 50) -> list[dict[str, object]]:
        with read_transaction(self._engine) as connection:
            return version_queries.version_history(connection, limit)


def _version_document(version: int) -> dict[str, int]:
    return {"version": version}


def _version(data: dict[str, int]) -> int:
    return int(data["version"])
