"""deploy/install.sh, the install step the guide and the Containerfile share, run for real: a
fresh virtual environment with this source tree's ``crashveil[server]`` and its dependencies
from the package index, whose ``crashveil`` then makes a server directory.

(No container runtime here: test_deploy_files.py checks that the Containerfile runs this same
script; this test runs the script itself.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import DEPLOY, ROOT

pytestmark = pytest.mark.slow


def test_install_script_makes_a_working_server(tmp_path: Path) -> None:
    prefix = tmp_path / "opt-crashveil"
    # The installed command must load the installed package, not this tree through PYTHONPATH.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHON"] = sys.executable
    install = subprocess.run(["sh", str(DEPLOY / "install.sh"), str(prefix), f"{ROOT}[server]"], env=env,
                             capture_output=True, text=True, timeout=1500)
    assert install.returncode == 0, install.stderr[-3000:]
    crashveil = prefix / "bin" / "crashveil"
    init = subprocess.run([str(crashveil), "server", "init", str(tmp_path / "srv"), "--suite", "x25519"], env=env,
                          capture_output=True, text=True, timeout=300)
    where = subprocess.run([str(prefix / "bin" / "python"), "-c", "import crashveil; print(crashveil.__file__)"],
                           env=env, capture_output=True, text=True, timeout=60)
    run_help = subprocess.run([str(crashveil), "server", "run", "--help"], env=env, capture_output=True, text=True,
                              timeout=60)
    assert (0, True, True, True) == (
        init.returncode, (tmp_path / "srv" / "settings.toml").is_file(),
        where.stdout.startswith(str(prefix)), "--log-format" in run_help.stdout), init.stderr[-2000:]
