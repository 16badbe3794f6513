"""Adapters: one package per runtime, each with a module.json manifest."""
