"""The poll trigger: wakes its peer on a fixed interval; notify is a no-op."""

import threading
from collections.abc import Callable

from agentbus.core.ports import Disposer


class PollTrigger:
    name = "poll"

    def __init__(self, interval_seconds: float = 0.5) -> None:
        if interval_seconds <= 0:
            raise ValueError("poll interval must be positive")
        self.interval_seconds = interval_seconds

    def arm(self, self_name: str, on_wake: Callable[[], None]) -> Disposer:
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(self.interval_seconds):
                on_wake()

        thread = threading.Thread(target=tick, name=f"agentbus-poll-{self_name}", daemon=True)
        thread.start()
        return stop.set

    def notify(self, recipient: str) -> None:
        return None

    def close(self) -> None:
        return None
