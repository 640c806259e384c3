"""Storage: the Storage protocol (base.py) and its SQL implementation for SQLite and PostgreSQL."""
