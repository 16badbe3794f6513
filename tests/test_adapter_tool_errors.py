"""claude-mcp adapter: every refusal is an MCP tool error (isError, one sentence), never a crash."""

from collections.abc import Callable
from typing import Any

from agentbus.core import Bus, Settings
from fakeclaude import Sandbox, Session

StartSession = Callable[..., Session]

#: (tool, arguments, words the one-sentence error must contain)
Case = tuple[str, dict[str, Any], str]


def check_refusals(session: Session, cases: list[Case]) -> None:
    problems = []
    for tool, arguments, expected in cases:
        result = session.call_tool(tool, arguments)  # a JSON-RPC error would raise here
        if not result.is_error or expected not in result.text or "\n" in result.text.strip():
            problems.append(f"{tool}({arguments!r:.80}) -> is_error={result.is_error} {result.text!r}")
    assert not problems, "\n".join(problems)
    assert session.alive
    assert session.violations == []


def stored_messages(sandbox: Sandbox) -> int:
    with Bus(Settings.from_env({"AGENTBUS_HOME": str(sandbox.bus_home)})) as bus:
        return len(bus.history(limit=1000))


def test_send_message_refusals(fakeclaude_session: StartSession, fakeclaude_bus: Sandbox) -> None:
    alice = fakeclaude_session("alice", env={"AGENTBUS_MAX_BODY": "100"})
    fakeclaude_session("bob")
    check_refusals(
        alice,
        [
            ("send_message", {"to": 5, "text": "x"}, "to must be a string (the peer name to send to), got a number"),
            ("send_message", {"to": "bob", "text": None}, "text must be a string (the message), got null"),
            ("send_message", {"to": "bob", "text": ["a"]}, "text must be a string (the message), got an array"),
            ("send_message", {}, "missing required argument 'to'"),
            ("send_message", {"to": "bob"}, "missing required argument 'text'"),
            ("send_message", {"to": "Bad Name", "text": "x"}, "invalid recipient name 'Bad Name'"),
            ("send_message", {"to": "", "text": "x"}, "invalid recipient name ''"),
            ("send_message", {"to": "alice", "text": "x"}, "cannot send a message to itself"),
            ("send_message", {"to": "bob", "text": ""}, "text is empty"),
            ("send_message", {"to": "bob", "text": "x" * 101}, "text is 101 bytes; the limit is 100 bytes"),
            ("send_message", {"to": "bob", "text": "a\x00b"}, "NUL"),
            ("send_message", {"to": "bob", "text": "x", "reply_to": "abc"}, "reply_to must be an integer"),
            ("send_message", {"to": "bob", "text": "x", "reply_to": True}, "reply_to must be an integer"),
            ("send_message", {"to": "bob", "text": "x", "reply_to": 999}, "reply_to=999: no message with that id"),
            ("send_message", {"to": "*", "text": "x"}, "use the broadcast tool"),
            ("send_message", {"to": "bob", "text": "x", "message": "y"}, "unknown argument(s) 'message'"),
        ],
    )
    assert stored_messages(fakeclaude_bus) == 0


def test_broadcast_refusals(fakeclaude_session: StartSession, fakeclaude_bus: Sandbox) -> None:
    alice = fakeclaude_session("alice", env={"AGENTBUS_MAX_BODY": "100"})
    fakeclaude_session("bob")
    check_refusals(
        alice,
        [
            ("broadcast", {}, "missing required argument 'text'"),
            ("broadcast", {"text": None}, "text must be a string"),
            ("broadcast", {"text": 7}, "got a number"),
            ("broadcast", {"text": ""}, "text is empty"),
            ("broadcast", {"text": "y" * 200}, "the limit is 100 bytes"),
            ("broadcast", {"text": "x", "to": "bob"}, "unknown argument(s) 'to'"),
        ],
    )
    assert stored_messages(fakeclaude_bus) == 0


def test_set_name_refusals(fakeclaude_session: StartSession) -> None:
    alice = fakeclaude_session("alice")
    fakeclaude_session("bob")
    check_refusals(
        alice,
        [
            ("set_name", {}, "missing required argument 'name'"),
            ("set_name", {"name": 5}, "name must be a string"),
            ("set_name", {"name": "Not Valid!"}, "invalid new name 'Not Valid!'"),
            ("set_name", {"name": "x" * 33}, "use 1-32 characters"),
            ("set_name", {"name": "bob"}, "name taken: 'bob' is held by a live session"),
            ("set_name", {"name": "bob"}, "taken"),
        ],
    )
    assert alice.call_tool("whoami").structured["name"] == "alice"


def test_read_messages_and_other_refusals(fakeclaude_session: StartSession) -> None:
    alice = fakeclaude_session("alice")
    check_refusals(
        alice,
        [
            ("read_messages", {"limit": 0}, "limit must be between 1 and 100, got 0"),
            ("read_messages", {"limit": 1000}, "limit must be between 1 and 100"),
            ("read_messages", {"limit": "many"}, "limit must be an integer"),
            ("list_peers", {"verbose": True}, "list_peers got unknown argument(s) 'verbose'; it takes no arguments"),
            ("whoami", {"x": 1}, "unknown argument(s) 'x'"),
            ("no_such_tool", {}, "unknown tool 'no_such_tool'"),
        ],
    )


def test_rate_limit_is_a_tool_error(fakeclaude_session: StartSession) -> None:
    alice = fakeclaude_session("alice", env={"AGENTBUS_RATE_LIMIT_PER_MINUTE": "2"})
    fakeclaude_session("bob")
    for n in range(2):
        assert not alice.call_tool("send_message", {"to": "bob", "text": f"m{n}"}).is_error
    check_refusals(alice, [("send_message", {"to": "bob", "text": "one too many"}, "the limit is 2")])
