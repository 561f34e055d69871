"""Recall and benign survival of the redaction engine on the labelled corpus in tests/redact/corpus/.

Run: ``python bench/redact_corpus.py [--misses N] [--kind KIND]``

Each case of ``generated.jsonl`` (written by ``generate.py``) and ``handwritten.jsonl`` is
redacted with the default :class:`~crashveil.redact.Redactor` under its ``redact_kind``.

- **Recall**: the share of planted spans fully removed. A span counts as removed when none of
  its tokens (runs of letters or digits; one-letter tokens and single digits aside) occurs
  more often in the output than in the text outside every span of the case.
- **Benign survival**: the share of benign cases returned unchanged.

Printed: a table per kind and per (kind, field), with the goal (recall >= 0.995, benign >=
0.98 per kind); ``--misses`` also prints up to N misses per kind. Nothing here is timed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crashveil.redact import Redactor  # noqa: E402

CORPUS = ROOT / "tests" / "redact" / "corpus"
FILES = ("generated.jsonl", "handwritten.jsonl")
RECALL_GOAL = 0.995
BENIGN_GOAL = 0.98
_TOKEN = re.compile(r"[^\W_]{2,}|[0-9]{2,}")


@dataclass
class Tally:
    """Counts for one kind (or one kind and field)."""

    spans: int = 0
    removed: int = 0
    benign: int = 0
    kept: int = 0
    misses: list[tuple[str, str]] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return self.removed / self.spans if self.spans else None

    @property
    def survival(self) -> float | None:
        return self.kept / self.benign if self.benign else None


def load(files: tuple[str, ...] = FILES) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name in files:
        path = CORPUS / name
        if path.exists():
            with path.open(encoding="utf-8") as fh:
                rows.extend(json.loads(line) for line in fh if line.strip())
    return rows


def _count(token: str, text: str) -> int:
    return len(re.findall(r"(?<![^\W_])" + re.escape(token) + r"(?![^\W_])", text))


def span_removed(text: str, spans: list[list[int]], span: list[int], out: str) -> bool:
    """Whether every token of ``span`` is gone from ``out`` (beyond its occurrences outside the spans)."""
    outside = []
    pos = 0
    for s, e in sorted(spans):
        outside.append(text[pos:s])
        pos = e
    outside.append(text[pos:])
    rest = " ".join(outside)
    return all(_count(tok, out) <= _count(tok, rest) for tok in _TOKEN.findall(text[span[0]:span[1]]))


def score(rows: list[dict[str, object]], redactor: Redactor | None = None) -> dict[tuple[str, str], Tally]:
    """Tallies keyed by ``(kind, field)`` and by ``(kind, "*")``."""
    red = redactor or Redactor()
    tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
    for row in rows:
        text, kind, fld = str(row["text"]), str(row["kind"]), str(row["field"])
        out = red.redact(text, str(row["redact_kind"]))
        for key in ((kind, fld), (kind, "*")):
            t = tallies[key]
            if row.get("benign"):
                t.benign += 1
                if out == text:
                    t.kept += 1
                elif key[1] == "*":
                    t.misses.append((text, out))
                continue
            spans = row["spans"]
            assert isinstance(spans, list)
            for sp in spans:
                t.spans += 1
                if span_removed(text, spans, sp, out):
                    t.removed += 1
                elif key[1] == "*":
                    t.misses.append((text[sp[0]:sp[1]] + "  <<  " + text, out))
    return dict(tallies)


def failing(tallies: dict[tuple[str, str], Tally]) -> list[str]:
    """Kinds below their goal."""
    bad = []
    for (kind, fld), t in sorted(tallies.items()):
        if fld != "*":
            continue
        if t.recall is not None and t.recall < RECALL_GOAL:
            bad.append(f"{kind}: recall {t.recall:.3f} < {RECALL_GOAL}")
        if t.survival is not None and t.survival < BENIGN_GOAL:
            bad.append(f"{kind}: benign survival {t.survival:.3f} < {BENIGN_GOAL}")
    return bad


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--misses", type=int, default=0, help="print up to N misses per kind")
    ap.add_argument("--kind", default="", help="only this kind")
    args = ap.parse_args()
    rows = [r for r in load() if not args.kind or r["kind"] == args.kind]
    tallies = score(rows)
    print(f"{'kind':<22}{'field':<12}{'cases':>7}{'recall':>9}{'benign':>9}")
    for (kind, fld), t in sorted(tallies.items(), key=lambda kv: (kv[0][0], kv[0][1] != "*", kv[0][1])):
        n = t.spans or t.benign
        label = "all" if fld == "*" else fld
        print(f"{kind if fld == '*' else '':<22}{label:<12}{n:>7}{_fmt(t.recall):>9}{_fmt(t.survival):>9}")
    kinds = [t for (_, f), t in tallies.items() if f == "*"]
    recalls = [t.recall for t in kinds if t.recall is not None]
    survivals = [t.survival for t in kinds if t.survival is not None]
    if recalls:
        print(f"\nrecall (macro over kinds): {sum(recalls) / len(recalls):.3f}   goal >= {RECALL_GOAL} per kind")
    if survivals:
        print(f"benign survival (macro):   {sum(survivals) / len(survivals):.3f}   goal >= {BENIGN_GOAL} per kind")
    bad = failing(tallies)
    print("below goal: " + ("; ".join(bad) if bad else "none"))
    if args.misses:
        for (kind, fld), t in sorted(tallies.items()):
            if fld == "*" and t.misses:
                print(f"\n-- {kind}")
                for text, out in t.misses[: args.misses]:
                    print(f"   {text!r}\n-> {out!r}")


if __name__ == "__main__":
    main()
