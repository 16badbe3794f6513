"""Fixtures of the conformance suite, registered by the plugin only when an adapter is given."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentbus.manifest import Manifest
from conformance.databases import Backend
from conformance.harness import Harness
from conformance.marks import rule_of
from conformance.requirements import Requirements
from conformance.settings import BACKEND_KEY, CLIENT_KEY, MANIFEST_KEY, TIER_KEY
from conformance.tiers import BusGate
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
def agentbus_requirements(agentbus_manifest: Manifest, agentbus_backend: Backend, agentbus_tier: str) -> Requirements:
    """The suite's requirements answered for this adapter (what ``@requires`` checks)."""
    return Requirements(agentbus_manifest, agentbus_backend, agentbus_tier)


@pytest.fixture(scope="session")
def agentbus_client(pytestconfig: pytest.Config) -> Profile:
    """The recorded client the suite's sessions speak as (``--agentbus-client``; default the newest)."""
    return pytestconfig.stash.get(CLIENT_KEY, None) or profiles.load()


@pytest.fixture(scope="session")
def agentbus_tier(pytestconfig: pytest.Config, agentbus_manifest: Manifest) -> str:
    """The tier of this run (``--agentbus-tier``, else the manifest's): ``wire`` or ``bus``."""
    return pytestconfig.stash.get(TIER_KEY, agentbus_manifest.tier)


@pytest.fixture
def harness(
    request: pytest.FixtureRequest,
    agentbus_manifest: Manifest,
    agentbus_backend: Backend,
    agentbus_client: Profile,
    agentbus_tier: str,
    tmp_path: Path,
) -> Iterator[Harness]:
    """A private bus for one test: its own AGENTBUS_HOME and HOME under ``tmp_path`` and, on PostgreSQL, its
    own database (dropped at teardown); sessions end at teardown. Reading the bus file goes through
    the tier's gate (``conformance.tiers``)."""
    cited = rule_of(request.node) if isinstance(request.node, pytest.Item) else None
    gate = BusGate(agentbus_tier, cited.id if cited else None)
    made = Harness(
        agentbus_manifest,
        tmp_path / "sandbox",
        backend=agentbus_backend,
        client=agentbus_client,
        gate=gate,
        door=cited.door if cited else None,
    )
    try:
        yield made
    finally:
        made.close()
