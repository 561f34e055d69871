"""The server's command groups (click), reached through the ``crashveil`` command
(``crashveil.cli.app`` loads each when it runs): ``server``, ``project`` (with
``sentry_keys``), ``keys``, ``governance`` (user, token, audit, retention) and ``release``;
``context`` opens a server directory, ``audit`` writes the audit entries of a change and
``tables`` prints tables.
"""
