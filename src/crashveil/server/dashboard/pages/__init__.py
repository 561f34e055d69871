"""The dashboard's pages, one module each; ``routes.py`` maps URLs to their handlers."""
