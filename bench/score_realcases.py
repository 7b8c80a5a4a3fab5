"""Development score: run the classifier over ../shared/realcases and compare with LABELS.tsv.

    python bench/score_realcases.py [--verbose] [REALCASES_DIR]

Prints top-1 and top-3 accuracy over the `cause` excerpts, the benign false-alarm count (benign
excerpts with a finding of severity warning or above) and how `either` excerpts fared.
"""
from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loganalyzer import analyze  # noqa: E402
from loganalyzer.model import severity_rank  # noqa: E402


@dataclass
class Case:
    name: str
    kind: str
    accept: set[str]
    got: list[tuple[str, str, float]]

    @property
    def top1(self) -> bool:
        return bool(self.got) and self.got[0][0] in self.accept

    @property
    def top3(self) -> bool:
        return any(c in self.accept for c, _, _ in self.got[:3])

    @property
    def alarm(self) -> bool:
        return any(severity_rank(s) >= severity_rank("warning") for _, s, _ in self.got)


def score(directory: Path) -> dict:
    cases: list[Case] = []
    with open(directory / "LABELS.tsv", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            report = analyze(directory / f"{row['case']}.log")
            got = [(f.cause, f.severity, f.confidence) for f in report.findings]
            accept = {a for a in row["accept"].split(",") if a}
            cases.append(Case(row["case"], row["kind"], accept, got))
    causal = [c for c in cases if c.kind == "cause"]
    benign = [c for c in cases if c.kind == "benign"]
    either = [c for c in cases if c.kind == "either"]
    return {
        "cases": cases,
        "n_cause": len(causal),
        "top1": sum(c.top1 for c in causal) / max(1, len(causal)),
        "top3": sum(c.top3 for c in causal) / max(1, len(causal)),
        "benign_alarms": sum(c.alarm for c in benign),
        "n_benign": len(benign),
        "either_ok": sum((c.top3 or not c.alarm) for c in either),
        "n_either": len(either),
    }


def main(argv: list[str]) -> int:
    verbose = "--verbose" in argv or "-v" in argv
    args = [a for a in argv if not a.startswith("-")]
    directory = Path(args[0]) if args else ROOT.parent / "shared" / "realcases"
    if not (directory / "LABELS.tsv").is_file():
        print(f"no LABELS.tsv in {directory}", file=sys.stderr)
        return 2
    s = score(directory)
    if verbose:
        for c in s["cases"]:
            mark = "ok " if (c.top1 if c.kind == "cause" else not c.alarm if c.kind == "benign" else (c.top3 or not c.alarm)) else "XX "
            got = ", ".join(f"{cause}({sev[0]},{conf:.2f})" for cause, sev, conf in c.got[:4]) or "-"
            print(f"{mark}{c.name} [{c.kind}] want {','.join(sorted(c.accept)) or '-'} got {got}")
    print(f"cause excerpts: {s['n_cause']}  top-1 {s['top1']:.1%}  top-3 {s['top3']:.1%}")
    print(f"benign excerpts: {s['n_benign']}  false alarms (warning+): {s['benign_alarms']}")
    print(f"either excerpts: {s['n_either']}  acceptable: {s['either_ok']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
