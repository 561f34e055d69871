"""The triage list: its URL parameters (``params``), who sees which part of a title
(``titles``), its SQL (``listing``) and its inline sparklines (``sparkline``)."""
