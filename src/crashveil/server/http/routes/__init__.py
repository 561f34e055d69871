"""Routes answered as plain ASGI, without Starlette's router and wrappers: the hot ones, whose
per-request cost is the floor of the ingest (``reports.py``: ``POST .../reports``)."""
