"""The store: reports, groups and roll-ups written in short transactions through
``crashveil.server.db``, details encrypted under day keys.
"""
