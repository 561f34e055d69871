"""Governance over time: field stops (expired policy fields and incident stops), privacy
incidents (open, purge, close) and their postmortem in the audit report."""
