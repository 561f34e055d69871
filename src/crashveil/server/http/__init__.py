"""The HTTP edge of the server: the Starlette app and its routes' plumbing, the uvicorn
processes that serve it, connection admission and timeouts, request bodies and their
decompression, the one map from errors to HTTP answers, the peer's credential and keyed
address tag, the client behind trusted proxies, per-process rate limits, Prometheus metrics and the API contract
(``openapi.yaml``).
"""
