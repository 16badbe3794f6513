"""Helper scripts and utilities for the test suite (run as real subprocesses)."""
