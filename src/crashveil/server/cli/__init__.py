"""The server's command line (click): ``crashveil server|project|keys|user|token|audit|retention|
release|demo``, reached through ``crashveil.cli``; ``main`` holds the groups,
``governance`` the governance commands and ``audit`` the audit entries they write.
"""
