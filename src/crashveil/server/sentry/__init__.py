"""The Sentry-compatible ingest endpoint: envelope parsing under Sentry's limits, mapping
Sentry events onto crashveil's report format, and the DSN keys that authenticate senders.
"""
