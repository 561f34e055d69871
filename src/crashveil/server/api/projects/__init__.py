"""A project's reads through the API: the project itself (``detail``), its releases, its daily
counts (``aggregates``) and its public summary, and their OpenAPI parts (``schema``)."""
