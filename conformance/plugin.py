"""pytest plugin entry point of the conformance kit; inert until --agentbus-adapter is given.

Options (each also an ini key and an environment variable; the command line wins over the
environment, which wins over the ini file):

- ``--agentbus-adapter=NAME|PATH`` / ``agentbus_adapter`` / ``AGENTBUS_ADAPTER``: the adapter to
  certify, an ``agentbus.adapters`` entry-point name (``claude-mcp``) or the path of a
  ``module.json``. An unknown name is a usage error that lists the installed adapters.
- ``--agentbus-strict`` / ``agentbus_strict`` / ``AGENTBUS_STRICT=1``: SHOULD failures fail the run.
- ``--agentbus-report=FILE`` / ``agentbus_report`` / ``AGENTBUS_REPORT``: write a JSON report
  (per test: rule, level, outcome, reason, duration; per rule and per level totals; the verdict).
- ``--agentbus-rules=ID[,ID...]`` / ``agentbus_rules`` / ``AGENTBUS_RULES``: run only the tests of
  these rules (shell-style patterns: ``DELIV-*,LIFE-1``); the others are deselected.
- ``--agentbus-db-url=URL`` / ``agentbus_db_url`` / ``AGENTBUS_DB_URL``: certify on PostgreSQL. URL is
  an admin URL of a server (``postgresql+psycopg://user@host:port/postgres``, a role with CREATEDB):
  every test gets a fresh database ``agentbus_conf_<random>`` there, dropped at teardown, and every
  adapter it starts gets ``AGENTBUS_DB_URL`` pointing at that database. Tests about the SQLite bus
  file itself skip with the reason. Without it each test's bus is the file ``AGENTBUS_HOME/bus.db``.

Decisions:

- Collection. With an adapter given, the plugin points pytest at the suite shipped in
  ``conformance/suite/`` (in ``pytest_configure``, by editing ``config.args``). When the command
  line names no paths, only the suite runs: ``testpaths`` and the current directory are ignored, so
  running from a project root (whose ini says ``testpaths = ["tests"]``) does not also run that
  project's tests. Paths given on the command line are collected as well (an adapter may add its
  own tests next to the standard); a path inside the suite selects part of it instead of adding
  the whole suite. Without an adapter nothing changes: markers are registered, nothing else.
- Levels. Every suite test cites one rule with ``@rule("DELIV-3")`` (``conformance.marks``), which
  applies ``spec("DELIV-3")`` and the level marker (``must``/``should``/``may``) taken from SPEC.md,
  so ``-m should`` selects by level. MAY rules also carry ``requires(<capability>)``: the test is
  skipped with a reason when the manifest does not claim the capability, and is then a MUST test
  when it does (MAN-3).
- Outcome. The exit status is decided by the MUST rules (and claimed MAY rules): their failures
  are ordinary test failures. A failing SHOULD test is turned into an expected failure in
  ``pytest_runtest_makereport`` (outcome ``skipped`` with ``wasxfail`` = "SHOULD <id> not met ...",
  shown as ``w``/``WARNING`` and counted as xfailed), so it never fails the run but stays visible
  in ``-ra``, in the kit's summary and in the JSON report as ``warning``; ``--agentbus-strict``
  leaves it a failure. Setup and teardown errors are never converted.
- Each test gets a private bus (``harness`` fixture: its own AGENTBUS_HOME and HOME under
  ``tmp_path``) and talks to the adapter only through stdio (fakeclaude sessions or the raw client,
  started from the manifest's ``command``) and the bus (``bus.db`` with plain sqlite3, or the test's
  PostgreSQL database with psycopg, on the SPEC section 11 schema), so the suite is xdist-safe and
  certifies adapters written in any language. When
  pytest-timeout is installed each suite test gets a 60 s timeout as a safety net.
"""

import fnmatch
from pathlib import Path
from typing import Any

import pytest

from agentbus.manifest import Manifest, ManifestError, resolve_adapter
from conformance import fixtures
from conformance.databases import Backend, BackendError, make_backend
from conformance.marks import MARKERS, REQUIRES_MARK, rule_of
from conformance.requirements import Requirements
from conformance.results import Results
from conformance.rules import KNOWN_CAPABILITIES, RULES, SPEC_VERSION, Rule
from conformance.settings import (
    BACKEND_KEY,
    BASELINE_KEY,
    CLIENT_KEY,
    MANIFEST_KEY,
    TIER_KEY,
    Settings,
    read_settings,
)
from conformance.tiers import NOT_APPLICABLE, TIERS
from fakeclaude import profiles
from fakeclaude.errors import FakeClaudeError

SUITE_DIR = Path(__file__).resolve().parent / "suite"
PLUGIN_NAME = "agentbus-conformance-session"
SUITE_TIMEOUT = 60.0


def pytest_addoption(parser: pytest.Parser) -> None:
    """The kit's options (see the module docstring), each mirrored by an ini key and an env variable."""
    group = parser.getgroup("agentbus", "agentbus conformance kit (SPEC.md)")
    group.addoption(
        "--agentbus-adapter",
        dest="agentbus_adapter",
        metavar="NAME|PATH",
        help="certify this adapter: an agentbus.adapters entry-point name or a module.json path "
        "(ini agentbus_adapter, env AGENTBUS_ADAPTER); runs the conformance suite",
    )
    group.addoption(
        "--agentbus-strict",
        dest="agentbus_strict",
        action="store_true",
        default=False,
        help="SHOULD failures fail the run instead of being reported as warnings "
        "(ini agentbus_strict, env AGENTBUS_STRICT)",
    )
    group.addoption(
        "--agentbus-report",
        dest="agentbus_report",
        metavar="FILE",
        help="write a JSON conformance report to FILE (ini agentbus_report, env AGENTBUS_REPORT)",
    )
    group.addoption(
        "--agentbus-rules",
        dest="agentbus_rules",
        metavar="IDS",
        help="run only the tests of these rules, comma-separated shell patterns such as 'DELIV-*,LIFE-1' "
        "(ini agentbus_rules, env AGENTBUS_RULES)",
    )
    group.addoption(
        "--agentbus-db-url",
        dest="agentbus_db_url",
        metavar="URL",
        help="certify on PostgreSQL: admin URL of a server (postgresql+psycopg://user@host:port/postgres); "
        "each test gets a fresh database there (ini agentbus_db_url, env AGENTBUS_DB_URL)",
    )
    group.addoption(
        "--agentbus-client",
        dest="agentbus_client",
        metavar="PROFILE",
        help="speak to the adapter as this recorded client, e.g. claude-code@2.1.197 (default: the newest; "
        "ini agentbus_client, env AGENTBUS_CLIENT)",
    )
    group.addoption(
        "--agentbus-tier",
        dest="agentbus_tier",
        metavar="wire|bus",
        help="certify on this tier (default: the manifest's 'tier', else bus): wire needs no shared bus file "
        "(ini agentbus_tier, env AGENTBUS_TIER)",
    )
    group.addoption(
        "--agentbus-baseline",
        dest="agentbus_baseline",
        metavar="FILE",
        help="rule ids (one per line, # comments) whose failures are known: reported as expected; a listed "
        "rule that passes is a stale entry, an error under --agentbus-strict (ini agentbus_baseline, env "
        "AGENTBUS_BASELINE)",
    )
    parser.addini("agentbus_adapter", "adapter to certify (entry-point name or module.json path)", default="")
    parser.addini("agentbus_strict", "SHOULD failures fail the run", type="bool", default=False)
    parser.addini("agentbus_report", "write a JSON conformance report to this file", default="")
    parser.addini("agentbus_rules", "run only the tests of these rules (comma-separated patterns)", default="")
    parser.addini("agentbus_tier", "certification tier: wire or bus", default="")
    parser.addini("agentbus_baseline", "file of rule ids whose failures are known", default="")
    parser.addini("agentbus_client", "the recorded client profile sessions speak as", default="")
    parser.addini("agentbus_db_url", "certify on PostgreSQL: admin URL of a server (a database per test)", default="")


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers; with an adapter given, load its manifest and aim collection at the suite."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    settings = read_settings(config)
    if not settings.adapter:
        return
    try:
        manifest = resolve_adapter(settings.adapter)
    except ManifestError as exc:
        raise pytest.UsageError(f"--agentbus-adapter: {exc}") from None
    try:
        backend = make_backend(settings.db_url)
    except BackendError as exc:
        raise pytest.UsageError(f"--agentbus-db-url: {exc}") from None
    try:
        client = profiles.load(settings.client)
    except profiles.UnknownProfile as exc:
        raise pytest.UsageError(f"--agentbus-client: {exc}") from None
    tier = settings.tier or manifest.tier
    if tier not in TIERS:
        raise pytest.UsageError(f"--agentbus-tier: {tier!r} is not one of {', '.join(TIERS)}")
    config.stash[TIER_KEY] = tier
    config.stash[BASELINE_KEY] = _read_baseline(config, settings.baseline)
    config.stash[MANIFEST_KEY] = manifest
    config.stash[BACKEND_KEY] = backend
    config.stash[CLIENT_KEY] = client
    config.pluginmanager.register(fixtures, "agentbus-conformance-fixtures")
    config.pluginmanager.register(ConformanceSession(config, manifest, settings, backend), PLUGIN_NAME)
    _aim_at_suite(config)


def _read_baseline(config: pytest.Config, path: Path | None) -> frozenset[str]:
    """The rule ids of a baseline file (one per line, ``#`` starts a comment); unknown ids are an error."""
    if path is None:
        return frozenset()
    path = path if path.is_absolute() else config.invocation_params.dir / path
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise pytest.UsageError(f"--agentbus-baseline: cannot read {path}: {exc.strerror}") from None
    ids = {line.split("#", 1)[0].strip().upper() for line in lines} - {""}
    unknown = sorted(ids - set(RULES))
    if unknown:
        raise pytest.UsageError(f"--agentbus-baseline: {path} names rules SPEC.md does not have: {', '.join(unknown)}")
    return frozenset(ids)


def _aim_at_suite(config: pytest.Config) -> None:
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(SUITE_DIR)]
        return
    base = config.invocation_params.dir
    for arg in config.args:
        path = (base / arg.split("::", 1)[0]).resolve()
        if path == SUITE_DIR or SUITE_DIR in path.parents:
            return
    config.args = [*config.args, str(SUITE_DIR)]


def _in_suite(item: pytest.Item) -> bool:
    path = Path(str(item.path)).resolve()
    return SUITE_DIR in path.parents


def _reason(report: pytest.TestReport) -> str:
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail:
        return str(wasxfail)
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message)
    return report.longreprtext.strip().splitlines()[-1] if report.longreprtext.strip() else ""


class ConformanceSession:
    """The active kit for one pytest run: requirement checks, SHOULD conversion, results and summary."""

    def __init__(
        self, config: pytest.Config, manifest: Manifest, settings: Settings, backend: Backend | None = None
    ) -> None:
        self.config = config
        self.manifest = manifest
        self.settings = settings
        self.backend = backend or Backend()
        self.client = config.stash.get(CLIENT_KEY, None) or profiles.load()
        self.tier = config.stash.get(TIER_KEY, manifest.tier)
        self.baseline = config.stash.get(BASELINE_KEY, frozenset())
        self.results = Results(
            manifest, settings.strict, backend=self.backend.kind, tier=self.tier, baseline=self.baseline
        )
        self.requirements = Requirements(manifest, self.backend, self.tier)
        report = settings.report
        self.report_path = (config.invocation_params.dir / report) if report is not None else None

    # collection --------------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        """Adapter, version, manifest, claimed capabilities, the bus backend and the kit's mode."""
        m = self.manifest
        claimed = sorted(m.capabilities)
        known = [c for c in claimed if c in KNOWN_CAPABILITIES] or ["none"]
        extra = [c for c in claimed if c not in KNOWN_CAPABILITIES]
        lines = [
            f"agentbus conformance: adapter {m.id} {m.version} ({m.title}), manifest {m.path}",
            f"agentbus conformance: spec {SPEC_VERSION}; capabilities claimed: {', '.join(known)}"
            + (f" (not defined by the spec, ignored: {', '.join(extra)})" if extra else ""),
            f"agentbus conformance: tier {self.tier}; bus backend {self.backend.describe()}; client {self.client.id}"
            + (f"; baseline of {len(self.baseline)} known failure(s)" if self.baseline else ""),
            "agentbus conformance: SHOULD failures are "
            + ("errors (--agentbus-strict)" if self.settings.strict else "warnings")
            + (f"; rules {','.join(self.settings.rules)}" if self.settings.rules else "")
            + (f"; JSON report {self.report_path}" if self.report_path else ""),
        ]
        return lines

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Tag suite items with their rule and level, add the safety timeout, apply --agentbus-rules."""
        has_timeout = config.pluginmanager.hasplugin("timeout")
        selected: list[pytest.Item] = []
        deselected: list[pytest.Item] = []
        for item in items:
            found = rule_of(item)
            if found is not None:
                item.user_properties.append(("agentbus_rule", found.id))
                item.user_properties.append(("agentbus_level", found.level))
            if _in_suite(item) and has_timeout and item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(SUITE_TIMEOUT))
            if self.settings.rules and _in_suite(item):
                wanted = found is not None and any(fnmatch.fnmatchcase(found.id, p) for p in self.settings.rules)
                (selected if wanted else deselected).append(item)
            else:
                selected.append(item)
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected

    # running -----------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Skip (with the reason) a test whose ``requires`` names a closed requirement."""
        marks = list(item.iter_markers(REQUIRES_MARK))
        if not marks:
            return
        for mark in marks:
            for name in mark.args:
                requirement = self.requirements.check(name)
                if not requirement:
                    why, only = mark.kwargs.get("why"), mark.kwargs.get("only")
                    if only and name == "shared_bus":
                        pytest.skip(f"{NOT_APPLICABLE} on the wire tier (SPEC: bus tier only): {only}")
                    pytest.skip(f"{why}: {requirement.reason}" if why else requirement.reason)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        """Quote the rule on failures; turn a SHOULD failure into a warning unless strict."""
        report: pytest.TestReport = yield
        found: Rule | None = rule_of(item)
        if found is None or not report.failed:
            return report
        report.sections.append(("agentbus rule", f"{found.heading}: {found.text}"))
        if report.when == "call" and call.excinfo is not None and not _is_a_verdict(call.excinfo.value):
            # Not an assertion about the adapter, nor the adapter failing fakeclaude: the kit broke.
            report.agentbus_kit_error = True  # type: ignore[attr-defined]
            return report
        if found.id in self.baseline and report.when == "call":
            message = call.excinfo.exconly() if call.excinfo is not None else "failed"
            report.outcome = "skipped"
            report.wasxfail = f"known failure of {found.id} (baseline): {' '.join(message.split())[:300]}"
            report.agentbus_expected = True  # type: ignore[attr-defined]
            return report
        if found.level == "should" and report.when == "call" and not self.settings.strict:
            message = call.excinfo.exconly() if call.excinfo is not None else "failed"
            first = " ".join(message.split())[:300]
            report.outcome = "skipped"
            report.wasxfail = f"SHOULD {found.id} not met (warning; --agentbus-strict makes it an error): {first}"
            report.agentbus_warning = True  # type: ignore[attr-defined]
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> Any:
        """Show a SHOULD warning as ``w`` / ``WARNING`` (counted with the xfailed tests)."""
        if getattr(report, "agentbus_warning", False) and report.when == "call":
            return "xfailed", "w", ("WARNING", {"yellow": True})
        if getattr(report, "agentbus_expected", False) and report.when == "call":
            return "xfailed", "x", ("EXPECTED (baseline)", {"yellow": True})
        if getattr(report, "agentbus_kit_error", False) and report.when == "call":
            return "failed", "K", ("KIT ERROR", {"red": True})
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold each phase report into the results (on the xdist controller too)."""
        props = dict(report.user_properties)
        rule_id = props.get("agentbus_rule")
        if rule_id is None:
            return
        if getattr(report, "agentbus_warning", False):
            outcome = "warning"
        elif getattr(report, "agentbus_expected", False):
            outcome = "expected"
        elif getattr(report, "agentbus_kit_error", False):
            outcome = "kit-error"
        elif report.failed:
            outcome = "failed" if report.when == "call" else "error"
        elif report.skipped:
            if hasattr(report, "wasxfail"):
                outcome = "warning"
            else:
                outcome = "n/a" if _reason(report).startswith(NOT_APPLICABLE) else "skipped"
        else:
            outcome = "passed"
        reason = _reason(report) if outcome != "passed" else ""
        self.results.record(report.nodeid, str(rule_id), str(props["agentbus_level"]), outcome, reason, report.duration)

    # reporting ---------------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write the JSON report (on the controller only when xdist runs workers)."""
        if hasattr(session.config, "workerinput"):
            return
        if self.report_path is not None:
            self.results.write(self.report_path)
            self.results.write_markdown(self.report_path.with_suffix(".md"))
        if self.settings.strict and self.results.stale_baseline():
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        """The per-level table, one line per rule, and the verdict."""
        if hasattr(config, "workerinput"):
            return
        terminalreporter.section("agentbus conformance")
        for line in self.results.summary_lines():
            if line.startswith(self.results.verdict()[:20]) and line == self.results.verdict():
                good = self.results.conforms()
                terminalreporter.write_line(line, green=good, red=not good, bold=True)
            else:
                terminalreporter.write_line(line)
        if self.report_path is not None:
            terminalreporter.write_line(
                f"JSON report: {self.report_path}; summary {self.report_path.with_suffix('.md')}"
            )


def _is_a_verdict(error: BaseException) -> bool:
    """True for what judges the adapter: a failed assertion, pytest.fail/skip, fakeclaude's errors
    (the adapter exited, timed out, broke the handshake or answered with a JSON-RPC error)."""
    return isinstance(error, AssertionError | FakeClaudeError | pytest.fail.Exception | pytest.skip.Exception)
