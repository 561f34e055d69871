"""Database layer: engines, the table definitions and the Alembic migrations."""
