"""The pure core of gencredits: amounts, catalog, pricing, plans, ledger rules and advice.

Nothing in this package reads a clock, touches a database or the network, or imports
anything outside the standard library. Time arrives as an argument; storage lives in
``gencredits.store``. ``tests/test_architecture.py`` keeps it so.
"""
