"""Claude Code config edits: our entry goes in and out, every other byte of the file stays put."""

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from agentbus.cli import claude_config as cc

ENTRY = cc.server_entry(["/opt/venv/bin/python", "-m", "agentbus.adapters.claude_mcp"])

# Shaped like a real ~/.claude.json: account data, projects with their own (local-scope) servers,
# other user-scope servers, escapes and number spellings that a re-serialiser would change.
REALISTIC = """{
  "numStartups": 42,
  "installMethod": "npm-global",
  "autoUpdates": true,
  "tipsHistory": {
    "new-user-warmup": 1,
    "memory-command": 7
  },
  "userID": "5f2c\\u00e9d1",
  "firstStartTime": "2026-05-01T09:12:44.120Z",
  "mcpServers": {
    "github": {
      "type": "stdio",
      "command": "npx",
      "args": [
        "-y",
        "@modelcontextprotocol/server-github"
      ],
      "env": {
        "GITHUB_TOKEN": "ghp_x\\/y"
      }
    },
    "docs": {
      "type": "http",
      "url": "https://example.invalid/mcp"
    }
  },
  "projects": {
    "/home/me/src/app": {
      "allowedTools": [],
      "mcpServers": {},
      "lastCost": 1.50e0,
      "hasTrustDialogAccepted": true
    }
  },
  "oauthAccount": {"emailAddress": "me@example.invalid"}
}"""

STYLES = {
    "realistic": REALISTIC,
    "tabs_crlf_trailing_newline": '{\r\n\t"a": 1,\r\n\t"mcpServers": {\r\n\t\t"x": {}\r\n\t}\r\n}\r\n',
    "compact": '{"a":1,"mcpServers":{"x":{"command":"y"}}}',
    "compact_spaced": '{"a": 1, "mcpServers": {"x": {"command": "y"}}}',
    "empty_servers": '{\n    "a": [1, 2],\n    "mcpServers": {}\n}\n',
    "ours_first": '{\n  "mcpServers": {\n    "z": {"command": "z"}\n  }\n}\n',
    "unicode": '{\n  "name": "Zoë ✓",\n  "mcpServers": {\n    "é": {}\n  }\n}',
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_enable_then_disable_gives_back_the_same_bytes(tmp_path: Path, style: str) -> None:
    path = tmp_path / ".claude.json"
    original = STYLES[style].encode("utf-8")
    path.write_bytes(original)

    added = cc.add_server(path, "agentbus", ENTRY)
    assert added.action == "added"
    data = json.loads(path.read_bytes())
    assert data["mcpServers"]["agentbus"] == ENTRY
    before = json.loads(original)
    assert list(data) == list(before)
    assert {k: v for k, v in data.items() if k != "mcpServers"} == {
        k: v for k, v in before.items() if k != "mcpServers"
    }
    assert list(data["mcpServers"]) == [*before["mcpServers"], "agentbus"]

    assert cc.add_server(path, "agentbus", ENTRY).action == "unchanged"
    removed = cc.remove_server(path, "agentbus")
    assert removed.action == "removed"
    assert path.read_bytes() == original


def test_the_entry_is_indented_like_the_file(tmp_path: Path) -> None:
    path = tmp_path / ".claude.json"
    path.write_text(REALISTIC)
    cc.add_server(path, "agentbus", ENTRY)
    text = path.read_text()
    assert '\n    "agentbus": {\n      "type": "stdio",\n      "command": "/opt/venv/bin/python",' in text
    assert '"userID": "5f2c\\u00e9d1"' in text
    assert '"lastCost": 1.50e0' in text


def test_a_missing_mcp_servers_key_is_added_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / ".claude.json"
    path.write_text('{\n  "numStartups": 1\n}\n')
    cc.add_server(path, "agentbus", ENTRY)
    data = json.loads(path.read_text())
    assert list(data) == ["numStartups", "mcpServers"]
    assert path.read_text().endswith("\n  }\n}\n")
    cc.remove_server(path, "agentbus")
    assert json.loads(path.read_text()) == {"numStartups": 1, "mcpServers": {}}


def test_a_missing_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / ".claude.json"
    change = cc.add_server(path, "agentbus", ENTRY)
    assert change.action == "added"
    assert change.backup is None
    assert json.loads(path.read_text()) == {"mcpServers": {"agentbus": ENTRY}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_file_mode_is_kept_and_a_backup_is_written(tmp_path: Path) -> None:
    path = tmp_path / ".claude.json"
    path.write_text(REALISTIC)
    os.chmod(path, 0o640)
    change = cc.add_server(path, "agentbus", ENTRY)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert change.backup == tmp_path / ".claude.json.agentbus-backup"
    assert change.backup.read_text() == REALISTIC
    assert stat.S_IMODE(change.backup.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".claude.json", ".claude.json.agentbus-backup"]


def test_a_symlinked_config_is_edited_through_the_link(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "claude.json"
    real.parent.mkdir()
    real.write_text(REALISTIC)
    link = tmp_path / ".claude.json"
    link.symlink_to(real)
    cc.add_server(link, "agentbus", ENTRY)
    assert link.is_symlink()
    assert "agentbus" in json.loads(real.read_text())["mcpServers"]


@pytest.mark.parametrize(
    "text",
    ['{"mcpServers": {', "not json", "[1, 2]", '{"mcpServers": []}', '{"a": 1,}'],
    ids=["truncated", "garbage", "array", "servers-not-object", "trailing-comma"],
)
def test_an_unusable_file_is_refused_and_left_alone(tmp_path: Path, text: str) -> None:
    path = tmp_path / ".claude.json"
    path.write_text(text)
    with pytest.raises(cc.ConfigError, match="refusing to change it"):
        cc.add_server(path, "agentbus", ENTRY)
    with pytest.raises(cc.ConfigError, match="refusing to change it"):
        cc.remove_server(path, "agentbus")
    assert path.read_text() == text
    assert not cc.backup_path(path).exists()


def test_a_changed_entry_is_updated_in_place_and_keeps_its_env(tmp_path: Path) -> None:
    path = tmp_path / ".claude.json"
    old = {"type": "stdio", "command": "/old/python", "args": ["-m", "x"], "env": {"AGENTBUS_TRIGGER": "poll"}}
    path.write_text(json.dumps({"a": 1, "mcpServers": {"agentbus": old, "z": {}}, "b": 2}, indent=2))
    change = cc.add_server(path, "agentbus", ENTRY)
    assert change.action == "updated"
    data = json.loads(path.read_text())
    assert list(data) == ["a", "mcpServers", "b"]
    assert list(data["mcpServers"]) == ["agentbus", "z"]
    assert data["mcpServers"]["agentbus"] == {**ENTRY, "env": {"AGENTBUS_TRIGGER": "poll"}}


def test_disable_removes_only_our_entry_wherever_it_is(tmp_path: Path) -> None:
    path = tmp_path / ".claude.json"
    servers = {"a": {"command": "a"}, "agentbus": ENTRY, "b": {"command": "b"}}
    path.write_text(json.dumps({"mcpServers": servers, "projects": {"/p": {"mcpServers": {"agentbus": {}}}}}))
    assert cc.remove_server(path, "agentbus").action == "removed"
    data = json.loads(path.read_text())
    assert data["mcpServers"] == {"a": {"command": "a"}, "b": {"command": "b"}}
    assert data["projects"]["/p"]["mcpServers"] == {"agentbus": {}}
    assert cc.remove_server(path, "agentbus").action == "absent"
    assert cc.remove_server(tmp_path / "missing.json", "agentbus").action == "absent"


def test_a_project_file_holding_only_our_entry_is_deleted(tmp_path: Path) -> None:
    path = tmp_path / ".mcp.json"
    cc.add_server(path, "agentbus", ENTRY, new_mode=0o644)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert cc.remove_server(path, "agentbus", delete_if_empty=True).action == "deleted"
    assert not path.exists()


def test_user_config_path_honours_claude_config_dir(tmp_path: Path) -> None:
    assert cc.user_config_path({"HOME": "/home/me"}) == Path("/home/me/.claude.json")
    env = {"HOME": "/home/me", "CLAUDE_CONFIG_DIR": str(tmp_path / "cfg")}
    assert cc.user_config_path(env) == tmp_path / "cfg" / ".claude.json"


def test_registration_reads_each_scope(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    user = cc.registration("user", "agentbus", env, tmp_path)
    assert not user.exists
    assert not user.registered
    cc.add_server(tmp_path / ".claude.json", "agentbus", ENTRY)
    user = cc.registration("user", "agentbus", env, tmp_path)
    assert user.registered
    assert user.command() == ["/opt/venv/bin/python", "-m", "agentbus.adapters.claude_mcp"]
    (tmp_path / ".mcp.json").write_text("{oops")
    project = cc.registration("project", "agentbus", env, tmp_path)
    assert project.error is not None
    assert "not valid JSON" in project.error


def test_two_names_of_one_interpreter_are_the_same_registration(tmp_path: Path) -> None:
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python3").symlink_to(sys.executable)
    (venv_bin / "python").symlink_to("python3")
    other_bin = tmp_path / "other" / "bin"
    other_bin.mkdir(parents=True)
    (other_bin / "python").symlink_to(sys.executable)
    path = tmp_path / ".claude.json"
    cc.add_server(path, "agentbus", cc.server_entry([str(venv_bin / "python3"), "-m", "m"]))
    assert cc.add_server(path, "agentbus", cc.server_entry([str(venv_bin / "python"), "-m", "m"])).action == "unchanged"
    assert json.loads(path.read_text())["mcpServers"]["agentbus"]["command"] == str(venv_bin / "python3")
    other = cc.add_server(path, "agentbus", cc.server_entry([str(other_bin / "python"), "-m", "m"]))
    assert other.action == "updated"
    assert cc.same_command([str(venv_bin / "python"), "-m", "m"], [str(venv_bin / "python3"), "-m", "m"])
    assert not cc.same_command([str(venv_bin / "python"), "-m", "m"], [str(other_bin / "python"), "-m", "m"])
    assert not cc.same_command([str(venv_bin / "python"), "-m", "m"], [str(venv_bin / "python"), "-m", "x"])
