"""Alembic environment: always runs on the connection handed over by agentbus.core.migrate."""

from alembic import context

from agentbus.core.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("agentbus migrations run through agentbus.core.migrate, which passes a connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
