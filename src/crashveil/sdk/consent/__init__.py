"""The user's side of the SDK: what they agreed to, what waits for them, what was sent.

``store.py`` the consent record bound to a policy version; ``pending.py`` crashes kept for
review ("ask me each time"); ``history.py`` the user-visible log of what was queued and
sent; ``pseudonym.py`` the install secret and keyed pseudonyms; ``withdrawal.py`` what
``revoke()`` and ``grant("off")`` undo; ``server.py`` consent mode for server software
(the operator's level, bounded by the policy's ``[consent] server_mode_max_level``).
Nothing is imported here: ``init()`` loads only what it needs.
"""
