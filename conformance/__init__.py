"""The agentbus conformance kit: SPEC.md rules as pytest tests, runnable against any adapter."""
