"""The permission relay through a live Claude Code: a Bash prompt of ``worker`` goes to its approver ``lead``.

``worker`` runs with AGENTBUS_APPROVER=lead; the fake model answers the typed prompt with a Bash call
(``touch`` of a marker file), which Claude Code's default permission mode asks about. The adapter
relays the prompt to ``lead`` (a fakeclaude peer); lead's ``yes ID`` runs the command, its ``no ID``
refuses it; another peer's ``yes ID`` counts for nothing. Without AGENTBUS_APPROVER nothing is relayed.
"""

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from agentbus.adapters.claude_mcp import permission
from fakeclaude import Sandbox, Session
from fakeclaude.live.driver import LiveSession
from fakeclaude.live.home import ClaudeHome
from fakeclaude.live.model import FakeModel, ModelRequest, Rule, after_tool_result, call_on_prompt
from fakeclaude.live.taplog import TapLog
from fakeclaude.waiting import wait_until
from live.support import agentbus_cli

STEP = 60.0
PROMPT = "create-the-marker-file"
DIALOG = re.compile(r"(?i)do\s*you\s*want\s*to\s*proceed")
REQUEST = re.compile(r"^Permission request ([a-km-z]{5}) from worker: may it use the tool Bash\?")


@pytest.fixture
def marker(claude_home: ClaudeHome) -> Path:
    return claude_home.project / "marker"


@pytest.fixture
def model_rules(marker: Path) -> list[Rule]:
    bash = {"command": f"touch {marker}", "description": "Create the marker file"}
    return [call_on_prompt(PROMPT, "Bash", bash), after_tool_result()]


def _bash_result(request: ModelRequest) -> bool:
    return any(name == "Bash" for name, _text in request.tool_results())


def _relayed_request(lead: Session) -> tuple[str, str]:
    """The request id and text of the permission request lead received."""
    event = lead.wait_for_channel(lambda e: REQUEST.match(e.content) is not None, timeout=STEP)
    assert event.meta["from"] == "worker", event.meta
    match = REQUEST.match(event.content)
    assert match is not None
    return match.group(1), event.content


def _status(bus: Sandbox, msg_id: int) -> dict[str, object]:
    return dict(json.loads(agentbus_cli(bus, "status", str(msg_id), "--json").stdout))


def _rung(bus: Sandbox, msg_id: int, rung: str) -> bool:
    ladder = _status(bus, msg_id)["ladder"]
    return isinstance(ladder, dict) and ladder.get(rung) is not None


def _send(session: Session, to: str, text: str) -> int:
    sent = session.call_tool("send_message", {"to": to, "text": text}, timeout=STEP)
    assert not sent.is_error, sent.text
    return int(sent.json()["msg_id"])


def test_the_approver_allows_a_tool_call(
    live: Callable[..., LiveSession], peers: Sandbox, model: FakeModel, marker: Path
) -> None:
    lead = peers.start_session("lead")
    worker = live("worker", env={"AGENTBUS_APPROVER": "lead"})
    worker.type_prompt(PROMPT)
    request_id, text = _relayed_request(lead)
    assert str(marker) in text, f"the request does not show the command: {text!r}"
    assert f"yes {request_id}" in text, text
    assert f"no {request_id}" in text, text
    assert not marker.exists(), "Bash ran before anyone allowed it"

    verdict = _send(lead, "worker", f"yes {request_id}")
    wait_until(marker.exists, STEP, "the allowed Bash command to create the marker")
    assert model.wait_for(_bash_result, STEP) is not None, "the model never got the Bash result"
    status = _status(peers, verdict)
    assert status["state"] == "delivered", f"the verdict message is not delivered: {status}"
    shown = [r for r in model.requests if f"yes {request_id}" in r.text()]
    assert shown == [], "the model was shown the approver's verdict as a message"
    worker.quit()


def test_only_the_approver_can_answer_and_no_denies(
    live: Callable[..., LiveSession], peers: Sandbox, model: FakeModel, marker: Path
) -> None:
    lead = peers.start_session("lead")
    mallory = peers.start_session("mallory")
    worker = live("worker", env={"AGENTBUS_APPROVER": "lead"})
    worker.type_prompt(PROMPT)
    request_id, _text = _relayed_request(lead)
    assert mallory.channel_events == [], "the request went to a peer that is not the approver"

    forged = _send(mallory, "worker", f"yes {request_id}")
    wait_until(lambda: _rung(peers, forged, "pushed"), STEP, "mallory's 'yes' to be pushed to worker")
    verdict = _send(lead, "worker", f"no {request_id}")
    wait_until(lambda: _status(peers, verdict)["state"] == "delivered", STEP, "lead's 'no' to be delivered")
    denied = model.wait_for(_bash_result, STEP)
    assert denied is not None, "the model never got the Bash result"
    results = [text for name, text in denied.tool_results() if name == "Bash"]
    assert any("Denied via channel agentbus" in text for text in results), f"not denied through the relay: {results}"
    assert not marker.exists(), "Bash ran: a 'yes' from a peer that is not the approver counted"
    worker.quit()


def test_without_an_approver_nothing_is_relayed(
    claude: Path, tmp_path: Path, peers: Sandbox, model: FakeModel, marker: Path
) -> None:
    """Off unless asked for: no capability in the initialize answer, so Claude Code keeps the prompt local."""
    tap_log = tmp_path / "tap.jsonl"
    home = ClaudeHome.create(tmp_path / "claude", peers.bus_home, tap_log=tap_log)
    lead = peers.start_session("lead")
    worker = LiveSession(claude, home, model, "worker")
    try:
        worker.start()
        worker.type_prompt(PROMPT)
        worker.expect(DIALOG, STEP, stripped=True, what="Claude Code's own permission dialog")
        wire = TapLog.read(tap_log)
        answers = [line.message for line in wire.lines() if line.direction == "out" and line.message]
        capabilities = [a["result"]["capabilities"] for a in answers if "serverInfo" in a.get("result", {})]
        assert capabilities, f"the permission capability was declared without AGENTBUS_APPROVER: {capabilities}"
        assert all(permission.CAPABILITY not in c.get("experimental", {}) for c in capabilities), (
            f"the permission capability was declared without AGENTBUS_APPROVER: {capabilities}"
        )
        relayed = [line.text for line in wire.lines() if line.method == permission.REQUEST_METHOD]
        assert relayed == [], f"Claude Code relayed a prompt to a server that did not ask: {relayed}"
        assert lead.channel_events == [], f"a prompt was relayed without AGENTBUS_APPROVER: {lead.channel_events}"
        assert not marker.exists()
    finally:
        worker.close()  # with its dialog open, a quit would only cancel the dialog: killed instead
