"""What the web examples share: their command line, and crashveil in server consent mode.

A web app's crashes hold its *users'* requests, and they cannot be asked: the operator
grants a level in configuration (``consent_mode="server"``), up to what the policy allows
(``[consent] server_mode_max_level``). Reports carry the route template, method, status
and handler name; never the URL, query, headers, cookies, body or the client's address.
"""

from __future__ import annotations

import argparse
import os

import crashveil

#: What each example's crashing request carries, so you can check none of it arrives.
PERSONAL = {
    "path_id": "4711",
    "query": "email=alice.martin@example.com",
    "header": "Bearer alice-secret-token",
    "cookie": "session=alice-session-0001",
}


def start(description: str, app_name: str) -> None:
    """Parse the command line and start crashveil for a web app (server mode)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dsn", default=os.environ.get("CRASHVEIL_DSN"))
    parser.add_argument("--cert", help="TLS client certificate (PEM)")
    parser.add_argument("--key", help="its private key (PEM)")
    parser.add_argument("--data-dir", help="where crashveil keeps its queue")
    parser.add_argument("--level", default="crash", help="the level the operator grants (server mode)")
    args = parser.parse_args()
    crashveil.init(dsn=args.dsn, app_name=app_name, release=f"{app_name}@1.0.0", data_dir=args.data_dir,
                   client_cert=args.cert, client_key=args.key, consent_mode="server", server_level=args.level)


def finish(status: int) -> None:
    """Say what the app answered, and deliver the report before the process ends."""
    print(f"the app answered {status}; delivering the crash report ...")
    crashveil.flush(10.0)
    for entry in crashveil.history():
        print(f"  {entry.state}: {entry.crash_type} (receipt {entry.receipt})")
