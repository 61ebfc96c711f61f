"""Use cases: each public call is one unit of work that owns its commit.

The service layer joins the pure domain to storage and the clock. The API, CLI and web
dashboard call it and nothing below it.
"""
