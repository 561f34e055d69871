"""IPython: a real ``InteractiveShell`` (in a fresh interpreter) runs cells; an exception a cell
raises is reported as ``ipython`` and still shown; a syntax error is not a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .conftest import CANARY_EMAIL, CANARY_NAME

APP = f"""
import json, os
from IPython.core.interactiveshell import InteractiveShell
import crashveil
from crashveil.testing import RecordingTransport, captured_reports

shell = InteractiveShell.instance()
class AppError(Exception):
    pass
seen = []
shell.set_custom_exc((AppError,), lambda self, etype, value, tb, tb_offset=None: seen.append(etype.__name__))
crashveil.init(dsn=os.environ["TEST_DSN"], data_dir=os.environ["TEST_DATA"], transport=RecordingTransport())
crashveil.grant("diagnostic")
shell.user_ns["AppError"] = AppError
with captured_reports() as reports:
    shell.run_cell("customer = {CANARY_NAME!r}\\nraise KeyError('no order for {CANARY_EMAIL}')")
    shell.run_cell("1 +")
    shell.run_cell("raise AppError('handled by the app')")
    shell.run_cell("x = 1")
print(json.dumps({{"reports": [r.to_dict() for r in reports], "app_handler": seen}}))
"""


def test_cell_exception_is_reported_and_the_apps_handler_kept(run_app: Any, dsn: str, tmp_path: Path) -> None:
    result = run_app(APP, env={"TEST_DSN": dsn, "TEST_DATA": str(tmp_path / "data")})
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert [("KeyError", "ipython"), ("AppError", "ipython")] == [
        (r["crash_type"], r["mechanism"]) for r in output["reports"]]
    assert ["AppError"] == output["app_handler"]  # the app's own handler still ran for its type
    assert "KeyError" in result.stdout  # IPython still showed the traceback
    sent = json.dumps(output["reports"])
    assert CANARY_EMAIL not in sent and CANARY_NAME not in sent
