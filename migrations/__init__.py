"""Alembic migrations of phototalk's schema (run through `storage.Database.migrate`)."""
