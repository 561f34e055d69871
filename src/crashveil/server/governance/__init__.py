"""Who may see what, and proof of it: roles, users, tokens and sessions, the tamper-evident
audit trail and its report, log-in hardening, retention and crypto-shredding, erasure
and its tombstones, and the per-release privacy gate.
"""
