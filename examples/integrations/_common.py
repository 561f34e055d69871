"""The command line the integration examples share: where the server is, and the consent level."""

from __future__ import annotations

import argparse
import os

import crashveil


def start(description: str, app_name: str) -> argparse.Namespace:
    """Parse ``--dsn --cert --key --data-dir --consent`` and start crashveil.

    Call it *after* importing the app's framework: ``init()`` installs the integrations of
    the frameworks already imported (it never imports one itself).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dsn", default=os.environ.get("CRASHVEIL_DSN"))
    parser.add_argument("--cert", help="TLS client certificate (PEM)")
    parser.add_argument("--key", help="its private key (PEM)")
    parser.add_argument("--data-dir", help="where crashveil keeps consent and its queue")
    parser.add_argument("--consent", help="grant this level without asking (demo and CI)")
    args = parser.parse_args()
    crashveil.init(dsn=args.dsn, app_name=app_name, release=f"{app_name}@1.0.0", data_dir=args.data_dir,
                   client_cert=args.cert, client_key=args.key)
    if args.consent:
        crashveil.grant(args.consent)
    elif crashveil.needs_prompt():
        from crashveil.sdk.prompts import ask_in_terminal

        ask_in_terminal()
    return args
