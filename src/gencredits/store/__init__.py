"""Storage: the catalog document format, SQLAlchemy tables, queries and Alembic migrations.

Everything here turns domain values into rows or documents and back; business rules stay in
``gencredits.domain`` and ``gencredits.service``.
"""
