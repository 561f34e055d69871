"""A report's way out once it is built: how many may go, sealed, kept on disk, sent.

``limits.py`` sampling and rate limits on the device; ``seal.py`` HPKE to the server's key
(and AES-GCM to a device key for kept crashes); ``queue.py`` the on-disk queue of sealed
items; ``files.py`` the durable writes and locks under it; ``sender.py`` the sending thread.
The ``Transport`` seam and the HTTPS transport are ``crashveil.sdk.transport`` (apps may pass
their own). Nothing is imported here.
"""
