"""Which integrations ``init()`` installs: only those whose framework the app imported already;
``import crashveil`` and ``init()`` never import a framework themselves."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from crashveil.errors import ConfigError
from crashveil.sdk.integrations import AUTO_INTEGRATIONS, enable

FRAMEWORKS = dict(AUTO_INTEGRATIONS)

FRAMEWORK_MODULES = ("celery", "kombu", "rq", "redis", "tkinter", "_tkinter", "PySide6", "shiboken6", "IPython",
                     "multiprocessing", "concurrent.futures")


def run(tmp_path: Path, code: str) -> dict[str, list[str]]:
    probe = (f"import sys\nDATA = {str(tmp_path / 'data')!r}\n{code}\n"
             "from crashveil.sdk.integrations._base import installed\nimport json\n"
             "print(json.dumps({'modules': sorted(sys.modules), 'installed': list(installed())}))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    result: dict[str, list[str]] = json.loads(out.strip().splitlines()[-1])
    return result


def test_import_and_init_import_no_framework(tmp_path: Path) -> None:
    result = run(tmp_path, "import crashveil\ncrashveil.init(data_dir=DATA)\ncrashveil.grant('crash')")
    assert [] == [name for name in FRAMEWORK_MODULES if name in result["modules"]]
    assert [] == result["installed"]
    assert "crashveil.sdk.integrations.tasks.celery" not in result["modules"]


def test_frameworks_imported_before_init_are_detected(tmp_path: Path) -> None:
    result = run(tmp_path, "import celery, rq, tkinter, concurrent.futures\nimport crashveil\n"
                           "crashveil.init(data_dir=DATA)")
    # celery and rq import multiprocessing themselves: its integration comes with them
    assert ["celery", "rq", "tkinter", "multiprocessing", "futures"] == result["installed"]
    assert "PySide6" not in result["modules"] and "IPython" not in result["modules"]


def test_enable_installs_explicitly_and_imports_the_framework(tmp_path: Path) -> None:
    result = run(tmp_path, "import crashveil\ncrashveil.init(data_dir=DATA)\n"
                           "from crashveil.sdk.integrations import enable\nenable('rq')")
    assert (["rq"], True) == (result["installed"], "rq" in result["modules"])


def test_enable_takes_the_short_name_or_the_module_path(tmp_path: Path) -> None:
    """Users know ``enable('qt')``; the registry names ``gui.qt``: both set up the same integration."""
    result = run(tmp_path, "import crashveil\ncrashveil.init(data_dir=DATA)\n"
                           "from crashveil.sdk.integrations import disable, enable\nenable('tasks.rq')\n"
                           "disable('rq')\nenable('gui.tkinter')")
    assert ["tkinter"] == result["installed"]


def test_short_names_are_unique() -> None:
    """``enable`` resolves a short name to one registered module only."""
    short_names = [path.rpartition(".")[2] for path in FRAMEWORKS]
    assert len(set(short_names)) == len(short_names)


def test_one_registry_for_web_and_tasks(tmp_path: Path) -> None:
    """``enable`` reaches the web integrations too (a framework imported after ``init()``), and
    ``shutdown()`` tears every integration down, web and task alike; a new ``init()`` sets
    up again what its frameworks need."""
    result = run(tmp_path, "import crashveil\ncrashveil.init(data_dir=DATA)\n"
                           "from crashveil.sdk.integrations import enable\nenable('flask')\nenable('celery')\n"
                           "from crashveil.sdk.integrations._base import installed\n"
                           "assert {'flask', 'celery'} <= set(installed()), installed()\n"
                           "crashveil.shutdown()\nassert () == installed(), installed()\n"
                           "crashveil.init(data_dir=DATA)")
    assert {"celery", "flask"} <= set(result["installed"])  # both frameworks are loaded now: auto-detected


def test_unknown_integration_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="integration: unknown integration 'bottle'"):
        enable("bottle")


@pytest.mark.parametrize("module_name", FRAMEWORKS)
def test_each_integration_declares_a_framework_listed_for_detection(module_name: str) -> None:
    """``AUTO_INTEGRATIONS`` (read at ``init()`` without importing the modules) matches the integrations."""
    module = importlib.import_module(f"crashveil.sdk.integrations.{module_name}")
    assert sorted(FRAMEWORKS[module_name]) == sorted(i.framework_module for i in module.default_integrations())
