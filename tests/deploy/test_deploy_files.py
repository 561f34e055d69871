"""The files under deploy/ and the guide's checklist agree with the real CLI and server directory.

- Every crashveil command the systemd units and the Containerfile invoke exists: ``crashveil
  <command> --help`` succeeds and lists each option given; every ``CRASHVEIL_*`` variable
  they set is a setting.
- The Containerfile installs with deploy/install.sh, the script the guide tells operators
  to run and test_install.py runs: one install, no drift.
- docs/deploy.md's "Files and secrets" table names every file ``server init``,
  ``issue-client-cert``, ``renew-client-cert`` and a first ``server run`` create, every secret
  file is created 0600, and every key file is listed as a secret.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from crashveil.server.settings import Settings

from .conftest import DEPLOY, GUIDE

PREFIX = "/opt/crashveil"
CRASHVEIL = f"{PREFIX}/bin/crashveil"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
SETTING_NAMES = {f.upper() for f in Settings.__dataclass_fields__} | {"SERVER_DIR"}


def _help(command: tuple[str, ...]) -> str:
    done = subprocess.run([sys.executable, "-m", "crashveil", *command, "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, f"crashveil {' '.join(command)} --help failed: {done.stderr[-1000:]}"
    return done.stdout


def cli_problems(argv: list[str]) -> list[str]:
    """What is wrong with a crashveil command line (``argv`` after the program): its command
    path must exist and each ``--option`` must be one of that command's."""
    command = tuple(arg for arg in _leading_words(argv))
    text = _help(command)
    options = [arg.split("=", 1)[0] for arg in argv if arg.startswith("--")]
    return [f"crashveil {' '.join(command)} has no option {opt}" for opt in options
            if not re.search(rf"(^|[\s,]){re.escape(opt)}([\s,=]|$)", text, re.M)]


def _leading_words(argv: list[str]) -> list[str]:
    words = []
    for arg in argv:
        if arg.startswith("-"):
            break
        words.append(arg)
    return words


def _unit_values(path: Path, key: str) -> list[str]:
    return [line.split("=", 1)[1].strip() for line in path.read_text().splitlines() if line.startswith(f"{key}=")]


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_unit_commands_exist(unit: Path) -> None:
    commands = [shlex.split(value) for key in ("ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload",
                                               "ExecStop") for value in _unit_values(unit, key)]
    assert commands, f"{unit.name} runs nothing"
    problems = [f"{unit.name}: {argv[0]} is not {CRASHVEIL}" for argv in commands if argv[0] != CRASHVEIL]
    for argv in commands:
        problems += cli_problems(argv[1:])
    variables = [value.split("=", 1)[0] for value in _unit_values(unit, "Environment")]
    problems += [f"{unit.name}: {name} is not a setting" for name in variables
                 if name.startswith("CRASHVEIL_") and name.removeprefix("CRASHVEIL_") not in SETTING_NAMES]
    assert [] == problems


def test_units_pass_systemd_analyze_verify() -> None:
    """systemd's own check of the unit files (directives, sections, values), where systemd is
    installed; the one complaint expected is that /opt/crashveil is not installed here."""
    import shutil

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    files = sorted(str(p) for p in (DEPLOY / "systemd").iterdir())
    done = subprocess.run([analyze, "verify", *files], capture_output=True, text=True, timeout=120)
    complaints = [line for line in (done.stdout + done.stderr).splitlines()
                  if line.strip() and f"Command {CRASHVEIL} is not executable" not in line]
    assert [] == complaints


def test_every_timer_starts_a_unit_that_exists() -> None:
    timers = sorted((DEPLOY / "systemd").glob("*.timer"))
    missing = [t.name for t in timers if not (t.with_suffix(".service")).exists()]
    assert (True, []) == (bool(timers), missing)


def _containerfile() -> list[tuple[str, str]]:
    """(instruction, argument) of deploy/Containerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Containerfile").read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_containerfile_installs_with_the_shared_script() -> None:
    """The image copies deploy/install.sh and runs it into /opt/crashveil, the prefix the
    units and the guide use; the guide tells operators to run the same script."""
    steps = _containerfile()
    copied = [arg.split() for name, arg in steps if name == "COPY" and "deploy/install.sh" in arg]
    target = copied[0][-1] if copied else "<not copied>"
    runs = [arg for name, arg in steps if name == "RUN" and target in arg]
    guide = GUIDE.read_text()
    assert (1, 1, True, True) == (
        len(copied), len(runs), bool(runs) and re.search(rf"sh {re.escape(target)} {PREFIX} ", runs[0]) is not None,
        f"sh deploy/install.sh {PREFIX} " in guide)


def test_container_command_exists() -> None:
    steps = dict(_containerfile())
    entry, cmd = json.loads(steps["ENTRYPOINT"]), json.loads(steps["CMD"])
    env = re.findall(r"(CRASHVEIL_[A-Z_]+)=", steps["ENV"])
    wrong = [name for name in env if name.removeprefix("CRASHVEIL_") not in SETTING_NAMES]
    assert ([CRASHVEIL], [], []) == (entry, cli_problems(cmd), wrong)


def test_guide_names_every_deploy_file() -> None:
    guide = GUIDE.read_text()
    files = [p.relative_to(DEPLOY.parent).as_posix() for p in DEPLOY.rglob("*") if p.is_file()]
    assert [] == [f for f in files if f not in guide and Path(f).name not in guide]


# --- files and secrets ---------------------------------------------------------------------------


def documented_files() -> dict[str, bool]:
    """The "Files and secrets" table of docs/deploy.md: glob pattern -> secret?"""
    section = GUIDE.read_text().split("### Files and secrets", 1)[1]
    rows = re.findall(r"^\| `([^`]+)` \| (yes|no) \|", section, re.M)
    assert rows, "docs/deploy.md has no Files and secrets table"
    return {re.sub(r"\b(NAME|ID|SERIAL)\b", "*", path): secret == "yes" for path, secret in rows}


def _classify(relative: str, table: dict[str, bool]) -> list[str]:
    """The table's patterns naming ``relative`` (``*`` stands for one name without dots)."""
    return [pattern for pattern in table if fnmatch.fnmatchcase(relative, pattern)
            and (relative.count("/"), relative.count(".")) == (pattern.count("/"), pattern.count("."))]


def _looks_secret(path: Path, relative: str) -> bool:
    data = path.read_bytes()
    return relative.startswith("keys/") or b"PRIVATE KEY" in data or relative.endswith(".key")


@pytest.fixture(scope="module")
def made_files(tmp_path_factory: pytest.TempPathFactory, servers: ModuleType) -> Path:
    """A server directory after init, a client certificate issued and renewed, and one run."""
    server_dir = servers.init_server_dir(tmp_path_factory.mktemp("secrets") / "srv")
    servers._cli("server", "renew-client-cert", "load-client", "--server-dir", str(server_dir.path))
    server = servers.Server(server_dir, server_dir.path.parent / "server.log").start()
    server.stop()
    return server_dir.path


def test_checklist_names_every_file_and_secret_files_are_private(made_files: Path) -> None:
    table = documented_files()
    found = {p.relative_to(made_files).as_posix(): p for p in made_files.rglob("*") if p.is_file()}
    unnamed = [rel for rel in found if len(_classify(rel, table)) != 1]
    secret = {rel: p for rel, p in found.items() if any(table[pattern] for pattern in _classify(rel, table))}
    open_secrets = [f"{rel} {p.stat().st_mode & 0o777:o}" for rel, p in secret.items()
                    if p.stat().st_mode & 0o777 != 0o600]
    unmarked = [rel for rel, p in found.items() if _looks_secret(p, rel) and rel not in secret]
    assert ([], [], []) == (unnamed, open_secrets, unmarked)


def test_checklist_covers_the_secrets_the_issue_names(made_files: Path) -> None:
    """KEK, CA key, server key, audit key, dashboard secret, issued client keys and the settings
    file (it may hold a database password): each exists after init/run and is marked secret."""
    table = documented_files()
    wanted = ["keys/kek.json", "tls/ca.key", "tls/server.key", "keys/audit_ed25519.key", "keys/dashboard.secret",
              "clients/load-client.key", "settings.toml"]
    assert [] == [rel for rel in wanted
                  if not (made_files / rel).is_file() or not any(table[p] for p in _classify(rel, table))]
