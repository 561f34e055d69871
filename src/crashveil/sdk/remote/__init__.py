"""The server's signed remote config: ``config.py`` verifies, caches and fetches it;
``refresh.py`` keeps the one in force and decides when to fetch again. Nothing is imported
here.
"""
