"""Erasure by installation code (issue 21): for a person who uninstalled the app, or who writes
to support, with the code the app showed them.

- ``erase.py``: the code to the pseudonyms of every period kept, erased as a revoke is.
- ``confirmation.py``: the signed confirmation as a document for the person, and its check.
- ``audit_section.py``: the audit report's section counting these erasures.
"""
