"""Receipts from Gemini CLI's chat record: the lines Gemini 0.61.0 writes (tests/live/test_gemini_harness.py
records them), read back as sightings."""

import json

from agentbus.adapters.gemini.record import ChatRecord
from agentbus.endpoint import Sighting

TS = "2026-12-08T03:54:08.474Z"
TAG = f'&lt;channel source="agentbus" from="alice" msg_id="1" ts="{TS}"&gt;\nping\n&lt;/channel&gt;'
CONTEXT = f'<hook_context>{TAG}\n(agentbus: reply with the send_message tool, to="alice", reply_to=1)</hook_context>'


def line(record: object) -> bytes:
    return json.dumps(record).encode()


def test_session_start_context_is_received_then_seen_with_the_first_turn() -> None:
    record = ChatRecord()
    held = record(line({"id": "a", "type": "user", "content": [{"text": CONTEXT}]}))
    assert held == [Sighting(1, "alice", TS, seen=False)]
    assert record(line({"id": "b", "type": "user", "content": [{"text": "first prompt"}]})) == []
    answered = record(line({"id": "c", "type": "gemini", "content": "", "model": "gemini-3.8-flash"}))
    assert answered == [Sighting(1, "alice", TS, seen=True)]
    assert record(line({"id": "d", "type": "gemini", "content": "more"})) == []


def test_a_tool_result_a_prompt_and_an_after_agent_prompt_are_seen() -> None:
    record = ChatRecord()
    tool_call = {
        "id": "t",
        "name": "run_shell_command",
        "result": [
            {
                "functionResponse": {
                    "id": "t",
                    "name": "run_shell_command",
                    "response": {"output": f"<untrusted_context>\nOutput: hi\n</untrusted_context>\n\n{CONTEXT}"},
                }
            }
        ],
        "status": "success",
    }
    after_tool = record(line({"id": "g", "type": "gemini", "content": "", "toolCalls": [tool_call]}))
    assert after_tool == [Sighting(1, "alice", TS, seen=True)]
    before_agent = record(line({"id": "u", "type": "user", "content": [{"text": "hello"}, {"text": CONTEXT}]}))
    assert before_agent == [Sighting(1, "alice", TS, seen=True)]
    raw = f'<channel source="agentbus" from="bob" msg_id="2" ts="{TS}">\nback\n</channel>\n(agentbus: reply ...)'
    after_agent = record(line({"id": "v", "type": "user", "content": [{"text": raw}]}))
    assert after_agent == [Sighting(2, "bob", TS, seen=True)]


def test_what_is_not_ours_is_not_a_sighting() -> None:
    record = ChatRecord()
    quoted = f'look: <channel source="agentbus" from="alice" msg_id="1" ts="{TS}">x</channel>'
    assert record(line({"id": "q", "type": "user", "content": [{"text": quoted}]})) == []
    other = '<hook_context>&lt;channel source="other" from="a" msg_id="3" ts="x"&gt;</hook_context>'
    assert record(line({"id": "o", "type": "user", "content": [{"text": "hi"}, {"text": other}]})) == []
    warning = {"id": "w", "type": "warning", "content": f"Agent execution blocked: {CONTEXT}"}
    assert record(line(warning)) == []
    assert record(b'{"type": "user", "content": [{"text": "<channel') == []  # a line being written
    assert record(line({"$set": {"lastUpdated": TS}})) == []


def test_a_rewrite_of_the_messages_is_read_like_the_messages() -> None:
    record = ChatRecord()
    rewrite = {"$set": {"messages": [{"id": "u", "type": "user", "content": [{"text": "hi"}, {"text": CONTEXT}]}]}}
    assert record(line(rewrite)) == [Sighting(1, "alice", TS, seen=True)]
