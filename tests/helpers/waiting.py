"""Tests wait on conditions, never on fixed sleeps: fakeclaude's one ``wait_until``, by the name CONTRIBUTING uses."""

from fakeclaude.waiting import WaitTimeout, wait_until

__all__ = ["WaitTimeout", "wait_until"]
