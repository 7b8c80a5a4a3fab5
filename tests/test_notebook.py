"""notebooks/triage.ipynb runs top to bottom in a kernel of this interpreter and shows its tables.

The kernel is forced to be ``sys.executable``: a private kernelspec named ``python3`` is put
first on JUPYTER_PATH, so a stale user-wide ``python3`` spec (another Python) cannot be picked.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "triage.ipynb"


def _outputs(nb, tag: str) -> list:
    cells = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert cells, f"no cell tagged {tag!r}"
    return [o for c in cells for o in c.get("outputs", [])]


def _text(outputs) -> str:
    parts = []
    for o in outputs:
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        elif "data" in o:
            parts.append(o["data"].get("text/plain", ""))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    spec_dir = tmp_path_factory.mktemp("jupyter") / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (tests)", "language": "python"}), encoding="utf-8")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(spec_dir.parents[1]))
        client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                         resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        try:
            client.execute()
        except nbclient.exceptions.CellExecutionError as exc:  # the failing cell and its traceback
            pytest.fail(f"notebook cell failed:\n{exc}")
    return nb


def test_saved_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_runs_in_this_interpreter(executed):
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    first = _text(executed.cells[1].outputs)
    assert "loganalyzer" in first and str(ROOT) in first


def test_single_bundle_tables(executed):
    assert "no-internet-access" in _text(_outputs(executed, "findings"))
    crash = _text(_outputs(executed, "crash-loop"))
    assert "exit code" in crash and "2.11.1.12" in crash
    assert "False" in _text(_outputs(executed, "dhcp"))  # the lease's has_245


def test_plots_drawn(executed):
    images = [o for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # events, crash loop, DHCP, fleet causes
    for tag in ("events-plot", "crash-loop", "dhcp", "fleet-causes"):
        assert any("image/png" in o.get("data", {}) for o in _outputs(executed, tag)), tag


def test_fleet_tables(executed):
    causes = _text(_outputs(executed, "fleet-causes"))
    rows = [ln for ln in causes.splitlines()[2:] if ln.strip()]
    assert len(rows) >= 5, causes  # a non-empty top-cause table with several causes
    assert "(none)" in causes and "no-internet-access" in causes
    assert "2.2." in _text(_outputs(executed, "by-version"))  # an outdated-agent row
    assert "critical" in _text(_outputs(executed, "worst")) or "error" in _text(_outputs(executed, "worst"))
    line = next(ln for ln in _text(_outputs(executed, "summary")).splitlines() if ln.startswith("SUMMARY "))
    summary = json.loads(line[len("SUMMARY "):])
    assert summary["bundles"] == 30 and summary["failed"] == 0
    assert summary["causes"] >= 5
    assert summary["agreement"] >= 0.9
