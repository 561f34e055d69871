"""``/metrics`` with several front processes: every front answers the totals of all fronts
(prometheus_client's multiprocess mode over a private directory that ``run_processes``
makes at start and removes at exit)."""

from __future__ import annotations

import collections
import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from crashveil.server.http.metrics import Metrics
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE, reports_path

from .test_run_processes import start_two_fronts
from .test_run_tls import ServerDir, _client, _free_port, _init_from_test_pki, _sealed_report

REPORTS = 20


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> ServerDir:
    return _init_from_test_pki(tmp_path_factory.mktemp("server") / "srv")


class TwoFronts:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path, tmp: Path) -> None:
        self.process, self.port, self.log, self.tmp = process, port, log, tmp

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def metric_dirs(self) -> list[Path]:
        """The metric directories of the server (it makes its temporary files under ``tmp``)."""
        return sorted(p for p in self.tmp.iterdir() if p.name.startswith("crashveil-metrics-"))


@pytest.fixture
def two_fronts(server_dir: ServerDir, tmp_path: Path) -> Iterator[TwoFronts]:
    port, web_port = _free_port(), _free_port()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CRASHVEIL_") and key.upper() != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(CRASHVEIL_PORT=str(port), CRASHVEIL_WEB_PORT=str(web_port), TMPDIR=str(tmp))
    log = tmp_path / "server.log"
    process = start_two_fronts(server_dir.path, env, log)
    yield TwoFronts(process, port, log, tmp)
    if process.poll() is None:
        process.kill()
        process.wait(30)


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called ``name`` in an exposition, by their sorted labels."""
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def _accepted_per_front(directory: Path) -> dict[str, float]:
    """Reports each front counted, from its own counter file (``counter_<pid>.db``)."""
    out = {}
    for path in sorted(directory.glob("counter_*.db")):
        total = 0.0
        for metric in MultiProcessCollector.merge([str(path)]):
            total += sum(s.value for s in metric.samples if s.name == "crashveil_reports_accepted_total")
        out[path.stem.split("_", 1)[1]] = total
    return out


def test_every_front_answers_the_totals_of_all_fronts(server_dir: ServerDir, two_fronts: TwoFronts) -> None:
    headers = {"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"}
    path = reports_path("demo")
    statuses = []
    for _ in range(REPORTS):  # a fresh connection each: SO_REUSEPORT spreads them over both fronts
        with _client(server_dir) as client:
            statuses.append(client.post(two_fronts.url(path), content=_sealed_report(server_dir)[1],
                                        headers=headers).status_code)
    assert [201] * REPORTS == statuses
    refused: collections.Counter[str] = collections.Counter()
    for body, kind in [(b"not a sealed report", headers)] * 3 + [(b"{}", {"Content-Type": "text/plain"})] * 2:
        with _client(server_dir) as client:
            answer = client.post(two_fronts.url(path), content=body, headers=kind)
        assert 400 <= answer.status_code < 500
        refused[answer.json()["error"]] += 1

    for _ in range(8):  # any front answers; each must give the totals of both
        with _client(server_dir) as client:
            text = client.get(two_fronts.url("/metrics")).text
        accepted = _samples(text, "crashveil_reports_accepted_total")
        rejected = _samples(text, "crashveil_reports_rejected_total")
        assert {(("outcome", "created"),): REPORTS} == accepted, text
        assert {(("reason", reason),): float(count) for reason, count in refused.items()} == rejected, text

    [directory] = two_fronts.metric_dirs()
    assert 0o700 == stat.S_IMODE(directory.stat().st_mode)
    per_front = _accepted_per_front(directory)
    assert 2 == len(per_front) and all(count > 0 for count in per_front.values()), per_front
    assert REPORTS == sum(per_front.values())

    two_fronts.process.send_signal(signal.SIGTERM)
    assert 0 == two_fronts.process.wait(60), two_fronts.log.read_text()
    assert [] == two_fronts.metric_dirs()  # removed when the server exits


def test_multiprocess_metrics_refuse_a_process_started_without_the_directory(tmp_path: Path) -> None:
    """This process imported prometheus_client without ``PROMETHEUS_MULTIPROC_DIR``: its
    values would stay in memory, missing from every scrape, so ``Metrics`` refuses."""
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        Metrics(multiprocess_dir=tmp_path)
    assert Metrics().multiprocess_dir is None
