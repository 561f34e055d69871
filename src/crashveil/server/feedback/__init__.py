"""The privacy feedback channel on the server: users' feedback on the data practice and the replies.

``tables.py`` the ``feedback_items`` table (migration 0023); ``store.py`` storing, listing,
opening, answering, closing and expiring items (text and reply encrypted under a key per item);
``intake.py`` the ingest route's strict parse, policy check and second redaction, and the
device's reply fetch; ``report.py`` the audit report's counts by topic. The inbox page is
``dashboard/pages/feedback.py``.
"""
