"""Subprocess: a peer NAME on an Endpoint whose Delivery prints each envelope as a JSON line."""

import json
import sys

import anyio

from agentbus.core import Bus, Envelope, Settings
from agentbus.endpoint import Endpoint
from agentbus.triggers import make_trigger


class PrintDelivery:
    async def deliver(self, envelope: Envelope) -> None:
        sys.stdout.write(json.dumps({"id": envelope.id, "from": envelope.sender, "body": envelope.body}) + "\n")
        sys.stdout.flush()


async def main(name: str) -> None:
    settings = Settings.from_env()
    bus = Bus.open(settings)
    endpoint = Endpoint(bus, name, adapter="test-recipient", trigger=make_trigger(settings))
    async with endpoint.running():
        endpoint.attach(PrintDelivery())
        print(json.dumps({"ready": endpoint.name}), flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)  # run until stdin closes


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
