"""The one place for the SQLAlchemy schema, engines, units of work and migrations."""
