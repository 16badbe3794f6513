"""The ``fakeclaude`` command: chat on a bus as a fake Claude Code session, send one message, or record a profile.

``fakeclaude record-profile --claude PATH [--out DIR]`` drives a real Claude Code binary offline and
writes its client profile (``fakeclaude/profiles/claude-code@VERSION.json``): a new release is one
command away from a new profile (see ``fakeclaude.live.record``).
"""

import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from fakeclaude.errors import FakeClaudeError, JsonRpcError
from fakeclaude.session import ChannelEvent, Session, ToolResult

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Be a Claude Code session on an agentbus from a terminal (a real adapter over stdio).",
)

HELP = """\
  @NAME TEXT        send TEXT to NAME (send_message)
  @* TEXT           broadcast TEXT to every peer (also: /broadcast TEXT)
  /reply TEXT       answer the last message you received (reply_to its msg_id)
  /peers            list peers (list_peers)
  /name NEW         change your name (set_name)
  /whoami           who you are on the bus (whoami)
  /read             fetch unread messages (read_messages)
  /tools            list the adapter's tools
  /help             this help
  /quit             close the session (also Ctrl-D)
Incoming messages appear as the <channel> tag the model would see."""

RECIPIENT_KEYS = ("to", "recipient", "peer", "target")
BODY_KEYS = ("text", "body", "message", "content")
NAME_KEYS = ("name", "new_name")
REPLY_KEYS = ("reply_to", "in_reply_to")

AdapterOpt = Annotated[str, typer.Option("--adapter", "-a", help="Adapter entry-point name or path to a module.json.")]
HomeOpt = Annotated[
    Path | None, typer.Option("--home", help="Bus directory (AGENTBUS_HOME); default: the adapter's own.")
]
OpeningOpt = Annotated[
    str | None,
    typer.Option("--opening", help="Override the profile's opening: 'initialize' (2.1.197) or 'discover' (2.1.331)."),
]
ClientOpt = Annotated[
    str | None,
    typer.Option("--client", help="Client profile to speak as, e.g. claude-code@2.1.197 (default: the newest)."),
]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the opening and for each call.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Echo the adapter's stderr.")]


def _properties(session: Session, tool: str) -> dict[str, Any]:
    for entry in session.tools or []:
        if entry.get("name") == tool:
            schema = entry.get("inputSchema")
            props = schema.get("properties") if isinstance(schema, dict) else None
            return props if isinstance(props, dict) else {}
    return {}


def _pick(props: dict[str, Any], candidates: tuple[str, ...], default: str) -> str:
    return next((key for key in candidates if key in props), default)


def _has_tool(session: Session, tool: str) -> bool:
    return any(entry.get("name") == tool for entry in session.tools or [])


def _send_args(session: Session, to: str, text: str, reply_to: str | None = None) -> dict[str, Any]:
    props = _properties(session, "send_message")
    args: dict[str, Any] = {_pick(props, RECIPIENT_KEYS, "to"): to, _pick(props, BODY_KEYS, "text"): text}
    if reply_to is not None:
        key = _pick(props, REPLY_KEYS, "reply_to")
        schema = props.get(key)
        wants_int = isinstance(schema, dict) and schema.get("type") == "integer"
        args[key] = int(reply_to) if wants_int and reply_to.isdigit() else reply_to
    return args


def _format_result(tool: str, outcome: ToolResult | Exception) -> str:
    if isinstance(outcome, JsonRpcError):
        return f"error from {tool}: JSON-RPC error {outcome.code}: {outcome.message}"
    if isinstance(outcome, Exception):
        return f"error from {tool}: {outcome}"
    if outcome.is_error:
        return f"error from {tool}: {outcome.text or outcome.raw}"
    return f"[{tool}] {outcome.text}" if outcome.text else f"[{tool}] ok"


class Chat:
    """The interactive loop: commands in, tool results and rendered channel events out."""

    def __init__(self, session: Session, name: str, timeout: float) -> None:
        self.session = session
        self.name = name
        self.timeout = timeout
        self.interactive = sys.stdin.isatty()
        self.lock = threading.Lock()

    @property
    def prompt(self) -> str:
        return f"{self.name}> " if self.interactive else ""

    def say(self, text: str) -> None:
        with self.lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def on_channel(self, event: ChannelEvent) -> None:
        """Print an incoming event on its own line, then give the prompt back."""
        with self.lock:
            sys.stdout.write(("\n" if self.interactive else "") + event.rendered + "\n" + self.prompt)
            sys.stdout.flush()

    def call(self, tool: str, args: dict[str, Any]) -> ToolResult | None:
        try:
            result = self.session.call_tool(tool, args, timeout=self.timeout)
        except FakeClaudeError as exc:
            self.say(_format_result(tool, exc))
            return None
        self.say(_format_result(tool, result))
        return result

    def handle(self, line: str) -> bool:
        """Run one input line; False means quit."""
        line = line.strip()
        if not line:
            return True
        if line.startswith("@"):
            target, _, text = line[1:].partition(" ")
            if not target or not text.strip():
                self.say("usage: @NAME TEXT  (or @* TEXT to broadcast)")
            elif target == "*":
                self.broadcast(text.strip())
            else:
                self.call("send_message", _send_args(self.session, target, text.strip()))
            return True
        command, _, rest = line.partition(" ")
        rest = rest.strip()
        if command in ("/quit", "/exit", "/q"):
            return False
        if command == "/help":
            self.say(HELP)
        elif command == "/broadcast":
            if rest:
                self.broadcast(rest)
            else:
                self.say("usage: /broadcast TEXT")
        elif command == "/reply":
            self.reply(rest)
        elif command == "/peers":
            self.call("list_peers", {})
        elif command == "/whoami":
            self.call("whoami", {})
        elif command == "/read":
            self.call("read_messages", {})
        elif command == "/name":
            if not rest:
                self.say("usage: /name NEW")
            else:
                props = _properties(self.session, "set_name")
                result = self.call("set_name", {_pick(props, NAME_KEYS, "name"): rest})
                if result is not None and not result.is_error:
                    self.name = rest
        elif command == "/tools":
            for tool in self.session.list_tools(timeout=self.timeout):
                summary = (str(tool.get("description") or "").strip().splitlines() or [""])[0]
                self.say(f"  {tool.get('name')}: {summary}")
        else:
            self.say(f"unknown command {command!r}; /help lists them")
        return True

    def broadcast(self, text: str) -> None:
        if _has_tool(self.session, "broadcast"):
            props = _properties(self.session, "broadcast")
            self.call("broadcast", {_pick(props, BODY_KEYS, "text"): text})
        else:
            self.call("send_message", _send_args(self.session, "*", text))

    def reply(self, text: str) -> None:
        # The session's list, not the callback: the reader records an event before it completes the
        # call that follows it on the wire, while callbacks run later on the dispatcher thread.
        events = self.session.channel_events
        event = events[-1] if events else None
        if event is None or not event.sender:
            self.say("nothing to reply to yet")
        elif not text:
            self.say("usage: /reply TEXT")
        else:
            self.call("send_message", _send_args(self.session, event.sender, text, event.meta.get("msg_id")))

    def run(self) -> None:
        while True:
            try:
                if self.interactive:
                    with self.lock:
                        sys.stdout.write(self.prompt)
                        sys.stdout.flush()
                line = sys.stdin.readline()
            except KeyboardInterrupt:
                break
            if not line:
                break
            if not self.handle(line):
                break


def _start(
    name: str,
    adapter: str,
    home: Path | None,
    opening: str | None,
    timeout: float,
    verbose: bool,
    client: str | None = None,
    **kwargs: Any,
) -> Session:
    if opening not in (None, "initialize", "discover"):
        raise typer.BadParameter("use 'initialize' or 'discover'", param_hint="--opening")
    try:
        session = Session(
            adapter,
            name=name,
            bus_home=home,
            client=client,
            opening=opening,  # type: ignore[arg-type]
            stderr_echo=sys.stderr if verbose else None,
            **kwargs,
        )
        session.start(timeout)
        if session.tools is None:
            session.list_tools(timeout=timeout)
        # Like Claude Code, the session listens for channel events a moment after tools/list.
        session.wait_channel_ready(timeout)
    except (FakeClaudeError, ValueError) as exc:
        typer.echo(f"fakeclaude: cannot start adapter {adapter!r} as {name!r}: {exc}", err=True)
        raise typer.Exit(2) from None
    return session


def _finish(session: Session) -> None:
    result = session.close(timeout=5.0)
    if not result.exited or result.exit_code:
        typer.echo(f"fakeclaude: adapter {result.describe()}", err=True)
    for finding in session.violations:
        typer.echo(f"fakeclaude: {finding.describe()}", err=True)


@app.command()
def chat(
    name: Annotated[str, typer.Argument(help="Your name on the bus (AGENTBUS_NAME).")],
    adapter: AdapterOpt = "claude-mcp",
    home: HomeOpt = None,
    client: ClientOpt = None,
    opening: OpeningOpt = None,
    channels: Annotated[
        bool, typer.Option("--channels/--no-channels", help="Off: like Claude Code without the flag.")
    ] = True,
    timeout: TimeoutOpt = 10.0,
    verbose: VerboseOpt = False,
) -> None:
    """Chat interactively as NAME: type @bob hello, /peers, /help."""
    holder: dict[str, Chat] = {}

    def on_channel(event: ChannelEvent) -> None:
        if "chat" in holder:
            holder["chat"].on_channel(event)
        else:
            sys.stdout.write(event.rendered + "\n")
            sys.stdout.flush()

    session = _start(
        name, adapter, home, opening, timeout, verbose, client=client, channels=channels, on_channel=on_channel
    )
    loop = Chat(session, name, timeout)
    holder["chat"] = loop
    capable = "yes" if session.channel_capable else "NO (incoming messages will not be pushed)"
    loop.say(
        f"fakeclaude: {name} on {session.manifest.id} as {session.profile.id} (opening: {session.opening_used}; "
        f"channel capability: {capable}{'' if channels else '; channels off'}). /help for commands."
    )
    try:
        loop.run()
    finally:
        _finish(session)


@app.command()
def send(
    to: Annotated[str, typer.Argument(help="Recipient name, or * for everyone.")],
    text: Annotated[str, typer.Argument(help="Message text.")],
    as_: Annotated[str, typer.Option("--as", help="Send as this name (AGENTBUS_NAME).")],
    adapter: AdapterOpt = "claude-mcp",
    home: HomeOpt = None,
    client: ClientOpt = None,
    opening: OpeningOpt = None,
    timeout: TimeoutOpt = 10.0,
    verbose: VerboseOpt = False,
) -> None:
    """Start a session as --as, send one message, close; exit code 1 if the tool failed."""
    session = _start(as_, adapter, home, opening, timeout, verbose, client=client)
    failed = False
    try:
        result = session.call_tool("send_message", _send_args(session, to, text), timeout=timeout)
        failed = result.is_error
        typer.echo(_format_result("send_message", result), err=failed)
    except FakeClaudeError as exc:
        failed = True
        typer.echo(_format_result("send_message", exc), err=True)
    finally:
        _finish(session)
    if failed:
        raise typer.Exit(1)


@app.command("record-profile")
def record_profile(
    claude: Annotated[Path, typer.Option("--claude", help="The Claude Code binary to record.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for claude-code@VERSION.json; default: fakeclaude/profiles.")
    ] = None,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Sessions of each kind (normal, stubborn server).")] = 2,
) -> None:
    """Record claude-code@VERSION.json from a real Claude Code binary, offline (fake model, recording tap)."""
    from fakeclaude.live.record import PROFILES_DIR  # pexpect: only when asked
    from fakeclaude.live.record import record_profile as record

    if not claude.exists():
        raise typer.BadParameter(f"{claude} does not exist", param_hint="--claude")
    try:
        record(claude, out or PROFILES_DIR, runs, say=typer.echo)
    except (RuntimeError, TimeoutError, AssertionError) as exc:
        typer.echo(f"fakeclaude record-profile: {exc}", err=True)
        raise typer.Exit(1) from None


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
