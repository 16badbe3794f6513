"""The conformance suite: one module per SPEC.md section, collected by the plugin when an adapter is given."""
