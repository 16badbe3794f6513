"""Broken adapter: gemini whose hook door calls mail delivered once the answer is on its way to the hook,
without waiting for the hook to say it printed it (breaks HOOK-2: a hook that dies first loses the mail)."""

import asyncio
import json
import sys

from agentbus.adapters.gemini import boundary
from agentbus.adapters.gemini.server import main
from agentbus.core.envelope import Envelope


async def on_hook_eagerly(self: boundary.HookDoor, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request = json.loads(await reader.readline())
    event = str(request.get("hook_event_name") or "")

    async def hand(batch: list[Envelope]) -> bool:
        answer = {"answer": boundary.hook_answer(event, batch), "ids": [envelope.id for envelope in batch]}
        writer.write((json.dumps(answer) + "\n").encode())
        await writer.drain()
        return True  # the bug: written is not printed

    try:
        await self.hand_over(hand)
    finally:
        writer.close()


boundary.HookDoor._on_hook = on_hook_eagerly  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
