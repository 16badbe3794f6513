"""A tiny raw JSON-lines MCP channel server for fakeclaude's tests; flags switch on misbehaviours."""

import json
import os
import signal
import sys
import time
from typing import Any

CHANNEL = "notifications/claude/channel"


TOOLS: dict[str, dict[str, Any]] = {
    "echo": {"text": {"type": "string"}},
    "fail": {},
    "emit": {"content": {}, "meta": {}},
    "emit_raw": {"params": {}},
    "ask_client": {"method": {"type": "string"}},
    "exit": {"code": {"type": "integer"}},
    "getenv": {"names": {"type": "array"}},
    "parent_argv": {},
    "send_message": {"to": {"type": "string"}, "text": {"type": "string"}, "reply_to": {"type": "string"}},
    "list_peers": {},
    "whoami": {},
    "set_name": {"name": {"type": "string"}},
    "read_messages": {},
}


class FakeServer:
    """One stdio MCP server. Tools: echo, fail, emit, emit_raw, ask_client, exit, getenv, and a
    loopback chat (send_message to yourself or * comes back as a channel event; list_peers, whoami,
    set_name, read_messages)."""

    def __init__(
        self,
        *,
        junk_stdout: bool = False,
        ignore_eof: bool = False,
        numeric_meta: bool = False,
        discover_ok: bool = False,
        channel_capability: bool = True,
        chatty_stderr: int = 0,
    ) -> None:
        self.junk_stdout = junk_stdout
        self.ignore_eof = ignore_eof
        self.numeric_meta = numeric_meta
        self.discover_ok = discover_ok
        self.channel_capability = channel_capability
        self.chatty_stderr = chatty_stderr
        self.waiting: dict[Any, Any] = {}  # our request id -> the tools/call id waiting for it
        self.next_id = 0
        self.name = os.environ.get("AGENTBUS_NAME", "anon")
        self.sent = 0

    def write(self, message: dict[str, Any]) -> None:
        if self.junk_stdout:
            sys.stdout.write("debug: about to answer\n")
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def result(self, msg_id: Any, result: Any) -> None:
        self.write({"jsonrpc": "2.0", "id": msg_id, "result": result})

    def error(self, msg_id: Any, code: int, message: str) -> None:
        self.write({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})

    def capabilities(self) -> dict[str, Any]:
        caps: dict[str, Any] = {"tools": {}}
        if self.channel_capability:
            caps["experimental"] = {"claude/channel": {}}
        return caps

    def tool(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "description": f"test tool {name}",
            "inputSchema": {"type": "object", "properties": TOOLS[name]},
        }

    def text(self, msg_id: Any, text: str, is_error: bool = False) -> None:
        self.result(msg_id, {"content": [{"type": "text", "text": text}], "isError": is_error})

    def handle(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        msg_id = message.get("id")
        params = message.get("params") or {}
        if self.chatty_stderr:
            sys.stderr.write("x" * self.chatty_stderr + "\n")
            sys.stderr.flush()
        if method is None:  # a response to one of our requests
            waiter = self.waiting.pop(msg_id, None)
            if waiter is not None:
                self.text(waiter, json.dumps(message))
            return
        if msg_id is None:
            return  # notifications (initialized, ...) need no answer
        if method == "server/discover":
            if self.discover_ok:
                self.result(msg_id, {"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}}})
            else:
                self.error(msg_id, -32601, "Method not found")
        elif method == "initialize":
            self.result(
                msg_id,
                {
                    "protocolVersion": params.get("protocolVersion", "2025-11-25"),
                    "capabilities": self.capabilities(),
                    "serverInfo": {"name": "fakemcp", "version": "1"},
                    "instructions": "test server",
                },
            )
        elif method == "ping":
            self.result(msg_id, {})
        elif method == "tools/list":
            self.result(msg_id, {"tools": [self.tool(n) for n in TOOLS]})
        elif method == "tools/call":
            self.call(msg_id, params.get("name"), params.get("arguments") or {})
        else:
            self.error(msg_id, -32601, f"Method not found: {method}")

    def call(self, msg_id: Any, name: str, args: dict[str, Any]) -> None:
        if name == "echo":
            self.text(msg_id, str(args.get("text", "")))
        elif name == "fail":
            self.text(msg_id, "it failed on purpose", is_error=True)
        elif name == "emit":
            meta = dict(args.get("meta") or {})
            if self.numeric_meta:
                meta["msg_id"] = 42
            self.write({"jsonrpc": "2.0", "method": CHANNEL, "params": {"content": args["content"], "meta": meta}})
            self.text(msg_id, "emitted")
        elif name == "emit_raw":
            self.write({"jsonrpc": "2.0", "method": CHANNEL, "params": args.get("params")})
            self.text(msg_id, "emitted")
        elif name == "ask_client":
            self.next_id += 1
            request_id = f"srv-{self.next_id}"
            self.waiting[request_id] = msg_id
            self.write({"jsonrpc": "2.0", "id": request_id, "method": args["method"]})
        elif name == "exit":
            sys.exit(int(args.get("code", 3)))
        elif name == "getenv":
            self.text(msg_id, json.dumps({k: os.environ.get(k) for k in args.get("names", [])}))
        elif name == "parent_argv":
            with open(f"/proc/{os.getppid()}/cmdline", "rb") as cmdline:
                argv = [a.decode() for a in cmdline.read().split(b"\0") if a]
            self.text(msg_id, json.dumps({"ppid": os.getppid(), "pid": os.getpid(), "argv": argv}))
        elif name == "send_message":
            to, body = args.get("to"), args.get("text")
            if to not in (self.name, "*"):
                self.text(msg_id, f"unknown peer {to!r}; peers: {self.name}", is_error=True)
                return
            self.sent += 1
            meta = {"from": self.name, "msg_id": str(self.sent), "ts": "2026-01-01T00:00:00Z"}
            if args.get("reply_to"):
                meta["reply_to"] = str(args["reply_to"])
            self.write({"jsonrpc": "2.0", "method": CHANNEL, "params": {"content": body, "meta": meta}})
            self.text(msg_id, f"sent to {to} (msg_id {self.sent})")
        elif name == "list_peers":
            self.text(msg_id, f"{self.name} (you)")
        elif name == "whoami":
            self.text(msg_id, f"you are {self.name}")
        elif name == "set_name":
            self.name = str(args.get("name"))
            self.text(msg_id, f"you are now {self.name}")
        elif name == "read_messages":
            self.text(msg_id, "no unread messages")
        else:
            self.error(msg_id, -32602, f"Unknown tool: {name}")

    def run(self) -> None:
        if self.junk_stdout:
            print("fakemcp starting up (this line is junk on the protocol stream)", flush=True)
        for line in sys.stdin.buffer:
            try:
                message = json.loads(line)
            except ValueError:
                self.error(None, -32700, "Parse error")
                continue
            if isinstance(message, dict):
                self.handle(message)
        if self.ignore_eof:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while True:
                time.sleep(60)
