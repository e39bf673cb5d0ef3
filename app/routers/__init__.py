"""Thin HTTP layer: parse, call one service, return.

One way to answer: the service returns the answer as the route's declared output schema (a
``*Read`` model, or a ``Page`` of them: rows become models inside the service, never here); the
route returns it and FastAPI validates and encodes it against ``response_model``. A creating POST
returns the created model through its ``idempotency.CreateOnceDep``, which also replays a retry's
first answer as that model and sets 201 and ``Location``.

Only a measured hot path may bypass pydantic: it returns JSON it encoded from plain rows through
``app.responses.json_response``, and a test validates that route's real answers against its
``response_model`` on both databases, so the declared shape stays true. Answers without a JSON
body (204, the metrics text) return a plain ``Response``.
"""
