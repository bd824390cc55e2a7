"""Dashboard records: SQLAlchemy 2 models, engine setup, Alembic migrations."""
