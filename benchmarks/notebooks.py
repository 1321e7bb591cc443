"""Execute the course notebooks top to bottom and measure each one's time and peak memory.

    python benchmarks/notebooks.py                 # every notebook, print a table
    python benchmarks/notebooks.py 01 --save       # run notebook 01 and commit-ready save it

Each notebook runs in a fresh ``python3`` kernel with ``notebooks/`` as working directory, as
nbval and JupyterLab run it. Peak memory is the kernel process's maximum resident set size
(``ru_maxrss``, read in the kernel after the last cell), plus its children's, which is what
Binder's 2 GB limit applies to. ``--save`` writes the executed notebook back, so the committed
outputs are exactly those of the measured run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
BINDER_LIMIT_MB = 2048

_PEAK_MEMORY_CELL = """\
import json as _json, resource as _resource
print(_json.dumps({
    "self_mb": _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss / 1024,
    "children_mb": _resource.getrusage(_resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))"""


def execute(path: Path, timeout: int = 1800) -> tuple[nbformat.NotebookNode, float, float]:
    """Run one notebook; return it executed (without the probe cell), seconds and peak MB."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for cell in nb.cells:  # start clean: no stale outputs or counts survive a failed cell
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells.append(nbformat.v4.new_code_cell(_PEAK_MEMORY_CELL))
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    probe = nb.cells.pop()
    memory = json.loads(probe.outputs[0]["text"])
    return nb, seconds, memory["self_mb"] + memory["children_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="notebook numbers or names (default: all)")
    parser.add_argument("--save", action="store_true", help="write the executed notebooks back")
    args = parser.parse_args()
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        paths = [p for p in paths if any(p.name.startswith(o) for o in args.only)]
    rows = []
    for path in paths:
        nb, seconds, peak_mb = execute(path)
        if args.save:
            nbformat.write(nb, path)
        rows.append((path.name, seconds, peak_mb))
        print(f"ran {path.name}: {seconds:.1f} s, peak {peak_mb:.0f} MB", flush=True)
    print(
        f"\n| notebook | wall time (s) | peak memory (MB) | under Binder's {BINDER_LIMIT_MB} MB |"
    )
    print("|---|---:|---:|---|")
    for name, seconds, peak_mb in rows:
        fits = "yes" if peak_mb < BINDER_LIMIT_MB else "NO"
        print(f"| {name} | {seconds:.1f} | {peak_mb:.0f} | {fits} |")


if __name__ == "__main__":
    main()
