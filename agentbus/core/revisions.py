"""The schema's revisions (SPEC section 11), one per Alembic migration, readable without SQLAlchemy."""

#: Bumped with every migration in migrations/versions (a test checks); SPEC.md documents each version.
SCHEMA_REVISIONS = ("0001", "0002", "0003")
SCHEMA_HEAD = SCHEMA_REVISIONS[-1]
