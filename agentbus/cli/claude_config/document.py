"""One config file's text, parsed for reading, and edited by splicing only our entry in the file's own style."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbus.cli.claude_config.spans import Locator, Node

MCP_SERVERS = "mcpServers"


class ConfigError(Exception):
    """A config file we must not touch (unparseable, wrong shape) or cannot write."""


@dataclass
class Style:
    """How the file is laid out, so inserted text looks like the rest of it."""

    newline: str = "\n"
    unit: str = "  "
    colon: str = ": "
    multiline: bool = True
    comma: str = ", "


def _line_indent(text: str, pos: int) -> str:
    """The whitespace between the start of ``pos``'s line and the first non-blank character."""
    line_start = text.rfind("\n", 0, pos) + 1
    indent = ""
    for char in text[line_start:pos]:
        if char not in " \t":
            break
        indent += char
    return indent


def _detect_style(text: str, root: Node) -> Style:
    style = Style(newline="\r\n" if "\r\n" in text else "\n")
    if root.members:
        first = root.members[0]
        style.multiline = "\n" in text[root.start : first.key_start]
        if style.multiline:
            style.unit = _line_indent(text, first.key_start) or "  "
        style.colon = text[first.key_end : first.value.start] or ": "
        if len(root.members) > 1 and not style.multiline:
            style.comma = text[first.value.end : root.members[1].key_start]
    else:
        style.multiline = True
    return style


def _serialize(value: Any, style: Style, indent: str) -> str:
    """``value`` as JSON in the file's style; ``indent`` is the indentation of the line it starts on."""
    if isinstance(value, dict) and value:
        if not style.multiline:
            inner = style.comma.join(
                f"{json.dumps(k, ensure_ascii=False)}{style.colon}{_serialize(v, style, indent)}"
                for k, v in value.items()
            )
            return "{" + inner + "}"
        child = indent + style.unit
        items = [
            f"{child}{json.dumps(k, ensure_ascii=False)}{style.colon}{_serialize(v, style, child)}"
            for k, v in value.items()
        ]
        return "{" + style.newline + ("," + style.newline).join(items) + style.newline + indent + "}"
    if isinstance(value, list) and value:
        if not style.multiline:
            return "[" + style.comma.join(_serialize(v, style, indent) for v in value) + "]"
        child = indent + style.unit
        items = [child + _serialize(v, style, child) for v in value]
        return "[" + style.newline + ("," + style.newline).join(items) + style.newline + indent + "]"
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(value, ensure_ascii=False)


class Document:
    """One config file's text, parsed for reading and for span-preserving edits."""

    def __init__(self, text: str, path: Path) -> None:
        self.path = path
        self.text = text
        if text.strip() == "":
            self.text = text = "{}" + ("\n" if text == "" else text)
        try:
            self.data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                "refusing to change it. Fix it by hand (or restore a backup) and run the command again"
            ) from None
        if not isinstance(self.data, dict):
            raise ConfigError(f"{path} does not hold a JSON object at the top; refusing to change it")
        self.root = Locator(text).value()
        self.style = _detect_style(text, self.root)
        servers = self.data.get(MCP_SERVERS)
        if servers is not None and not isinstance(servers, dict):
            raise ConfigError(f"{path}: {MCP_SERVERS!r} is not a JSON object; refusing to change it")

    def servers(self) -> dict[str, Any]:
        servers = self.data.get(MCP_SERVERS)
        return servers if isinstance(servers, dict) else {}

    def entry(self, server_name: str) -> Any:
        return self.servers().get(server_name)

    def _servers_node(self) -> Node | None:
        member = self.root.member(MCP_SERVERS)
        return member.value if member is not None else None

    def _splice(self, start: int, end: int, new: str) -> str:
        return self.text[:start] + new + self.text[end:]

    def _insert_member(self, obj: Node, key: str, value: Any, closing_indent: str) -> str:
        """Text with ``"key": value`` appended as the last member of ``obj``."""
        style = self.style
        if obj.members:
            last = obj.members[-1]
            if style.multiline and "\n" in self.text[obj.start : obj.members[0].key_start]:
                indent = _line_indent(self.text, obj.members[0].key_start)
                member = f"{json.dumps(key)}{style.colon}{_serialize(value, style, indent)}"
                return self._splice(last.value.end, last.value.end, "," + style.newline + indent + member)
            compact = Style(colon=style.colon, multiline=False, comma=style.comma)
            member = f"{json.dumps(key)}{style.colon}{_serialize(value, compact, '')}"
            return self._splice(last.value.end, last.value.end, style.comma + member)
        if style.multiline:
            indent = closing_indent + style.unit
            member = f"{json.dumps(key)}{style.colon}{_serialize(value, style, indent)}"
            body = "{" + style.newline + indent + member + style.newline + closing_indent + "}"
        else:
            body = "{" + f"{json.dumps(key)}{style.colon}{_serialize(value, style, '')}" + "}"
        return self._splice(obj.start, obj.end, body)

    def node(self, *path: str) -> Node | None:
        """The value at ``path`` (keys from the top), or None."""
        node: Node | None = self.root
        for key in path:
            member = node.member(key) if node is not None and node.kind == "object" else None
            node = member.value if member is not None else None
        return node

    def with_member(self, path: tuple[str, ...], key: str, value: Any) -> str:
        """The text with ``key: value`` appended to the object at ``path`` (which exists)."""
        obj = self.node(*path)
        assert obj is not None
        parent = self.node(*path[:-1]) if path else None
        member = parent.member(path[-1]) if parent is not None else None
        return self._insert_member(obj, key, value, _line_indent(self.text, member.key_start) if member else "")

    def without_member(self, path: tuple[str, ...], key: str) -> str:
        """The text with the member ``key`` of the object at ``path`` removed (the last of that name)."""
        obj = self.node(*path)
        assert obj is not None
        index = max(i for i, m in enumerate(obj.members) if m.key == key)
        member = obj.members[index]
        if len(obj.members) == 1:
            return self._splice(obj.start, obj.end, "{}")
        if index > 0:
            return self._splice(obj.members[index - 1].value.end, member.value.end, "")
        return self._splice(member.key_start, obj.members[1].key_start, "")

    def with_item(self, path: tuple[str, ...], value: Any) -> str:
        """The text with ``value`` appended to the (non-empty) array at ``path``, laid out as its items are."""
        array = self.node(*path)
        assert array is not None
        assert array.items
        last, first = array.items[-1], array.items[0]
        if self.style.multiline and "\n" in self.text[array.start : first.start]:
            indent = _line_indent(self.text, first.start)
            return self._splice(
                last.end, last.end, "," + self.style.newline + indent + _serialize(value, self.style, indent)
            )
        compact = Style(colon=self.style.colon, multiline=False, comma=self.style.comma)
        return self._splice(last.end, last.end, self.style.comma + _serialize(value, compact, ""))

    def without_item(self, path: tuple[str, ...], index: int) -> str:
        """The text with item ``index`` of the array at ``path`` removed."""
        array = self.node(*path)
        assert array is not None
        item = array.items[index]
        if len(array.items) == 1:
            return self._splice(array.start, array.end, "[]")
        if index > 0:
            return self._splice(array.items[index - 1].end, item.end, "")
        return self._splice(item.start, array.items[1].start, "")

    def with_entry(self, server_name: str, entry: dict[str, Any]) -> str:
        """The file's text with ``mcpServers[server_name] = entry`` (replaced in place if present)."""
        servers = self._servers_node()
        if servers is None:
            return self._insert_member(self.root, MCP_SERVERS, {server_name: entry}, "")
        existing = servers.member(server_name)
        if existing is not None:
            indent = _line_indent(self.text, existing.key_start)
            multiline = self.style.multiline and "\n" in self.text[servers.start : servers.end]
            style = Style(self.style.newline, self.style.unit, self.style.colon, multiline, self.style.comma)
            new_value = _serialize(entry, style, indent)
            return self._splice(existing.value.start, existing.value.end, new_value)
        member = self.root.member(MCP_SERVERS)
        assert member is not None
        return self._insert_member(servers, server_name, entry, _line_indent(self.text, member.key_start))

    def without_entry(self, server_name: str) -> str:
        """The file's text with ``mcpServers[server_name]`` removed (every member of that name)."""
        text = self.text
        while True:
            doc = Document(text, self.path)
            servers = doc._servers_node()
            if servers is None or servers.member(server_name) is None:
                return text
            index = max(i for i, m in enumerate(servers.members) if m.key == server_name)
            member = servers.members[index]
            if len(servers.members) == 1:
                text = doc._splice(servers.start, servers.end, "{}")
            elif index > 0:
                text = doc._splice(servers.members[index - 1].value.end, member.value.end, "")
            else:
                text = doc._splice(member.key_start, servers.members[1].key_start, "")
