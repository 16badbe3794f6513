"""Where each value of a JSON text is: byte spans of objects, their members and values, for in-place edits."""

import json
from dataclasses import dataclass, field
from typing import Literal


@dataclass
class Node:
    """A JSON value's span ``text[start:end]``; objects also list their members, arrays their items."""

    start: int
    end: int
    kind: Literal["object", "array", "scalar"]
    members: list["Member"] = field(default_factory=list)
    items: list["Node"] = field(default_factory=list)

    def member(self, key: str) -> "Member | None":
        """The last member called ``key`` (the one ``json.loads`` keeps), or None."""
        found = [m for m in self.members if m.key == key]
        return found[-1] if found else None


@dataclass
class Member:
    key: str
    key_start: int
    key_end: int
    value: Node


_WS = " \t\n\r"


class Locator:
    """A recursive-descent scan of already-validated JSON text that records spans."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1

    def value(self) -> Node:
        self.skip()
        char = self.text[self.pos]
        if char == "{":
            return self.obj()
        if char == "[":
            return self.array()
        start = self.pos
        if char == '"':
            self.string()
        else:
            while self.pos < len(self.text) and self.text[self.pos] not in _WS + ",]}":
                self.pos += 1
        return Node(start, self.pos, "scalar")

    def string(self) -> str:
        start = self.pos
        self.pos += 1
        while self.text[self.pos] != '"':
            self.pos += 2 if self.text[self.pos] == "\\" else 1
        self.pos += 1
        return str(json.loads(self.text[start : self.pos]))

    def obj(self) -> Node:
        node = Node(self.pos, -1, "object")
        self.pos += 1
        self.skip()
        if self.text[self.pos] == "}":
            self.pos += 1
            node.end = self.pos
            return node
        while True:
            self.skip()
            key_start = self.pos
            key = self.string()
            key_end = self.pos
            self.skip()
            self.pos += 1  # ':'
            value = self.value()
            node.members.append(Member(key, key_start, key_end, value))
            self.skip()
            if self.text[self.pos] == ",":
                self.pos += 1
                continue
            self.pos += 1  # '}'
            node.end = self.pos
            return node

    def array(self) -> Node:
        node = Node(self.pos, -1, "array")
        self.pos += 1
        self.skip()
        if self.text[self.pos] == "]":
            self.pos += 1
            node.end = self.pos
            return node
        while True:
            node.items.append(self.value())
            self.skip()
            if self.text[self.pos] == ",":
                self.pos += 1
                continue
            self.pos += 1  # ']'
            node.end = self.pos
            return node
