"""Claude Code's MCP config (~/.claude.json, .mcp.json): add or remove one server entry in place.

Edits are surgical: the file is parsed to locate byte spans, and only the text of our entry is
inserted, replaced or removed. Every other byte (key order, indentation, escapes, number spelling,
trailing newline) stays as it was, so enable followed by disable gives back the original file.

Modules: spans (where each JSON value is), document (a file's text and its span-preserving edits),
files (each scope's path, reading, the atomic write with a backup), entries (our server's entry).
"""

from agentbus.cli.claude_config.document import MCP_SERVERS, ConfigError, Document
from agentbus.cli.claude_config.entries import (
    Registration,
    add_server,
    local_scope_entry,
    registration,
    remove_server,
    same_command,
    same_program,
    server_entry,
)
from agentbus.cli.claude_config.files import (
    BACKUP_SUFFIX,
    SCOPES,
    Change,
    Scope,
    backup_path,
    config_path,
    load,
    project_config_path,
    user_config_path,
)

__all__ = [
    "BACKUP_SUFFIX",
    "MCP_SERVERS",
    "SCOPES",
    "Change",
    "ConfigError",
    "Document",
    "Registration",
    "Scope",
    "add_server",
    "backup_path",
    "config_path",
    "load",
    "local_scope_entry",
    "project_config_path",
    "registration",
    "remove_server",
    "same_command",
    "same_program",
    "server_entry",
    "user_config_path",
]
