"""Fixtures of the conformance suite, registered by the plugin only when an adapter is given."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentbus.manifest import Manifest
from conformance.databases import Backend
from conformance.harness import Harness
from conformance.requirements import Requirements
from conformance.settings import BACKEND_KEY, CLIENT_KEY, MANIFEST_KEY
from fakeclaude import profiles
from fakeclaude.profiles import Profile


@pytest.fixture(scope="session")
def agentbus_manifest(pytestconfig: pytest.Config) -> Manifest:
    """The manifest of the adapter under test (``--agentbus-adapter``)."""
    return pytestconfig.stash[MANIFEST_KEY]


@pytest.fixture(scope="session")
def agentbus_backend(pytestconfig: pytest.Config) -> Backend:
    """Where the run's buses live: the SQLite file, or PostgreSQL (``--agentbus-db-url``)."""
    return pytestconfig.stash.get(BACKEND_KEY, Backend())


@pytest.fixture(scope="session")
def agentbus_requirements(agentbus_manifest: Manifest, agentbus_backend: Backend) -> Requirements:
    """The suite's requirements answered for this adapter (what ``@requires`` checks)."""
    return Requirements(agentbus_manifest, agentbus_backend)


@pytest.fixture(scope="session")
def agentbus_client(pytestconfig: pytest.Config) -> Profile:
    """The recorded client the suite's sessions speak as (``--agentbus-client``; default the newest)."""
    return pytestconfig.stash.get(CLIENT_KEY, None) or profiles.load()


@pytest.fixture
def harness(
    agentbus_manifest: Manifest, agentbus_backend: Backend, agentbus_client: Profile, tmp_path: Path
) -> Iterator[Harness]:
    """A private bus for one test: its own AGENTBUS_HOME and HOME under ``tmp_path`` and, on PostgreSQL, its
    own database (dropped at teardown); sessions end at teardown."""
    made = Harness(agentbus_manifest, tmp_path / "sandbox", backend=agentbus_backend, client=agentbus_client)
    try:
        yield made
    finally:
        made.close()
