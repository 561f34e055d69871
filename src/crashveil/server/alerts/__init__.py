"""Alerts: rules that notice a crash worth telling a team about, and the destinations told.

``notification.py`` is the seam between the two halves: a rule makes a
:class:`~crashveil.server.alerts.notification.Notification` holding only the fields the
policy's ``[forwarding]`` section lets that destination receive, already redacted; a
:class:`~crashveil.server.alerts.notification.Destination` turns it into one delivery.
"""
