"""Client profiles: what a real MCP client sends and does, recorded from its binary (one JSON file each).

A profile file is ``<client>@<version>.json`` in this package. Format 1 holds, exactly as the binary
wrote them: ``opening`` (the requests before the handshake answer: a ``server/discover`` probe or
not, then ``initialize``), ``after_initialize`` (what it sends together once initialize is
answered), ``tools_call`` (one real ``tools/call``, with its ``_meta``); and what it does:
``channel_handler`` (the channel handler is registered ``delay_ms`` after the answer to
``registered_after``; events that arrive sooner are dropped), ``channel_rendering`` (how an event is
shown to the model), ``shutdown`` (signals and when, after the first), ``server_env`` (names of the
variables a server inherits), ``transcript`` (where the session transcript is written).
"""
