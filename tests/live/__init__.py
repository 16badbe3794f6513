"""Real-client tests: a package, so its conftest is ``live.conftest`` and never shadows ``tests/conftest.py``."""
