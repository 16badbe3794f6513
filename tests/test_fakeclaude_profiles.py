"""fakeclaude speaks as the recorded clients: its requests have the shapes the real binaries wrote."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fakeclaude import Session, profiles

StartSession = Callable[..., Session]
FAKES = Path(__file__).with_name("fake_adapters")
GOOD = str(FAKES / "good" / "module.json")


def shape(message: Any) -> Any:
    """The keys of a message and of every object inside it, in order (values other than objects dropped)."""
    if isinstance(message, dict):
        return {key: shape(value) for key, value in message.items()}
    return type(message).__name__


def request_shape(message: dict[str, Any]) -> Any:
    """A request's shape with the tool arguments left out (they are the caller's)."""
    found = shape(message)
    if isinstance(found.get("params"), dict) and "arguments" in found["params"]:
        found["params"]["arguments"] = "dict"
    return found


@pytest.mark.parametrize("client", profiles.available())
def test_requests_have_the_recorded_shapes(fakeclaude_session: StartSession, client: str) -> None:
    profile = profiles.load(client)
    session = fakeclaude_session("alice", client=client)
    result = session.call_tool("whoami", {})
    assert not result.is_error
    sent = [r.message for r in session.recorder.sent()]
    recorded = [*profile.opening, *profile.after_initialize, profile.tools_call]
    assert [m["method"] for m in sent] == [m["method"] for m in recorded]  # type: ignore[index]
    for ours, theirs in zip(sent, recorded, strict=True):
        assert request_shape(ours) == request_shape(theirs), theirs["method"]  # type: ignore[arg-type]
    assert sent[: len(profile.opening)] == profile.opening  # the opening is the binary's, byte for byte
    call = sent[-1]
    assert call is not None
    assert call["params"]["_meta"]["progressToken"] == call["id"]
    assert call["params"]["_meta"]["claudecode/toolUseId"].startswith("toolu_")


@pytest.mark.parametrize("client", profiles.available())
def test_initialized_and_tools_list_leave_in_one_write(fakeclaude_session: StartSession, client: str) -> None:
    session = fakeclaude_session("alice", client=client)
    initialized, listing = session.recorder.sent("notifications/initialized")[0], session.recorder.sent("tools/list")[0]
    assert listing.seq == initialized.seq + 1
    assert listing.at - initialized.at < 0.01


def test_the_newest_profile_is_the_default() -> None:
    assert profiles.available()[-1] == profiles.DEFAULT == profiles.load().id


def test_an_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(profiles.UnknownProfile, match=r"claude-code@2\.1\.197"):
        profiles.load("claude-code@0.0.1")


def test_events_before_the_channel_handler_are_dropped_and_recorded(fakeclaude_session: StartSession) -> None:
    """An adapter that pushes right after the tools/list answer loses the event, as with the real client."""
    session = fakeclaude_session("alice", GOOD)
    early = session.call_tool("emit", {"content": "too early", "meta": {"from": "x"}})
    assert not early.is_error
    assert session.channel_events == []
    assert [d.params["content"] for d in session.dropped_events] == ["too early"]
    assert "before Claude Code registered its channel handler" in session.dropped_events[0].reason
    session.wait_channel_ready()
    session.call_tool("emit", {"content": "in time", "meta": {"from": "x"}})
    assert session.wait_for_channel(timeout=5).content == "in time"


def test_the_channel_handler_delay_comes_from_the_profile(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("alice", GOOD, channel_handler_delay=0.0)
    session.call_tool("emit", {"content": "at once", "meta": {"from": "x"}})
    assert session.wait_for_channel(timeout=5).content == "at once"
    assert session.profile.channel_handler_delay >= 0.4


def test_shutdown_follows_the_profile_and_reports_the_signals(fakeclaude_session: StartSession) -> None:
    polite = fakeclaude_session("polite", GOOD).shutdown()
    assert polite.signals == ("SIGINT",), polite.describe()
    assert not polite.needed_kill, polite.describe()


def test_shutdown_kills_an_adapter_that_ignores_sigint_and_sigterm(
    fakeclaude_session: StartSession, tmp_path: Path
) -> None:
    manifest = tmp_path / "stubborn" / "module.json"
    manifest.parent.mkdir()
    script = (
        f"import signal, sys; sys.path.insert(0, {str(FAKES)!r}); "
        "signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "from fakemcp import FakeServer; FakeServer().run()"
    )
    manifest.write_text(
        json.dumps(
            {
                "id": "stubborn",
                "title": "ignores SIGINT and SIGTERM",
                "runtime": "claude-code",
                "delivery": "mcp-channel",
                "trigger": "none",
                "command": ["{python}", "-c", script],
            }
        )
    )
    session = fakeclaude_session("stubborn", str(manifest))
    result = session.shutdown()
    assert result.signals == ("SIGINT", "SIGTERM", "SIGKILL"), result.describe()
    assert result.needed_kill, result.describe()
    assert result.seconds >= 0.45, result.describe()  # the kill comes on the profile's schedule, not before
    assert any(f.kind == "killed_on_shutdown" for f in session.findings)
