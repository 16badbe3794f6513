"""``agentbus demo``: real adapter processes on a throwaway bus, driven by fakeclaude, narrated.

Every step checks that what it shows really happened; the command exits 0 only if all of them did.
"""

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from agentbus.cli.app import EXIT_FAILED, command
from agentbus.cli.output import Output
from agentbus.core.bus import Bus, MailboxStats
from agentbus.core.config import Settings

EVENT_TIMEOUT = 10.0
START_TIMEOUT = 15.0
STEPS = 7


class DemoFailed(Exception):
    """A step did not do what it claims; the message says what was expected and what happened."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise DemoFailed(message)


def _args(arguments: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())


class Narrator:
    """Prints the demo: step headers, tool calls with their results, and what each model sees."""

    def __init__(self, out: Output, pace: float) -> None:
        self.out = out
        self.pace = pace
        self.step_no = 0
        self.current = ""

    def step(self, title: str) -> None:
        if self.step_no and self.pace:
            time.sleep(self.pace)
        self.step_no += 1
        self.current = title
        self.out.line()
        self.out.markup(
            f"[bold cyan][{self.step_no}/{STEPS}][/] [bold]{escape(title)}[/]", f"[{self.step_no}/{STEPS}] {title}"
        )

    def say(self, text: str) -> None:
        self.out.markup(f"  [dim]{escape(text)}[/]", f"  {text}")

    def call(self, who: str, tool: str, arguments: dict[str, Any], result: str) -> None:
        self.out.markup(
            f"  [bold]{escape(who)}[/] [magenta]▸ {escape(tool)}[/]({escape(_args(arguments))})",
            f"  {who} > {tool}({_args(arguments)})",
        )
        for line in result.splitlines():
            self.out.markup(f"      [dim]{escape(line)}[/]", f"      {line}")

    def sees(self, who: str, rendered: str, when: str) -> None:
        self.out.markup(f"  [bold]{escape(who)}[/]'s model sees, {escape(when)}:", f"  {who}'s model sees, {when}:")
        for line in rendered.splitlines():
            self.out.markup(f"      [green]{escape(line)}[/]", f"      {line}")


def _settled_mailboxes(settings: Settings) -> list[MailboxStats]:
    """Mailbox stats once nothing is pending (a push is marked delivered just after it resolves)."""
    deadline = time.monotonic() + EVENT_TIMEOUT
    with Bus(settings) as bus:
        while True:
            stats = bus.mailbox_stats()
            if not any(s.pending for s in stats) or time.monotonic() >= deadline:
                return stats
            time.sleep(0.02)


def _wait_for_push(settings: Settings, names: set[str]) -> None:
    """Wait until every named session is on the bus as able to receive by push."""
    deadline = time.monotonic() + EVENT_TIMEOUT
    with Bus(settings) as bus:
        while True:
            ready = {p.name for p in bus.peers() if p.can_push}
            if names <= ready:
                return
            if time.monotonic() >= deadline:
                raise DemoFailed(f"sessions {sorted(names - ready)} never announced they can receive by push")
            time.sleep(0.02)


def run_demo(narrate: Narrator, adapter: str = "claude-mcp", bus_home: Path | None = None) -> float:
    """Run every step (on the bus at ``bus_home``, else a throwaway one); returns the seconds it took.
    Raises DemoFailed (or a fakeclaude error)."""
    from fakeclaude import Sandbox, Session

    out = narrate.out
    started = time.monotonic()
    with Sandbox(adapter=adapter, bus_home=bus_home) as sandbox:
        settings = Settings.from_env({"AGENTBUS_HOME": str(sandbox.bus_home)})
        out.markup(
            "[bold]agentbus demo[/]: Claude Code sessions and a Codex session talking over a throwaway bus",
            "agentbus demo: Claude Code sessions and a Codex session talking over a throwaway bus",
        )
        untouched = "your ~/.claude.json is"
        if bus_home is None:
            untouched = "a throwaway one: your ~/.agentbus and ~/.claude.json are"
        narrate.say(f"bus: {sandbox.bus_home} ({untouched} not touched)")
        narrate.say(f"each session is a real {adapter} adapter process, driven by fakeclaude the way Claude Code")
        narrate.say("drives it; the <channel> lines are exactly what the model would be shown.")

        def call(session: Session, tool: str, arguments: dict[str, Any]) -> Any:
            result = session.call_tool(tool, arguments, timeout=EVENT_TIMEOUT)
            narrate.call(session.name or "?", tool, arguments, result.text)
            _check(not result.is_error, f"{tool} returned an error: {result.text}")
            return result

        def receive(
            session: Session, who: str, match: Callable[[Any], bool], since: float, when: str, after: str = "the send"
        ) -> Any:
            event = session.wait_for_channel(match, timeout=EVENT_TIMEOUT)
            delay = max(0.0, event.received_at - since) * 1000
            narrate.sees(who, event.rendered, f"{when} ({delay:.0f} ms after {after})")
            return event

        narrate.step("two sessions start")
        # Both processes boot in parallel; then each is opened the way its Claude Code version does.
        frontend = sandbox.session("frontend").launch()
        backend = sandbox.session("backend", opening="discover").launch()
        frontend.open(START_TIMEOUT)
        backend.open(START_TIMEOUT)
        for session, how in (
            (frontend, "initialize, as Claude Code 2.1.197 does"),
            (backend, "server/discover probe, then initialize, as 2.1.331 does"),
        ):
            _check(session.channel_capable, f"{session.name} did not declare the claude/channel capability")
            narrate.say(f"{session.name}: up (opening: {how}); declares the claude/channel capability")
        _wait_for_push(settings, {"frontend", "backend"})

        narrate.step("discovery: frontend looks for peers")
        peers = call(frontend, "list_peers", {}).json()
        names = {p["name"] for p in peers["peers"]}
        _check({"frontend", "backend"} <= names, f"list_peers should show frontend and backend, got {sorted(names)}")

        narrate.step("send: frontend asks backend a question")
        question = "What does GET /users return?"
        sent_at = time.monotonic()
        sent = call(frontend, "send_message", {"to": "backend", "text": question}).json()
        event = receive(backend, "backend", lambda e: e.content == question, sent_at, "pushed into its session")
        _check(event.meta.get("from") == "frontend", f"the event should come from frontend, meta={event.meta}")
        _check(event.meta.get("msg_id") == str(sent["msg_id"]), f"msg_id should be {sent['msg_id']}, meta={event.meta}")

        narrate.step("reply: backend answers, threaded with reply_to")
        answer = "A JSON list of {id, name, email}; paginate with ?cursor="
        msg_id = int(event.meta["msg_id"])
        sent_at = time.monotonic()
        call(backend, "send_message", {"to": "frontend", "text": answer, "reply_to": msg_id})
        event = receive(frontend, "frontend", lambda e: e.content == answer, sent_at, "pushed")
        _check(
            event.meta.get("reply_to") == str(msg_id), f"the reply should carry reply_to={msg_id}, meta={event.meta}"
        )

        narrate.step("rename: backend becomes 'api' while running")
        call(backend, "set_name", {"name": "api"})
        peers = call(frontend, "list_peers", {}).json()
        names = {p["name"] for p in peers["peers"]}
        _check("api" in names and "backend" not in names, f"list_peers should show api, not backend: {sorted(names)}")
        text = "Thanks, api. Is the cursor opaque?"
        sent_at = time.monotonic()
        call(frontend, "send_message", {"to": "api", "text": text})
        receive(backend, "api", lambda e: e.content == text, sent_at, "under its new name")

        narrate.step("a Codex session: a message becomes user input of its thread")
        codex = sandbox.start_session("codex-dev", adapter="codex", timeout=START_TIMEOUT)
        narrate.say("codex-dev: the codex adapter under a Codex app-server (fakeclaude's, as codex 0.169.0 answers)")
        _wait_for_push(settings, {"codex-dev"})
        task = "codex-dev, can you write the pagination test?"
        sent_at = time.monotonic()
        call(frontend, "send_message", {"to": "codex-dev", "text": task})
        event = codex.wait_for_channel(lambda e: e.content == task, timeout=EVENT_TIMEOUT)
        _check(event.via == "codex-app-server", f"codex-dev should get it through its app-server, got {event.via}")
        assert codex.app_server is not None
        given = next(i.text for i in codex.app_server.inputs if task in i.text)  # the tag and how to reply
        delay = max(0.0, event.received_at - sent_at) * 1000
        narrate.sees("codex-dev", given, f"as user input of its thread ({delay:.0f} ms after the send)")
        done = "Yes: tests/test_pagination.py, ready in a minute."
        sent_at = time.monotonic()
        call(codex, "send_message", {"to": "frontend", "text": done, "reply_to": int(event.meta["msg_id"])})
        receive(frontend, "frontend", lambda e: e.content == done, sent_at, "pushed")

        narrate.step("offline mail: a message for a session that has not started yet")
        note = "Please review PR #7 when you start."
        call(frontend, "send_message", {"to": "reviewer", "text": note})
        with Bus(settings) as bus:
            waiting = [e.body for e in bus.pending("reviewer")]
        _check(waiting == [note], f"the bus should hold one message for reviewer, holds {waiting}")
        narrate.say("the bus holds it: 1 message pending for reviewer. Starting reviewer now...")
        launched_at = time.monotonic()
        reviewer = sandbox.start_session("reviewer", timeout=START_TIMEOUT)
        receive(reviewer, "reviewer", lambda e: e.content == note, launched_at, "on launch", "it was started")

        stats = _settled_mailboxes(settings)
        pending = {s.recipient: s.pending for s in stats if s.pending}
        _check(not pending, f"every message should be delivered, still pending: {pending}")
        delivered = sum(s.delivered for s in stats)
        for session in (frontend, backend, codex, reviewer):
            problems = [f.describe() for f in session.violations]
            _check(not problems, f"{session.name}: protocol violations: {'; '.join(problems)}")
        out.line()
        narrate.say(f"{delivered} messages, every one delivered; no protocol violations.")
    return time.monotonic() - started


BusOption = typer.Option(
    None, "--bus", help="Run on the bus in this directory (to watch it: AGENTBUS_HOME=DIR agentbus watch)."
)


@command("demo")
def demo(
    adapter: str = typer.Option("claude-mcp", "--adapter", help="Adapter id or path to a module.json."),
    pace: float = typer.Option(0.0, "--pace", help="Pause this many seconds between steps (for recordings)."),
    bus: Path | None = BusOption,
) -> None:
    """A self-driving demo on a throwaway bus: discovery, send, reply, rename, a Codex session, offline mail."""
    from fakeclaude import FakeClaudeError

    out = Output()
    narrate = Narrator(out, pace)
    try:
        seconds = run_demo(narrate, adapter, bus)
    except (DemoFailed, FakeClaudeError) as exc:
        out.line()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = f" at step {narrate.step_no}/{STEPS} ({narrate.current})" if narrate.step_no else ""
        out.error(f"demo failed{where}: {first}")
        details = str(exc).strip().splitlines()[1:]
        for line in details[-15:]:
            out.note("  " + line)
        raise typer.Exit(EXIT_FAILED) from None
    out.markup(
        f"[bold green]✓ all {STEPS} steps passed in {seconds:.1f}s.[/]",
        f"ok: all {STEPS} steps passed in {seconds:.1f}s.",
    )
    out.line("Now for real: agentbus enable claude-mcp, then in two terminals:")
    out.line("  AGENTBUS_NAME=frontend claude")
    out.line("  AGENTBUS_NAME=backend claude")
    out.line("and a Codex session: agentbus enable codex, then AGENTBUS_NAME=codex-dev codex")
    out.line("and a Gemini CLI session: agentbus enable gemini, then AGENTBUS_NAME=researcher gemini")
    out.line("then watch them all: agentbus watch")
