"""agentbus enable / disable / list / launch for the gemini adapter, on a temp HOME's ~/.gemini/settings.json."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from agentbus.adapters.gemini.hook import EVENTS
from agentbus.adapters.gemini.settings import HOOK_MODULE, installed_hooks
from agentbus.cli import app, gemini_config
from agentbus.manifest import resolve_adapter

SHAPES = {
    "two-space indent": '{\n  "theme": "Dracula",\n  "general": {"vimMode": true}\n}\n',
    "compact, another server": '{"a":1,"mcpServers":{"other":{"command":"x"}}}',
    "hooks of the user's own": (
        '{\n    "hooks": {\n        "AfterTool": [\n            {"matcher": "write_file", "hooks": '
        '[{"type": "command", "command": "lint"}]}\n        ],\n        "Notification": []\n    }\n}\n'
    ),
    "hooks for every event": json.dumps(
        {"hooks": {event: [{"hooks": [{"type": "command", "command": f"log {event}"}]}] for event in EVENTS}}, indent=4
    ),
    "tabs and no final newline": '{\n\t"mcpServers": {\n\t\t"fs": {"command": "npx"}\n\t}\n}',
}


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_enable_then_disable_gives_the_file_back_byte_for_byte(tmp_path: Path, shape: str) -> None:
    manifest = resolve_adapter("gemini")
    path = tmp_path / "settings.json"
    path.write_text(SHAPES[shape])
    assert gemini_config.enable(path, manifest).action == "added"
    settings = json.loads(path.read_text())
    assert settings["mcpServers"]["agentbus"]["args"] == ["-m", "agentbus.adapters.gemini"]
    for event in EVENTS:
        commands = [h["command"] for group in settings["hooks"][event] for h in group["hooks"]]
        assert sum(HOOK_MODULE in command for command in commands) == 1, (event, commands)
    before = json.loads(SHAPES[shape])
    for key, value in before.items():  # what the user had is all still there
        if key not in ("mcpServers", "hooks"):
            assert settings[key] == value
    assert gemini_config.state(path, manifest) == "enabled"
    assert gemini_config.enable(path, manifest).action == "unchanged"
    assert gemini_config.disable(path, manifest).action == "removed"
    assert path.read_text() == SHAPES[shape]
    assert gemini_config.disable(path, manifest).action == "absent"


def test_the_cli_enables_lists_launches_and_disables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = tmp_path / ".gemini" / "settings.json"
    done = cli("enable", "gemini")
    assert done.exit_code == 0, done.output
    assert "enabled gemini" in done.output
    assert settings.exists()
    assert set(installed_hooks({"HOME": str(tmp_path)}, tmp_path / "project")[settings]) == set(EVENTS)
    listed = next(line for line in cli("list").output.splitlines() if line.startswith("gemini "))
    assert "enabled" in listed
    printed = cli("launch", "gemini", "bob", "--print")
    assert printed.exit_code == 0, printed.output
    assert "AGENTBUS_NAME=bob gemini" in printed.output
    refused = cli("enable", "gemini", "--scope", "project")
    assert refused.exit_code != 0
    assert "--scope user" in refused.output
    done = cli("disable", "gemini")
    assert done.exit_code == 0, done.output
    assert "agentbus" not in settings.read_text()


def test_a_settings_file_that_is_not_json_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = tmp_path / ".gemini" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"theme": "x",}')
    done = cli("enable", "gemini")
    assert done.exit_code != 0
    assert "not valid JSON" in done.output
    assert settings.read_text() == '{"theme": "x",}'
