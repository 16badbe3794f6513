"""Alembic migrations of bus.db, shipped in the package and applied when a bus is opened."""
