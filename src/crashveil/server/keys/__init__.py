"""Keys and certificates: the key ring (project keys, day data keys, the key-encryption key),
the HPKE sealing and detail encryption primitives, the server's PKI and the register of
issued and revoked client certificates.
"""
