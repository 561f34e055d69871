"""The releases page's reads (``queries.py``) and its adoption chart (``chart.py``); the page is
``dashboard/pages/releases.py``."""
