"""Alembic migrations of the fabcoord schema (run by ``fabcoord init``)."""
