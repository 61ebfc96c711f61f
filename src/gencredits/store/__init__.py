"""Storage: SQLAlchemy tables, queries and Alembic migrations.

Everything here turns domain values into rows and back (their JSON and YAML shapes live in
``gencredits.documents``); business rules stay in ``gencredits.domain`` and
``gencredits.service``.
"""
