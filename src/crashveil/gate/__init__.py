"""The privacy gates an app runs in its own CI (stdlib, and pytest for the plugin).

- ``check.py``: ``crashveil check``, the policy gate (orchestration); ``review.py`` reads
  review records; ``findings.py`` holds what the gate found and renders it.
- ``pytest_plugin.py``: ``pytest --crashveil-canaries`` (entry point ``pytest11``), planted
  personal data must not leave the app.

Nothing is imported here: the command loads ``check`` only when it runs, and pytest loads
the plugin without the gate.
"""
