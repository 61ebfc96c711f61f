"""The dashboard's look-ups (service/lookups.py), on both backends: a key by its id unless
revoked, and the account picker's first accounts in id order."""

from __future__ import annotations

from gencredits.service import lookups
from gencredits.service.clock import ManualClock
from gencredits.service.facade import Gencredits
from gencredits.service.keys import create_key, revoke_key


def test_a_key_is_found_until_it_is_revoked(credits: Gencredits, clock: ManualClock) -> None:
    credits.create_account("ana", name="Ana")
    key, _secret = create_key(credits.engine, account_id="ana", name="laptop", now=clock.now())
    assert lookups.live_key(credits, key.id) == key
    assert lookups.live_key(credits, "key_absent") is None
    revoke_key(credits.engine, key.id, clock.now())
    assert lookups.live_key(credits, key.id) is None


def test_the_picker_lists_accounts_in_id_order_up_to_its_bound(credits: Gencredits) -> None:
    assert lookups.picker_accounts(credits) == []
    for number in range(lookups.PICKER_ACCOUNTS + 1):
        credits.create_account(f"acct-{number:04d}", name=f"Account {number}")
    found = lookups.picker_accounts(credits)
    assert len(found) == lookups.PICKER_ACCOUNTS
    assert found[:2] == [("acct-0000", "Account 0"), ("acct-0001", "Account 1")]
    assert found == sorted(found)
