"""A small app that reports its crashes to a crashveil server (the quick start's demo app).

It imports a "contacts" CSV from the user's home directory and crashes on a bad row, with
personal data in the exception message and the file path, the way real apps do. With
``--consent LEVEL`` it grants consent without asking (the demo has no one to ask); without
it, it asks in the terminal, showing the privacy notice and a preview of the exact report.

    python examples/demo_app.py --dsn 'crashveil://...' --cert client.pem --key client.key \\
        --data-dir DIR [--consent diagnostic] [--crash main|thread|none]
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import threading
from pathlib import Path

import crashveil


def parse_contact(row: list[str]) -> dict[str, object]:
    name, email, age = row
    return {"name": name, "email": email, "age": int(age)}  # the bug: age may be text


def import_contacts(path: Path) -> list[dict[str, object]]:
    with path.open(newline="") as handle:
        return [parse_contact(row) for row in csv.reader(handle)]


def sample_file() -> Path:
    """A contacts file under a home-like directory with a user name in its path."""
    home = Path(tempfile.gettempdir()) / "home" / "alice.martin"
    home.mkdir(parents=True, exist_ok=True)
    path = home / "contacts.csv"
    path.write_text("Bob Stone,bob.stone@example.com,41\nCarol Diaz,carol@example.org,thirty-two\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=os.environ.get("CRASHVEIL_DSN"))
    parser.add_argument("--cert", help="TLS client certificate (PEM)")
    parser.add_argument("--key", help="its private key (PEM)")
    parser.add_argument("--data-dir", help="where crashveil keeps consent and its queue")
    parser.add_argument("--consent", help="grant this level without asking (demo and CI)")
    parser.add_argument("--crash", choices=("main", "thread", "none"), default="main")
    args = parser.parse_args()

    crashveil.init(dsn=args.dsn, app_name="crashveil-demo", release="demo@1.4.2", data_dir=args.data_dir,
                   client_cert=args.cert, client_key=args.key)
    if args.consent:
        crashveil.grant(args.consent)
    elif crashveil.needs_prompt():
        from crashveil.sdk.prompts import ask_in_terminal

        ask_in_terminal()

    path = sample_file()
    if args.crash == "thread":
        worker = threading.Thread(target=import_contacts, args=(path,), name="importer")
        worker.start()
        worker.join()
    elif args.crash == "main":
        print(f"importing {path} ...")
        import_contacts(path)
    crashveil.flush(5.0)


if __name__ == "__main__":
    main()
