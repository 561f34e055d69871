"""Alembic migration environment (package data; run through crashveil.server.db.engine.migrate)."""
