"""agentbus: a local message bus that pushes messages into live AI agent sessions."""

#: The one version of the project: pyproject.toml reads it from here (setuptools dynamic metadata),
#: so the adapter's cold start does not pay ~38 ms for importlib.metadata to look it up.
__version__ = "0.1.0"
#: The distribution's name (the name ``agentbus`` on PyPI belongs to another project); the import
#: package and the command are ``agentbus``.
DISTRIBUTION = "agentbus-sessions"
