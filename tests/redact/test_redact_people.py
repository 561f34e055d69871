"""The person, address and account detectors, and the keep-rules of the benign look-alikes.

The labelled corpus (test_redact_corpus.py) measures them by family; these cases pin single
behaviours: what each detector finds, what it leaves, and why.
"""

from __future__ import annotations

import pytest

from crashveil.redact import Redactor
from crashveil.redact.detectors import people

ALL = Redactor()


@pytest.mark.parametrize(("text", "expected"), [
    ("Hi Jane Doe, the app crashed", "Hi <name>, the app crashed"),
    ("Thanks,\nAnnika", "Thanks,\n<name>"),
    ("ticket assigned to Priya Raghunathan", "ticket assigned to <name>"),
    ("Reported-by: Tomasz Wiśniewski", "Reported-by: <name>"),
    ("Dear Dr. Okafor, see attached", "Dear <name>, see attached"),
    ("PermissionError: Steve Erickson may not edit this invoice", "PermissionError: <name> may not edit this invoice"),
    ("issue reported by Надія Кармалюк", "issue reported by <name>"),
    ("review reported by 佐藤 花子", "review reported by <name>"),
    ("Paired with Amara's iPhone", "Paired with <name> iPhone"),
    ("first_name=Zeynep last_name=Kaya", "first_name=<name> last_name=<name>"),
])
def test_person_names_are_found(text, expected):
    assert expected == ALL.redact(text)


@pytest.mark.parametrize("text", [
    "Hi team, the build is broken", "Max Retries Exceeded with url: /x", "Will Retry in 5s",
    "HTTPError: 404 Client Error: Not Found for url: /api", "Dear Customer, your session expired",
    "reported by Sentry", "Hello World example", "Grant Access Denied for role Viewer",
    "name = 'split'", "Traceback (most recent call last):\n  File \"x.py\", line 3, in <module>",
])
def test_name_lookalikes_stay(text):
    assert text == ALL.redact(text)


def test_name_lists_load_lazily_and_hold_common_names():
    """The lists are package data, loaded on first use; words of program text are not in them."""
    first, last = people.names("first"), people.names("last")

    assert {"jane", "priya", "mohammed"} <= first
    assert {"smith", "müller", "nguyen"} <= last
    assert not {"max", "will", "error", "server", "grant"} & (first | last)


@pytest.mark.parametrize(("text", "expected"), [
    ("ship to 1600 Pennsylvania Ave NW, Washington, DC 20500", "ship to <address>"),
    ("I moved to Kurfürstendamm 21, 10719 Berlin", "I moved to <address>"),
    ("addr = '12, rue de la Paix, 75002 Paris'", "addr = '<address>'"),
    ("no route to Calle de Alcalá 48, 28014 Madrid", "no route to <address>"),
    ("DETAIL: Key (street)=(Drottninggatan 53) already exists.", "DETAIL: Key (street)=(<address>) already exists."),
    ("Flat 3, 18 Kensington Gardens, London W2 3HN", "<address>"),
])
def test_street_addresses_are_found(text, expected):
    assert expected == ALL.redact(text)


@pytest.mark.parametrize("text", [
    "  File \"/app/main.py\", line 42, in handler", "found 2 Open Ports on scan", "HTTP/1.1 404 Not Found",
    "Vue Router 4 Route Guards", "String 12 is out of range", "Level 7 Boss Defeated",
])
def test_address_lookalikes_stay(text):
    assert text == ALL.redact(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("USER=mweber\nLOGNAME=mweber", "USER=<user>\nLOGNAME=<user>"),
    ("uid=1001(lucia) gid=1001(lucia) groups=1001(lucia),27(sudo)",
     "uid=1001(<user>) gid=1001(<user>) groups=1001(<user>),27(sudo)"),
    ("You have new mail in /var/mail/tobias", "You have new mail in /var/mail/<user>"),
    ("rsingh      4242  98.0  3.1 812345 64000 ?  Rl  09:12  12:01 python train.py",
     "<user>      4242  98.0  3.1 812345 64000 ?  Rl  09:12  12:01 python train.py"),
    ("\\\\corp-fs01\\Home$\\m.tanaka\\Desktop", "\\\\<host>\\Home$\\<user>\\Desktop"),
    ("\\\\fs\\RoamingProfiles\\jdoe.V2\\NTUSER.DAT", "\\\\<host>\\RoamingProfiles\\<user>.V2\\NTUSER.DAT"),
    ("'C:\\Users\\Anne O'Neil\\AppData'", "'~\\AppData'"),
])
def test_accounts_and_user_folders_are_found(text, expected):
    assert expected == ALL.redact(text)


@pytest.mark.parametrize("text", [
    "USER=root\nLOGNAME=www-data\nUSERNAME=SYSTEM\nHOME=/root", "PWD=/app", "uid=0(root) gid=0(root)",
    "USERNAME=$USER", "running as user www-data",
    "commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904", "BuildID[sha1]=29935e8b315989b393fc56294ffb282a4776ad66",
    "pip install git+https://github.com/org/repo@4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    "SELECT u.name FROM users u JOIN orders o ON o.user_id = u.id WHERE o.id = %s",
    "UPDATE accounts SET balance = :balance WHERE user_id = :user_id",
])
def test_benign_lookalikes_stay(text):
    assert text == ALL.redact(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("SSN 078051120", "SSN <national-id>"),
    ("CPR-nr. 0707614285", "CPR-nr. <national-id>"),
    ("personnummer: 198112189876", "personnummer: <national-id>"),
    ("KYC: 499118665246 did not match", "KYC: <national-id> did not match"),  # Aadhaar, Verhoeff-valid
])
def test_national_ids_without_separators(text, expected):
    assert expected == ALL.redact(text)


def test_a_40_hex_token_without_context_is_still_a_secret():
    """Only a named commit or build id is kept; a bare random hex token still goes."""
    assert "token <secret>" == ALL.redact("token 4b825dc642cb6eb9a060e54bf8d69288fbee4904")
