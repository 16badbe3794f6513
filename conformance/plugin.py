"""pytest plugin entry point of the conformance kit; inert until --agentbus-adapter is given."""
