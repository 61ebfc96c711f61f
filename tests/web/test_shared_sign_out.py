"""A session signed out through one signer (one worker process) is refused by another that
shares the database, on SQLite and PostgreSQL; a signed-in cookie costs one read, an
anonymous one none."""

from __future__ import annotations

import gencredits
from gencredits.web.sessions import SessionSigner, SignedOutInDatabase

SECRET = b"0123456789abcdef0123456789abcdef"


class CountingStore(SignedOutInDatabase):
    reads = 0

    def holds(self, nonce: str) -> bool:
        self.reads += 1
        return super().holds(nonce)


def test_a_sign_out_in_one_process_holds_in_another(database_url: str) -> None:
    with gencredits.open(database_url, pool_size=2) as credits:
        here = SessionSigner(SECRET, SignedOutInDatabase(credits))
        there_store = CountingStore(credits)
        there = SessionSigner(SECRET, there_store)
        session, other = here.new("key_abc"), here.new("key_abc")
        cookie = here.dump(session)
        assert there.load(cookie) == session
        here.sign_out(session)
        here.sign_out(session)  # twice is harmless
        assert there.load(cookie) is None
        assert here.load(cookie) is None
        assert there.load(here.dump(other)) == other  # only that session
        reads = there_store.reads
        anonymous = here.new()
        assert there.load(here.dump(anonymous)) == anonymous
        assert there_store.reads == reads
