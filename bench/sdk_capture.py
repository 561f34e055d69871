"""Cost of one crash inside the app: report build + redaction, and capture -> sealed on disk.

A 30-frame crash (25 in-app frames under a temporary app root, a chained cause, a message
with personal data to redact) is captured REPEATS times by a real ``Client`` with consent
granted. Prints medians and ratios to the DESIGN.md targets:

- report build + redaction <= 1 ms
- capture -> sealed on disk (allowlist, redaction, limits, HPKE seal, atomic fsynced write) <= 2 ms

Also reports the memory the SDK adds to a process (import + init + one capture), from
tracemalloc. Needs the server extra (it makes a test key pair with crashveil.server.keys.crypto).

    python bench/sdk_capture.py [--repeats 200] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _table import median, print_table

DEPTH = 30


def make_app(root: Path) -> object:
    """Write an app module whose call chain is DEPTH frames deep and import it."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        "def level_0(user_email):",
        "    try:",
        "        {}['missing']",
        "    except KeyError as exc:",
        '        raise ValueError(f"cannot load profile for {user_email} from /home/alice/.config/app.cfg") from exc',
    ]
    for index in range(1, DEPTH):
        lines += [f"def level_{index}(user_email):", f"    return level_{index - 1}(user_email)"]
    (root / "benchapp.py").write_text("\n".join(lines) + "\n")
    sys.path.insert(0, str(root))
    import benchapp  # type: ignore[import-not-found]

    return benchapp


def make_error(app: object) -> BaseException:
    try:
        getattr(app, f"level_{DEPTH - 1}")("alice@example.com")
    except ValueError as exc:
        return exc
    raise AssertionError("the bench app did not crash")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument(
        "--data-dir", help="where the queue lives (default: a temporary dir; /dev/shm avoids disk noise)"
    )
    args = parser.parse_args()

    from crashveil.sdk.client import Client
    from crashveil.sdk.options import Options
    from crashveil.server.keys.crypto import ProjectKeyPair
    from crashveil.testing import RecordingTransport
    from crashveil.wire.protocol import ConnectionString

    work = Path(tempfile.mkdtemp(prefix="cvbench-", dir=args.data_dir))
    app = make_app(work / "app")
    error = make_error(app)
    rows = []
    for suite in ("mlkem768x25519", "x25519"):
        keypair = ProjectKeyPair.generate(suite)
        dsn = ConnectionString(host="127.0.0.1", port=9, project="bench", public_key=keypair.public_key_string(),
                               signing_key="ed25519:" + base64.urlsafe_b64encode(bytes(32)).rstrip(b"=").decode(),
                               ca_der=b"bench").format()
        # Generous limits so every capture is processed rather than rate-limited or deduplicated.
        client = Client(Options.from_kwargs({
            "dsn": dsn, "data_dir": work / f"data-{suite}", "app_root": work / "app", "release": "bench@1.0",
            "transport": RecordingTransport(status=503)}, environ={}))
        client.grant("diagnostic")
        client._limiter = _Unlimited()
        build, capture = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            client.preview(error, "diagnostic")
            build.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            client.capture_exception(error)
            capture.append((time.perf_counter() - start) * 1000)
            client.queue(create=True).clear()
        client.close()
        rows.append([f"report build + redaction ({DEPTH} frames)", suite, f"{median(build):.3f}", "1.0",
                     f"{median(build) / 1.0:.2f}"])
        rows.append(
            ["capture -> sealed on disk", suite, f"{median(capture):.3f}", "2.0", f"{median(capture) / 2.0:.2f}"]
        )

    tracemalloc.start()
    import crashveil  # already imported above; measure what init + one capture allocate

    crashveil.init(app_name="bench-mem", data_dir=str(work / "mem"), release="1.0")
    crashveil.grant("crash")
    crashveil.capture_exception(make_error(app))
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    crashveil.shutdown()
    print(f"Python {sys.version.split()[0]}, {args.repeats} repeats, queue in {work}")
    print_table(["measure", "suite", "median ms", "target ms", "ratio to target"], rows)
    print(f"memory held after init + one capture: {current / 1024:.0f} KiB (peak {peak / 1024:.0f} KiB)")


class _Unlimited:
    """Lets every capture through: the benchmark measures the pipeline, not the limiter."""

    def decide(self, fingerprint: str) -> str:
        return "send"

    def counts(self) -> dict[str, int]:
        return {}

    def take_counts(self) -> dict[str, int]:
        return {}

    def set_remote_sample_rate(self, rate: float | None) -> None:
        return None


if __name__ == "__main__":
    main()
