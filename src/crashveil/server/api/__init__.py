"""The read/write API under ``/api/v1/`` on the web listener: bearer tokens with scopes."""
