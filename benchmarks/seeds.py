"""Run a notebook again with other seeds and print its headline numbers, one column per seed.

    python benchmarks/seeds.py 13                      # seeds 1337, 1 and 2 (the notebook's first)
    python benchmarks/seeds.py 15 --seeds 0 1 2 3 4
    python benchmarks/seeds.py 14 --preset ci --seeds 1 2   # a quick check that it works

A notebook's committed run uses one seed. Its differences are real only where they stay put
when the seed changes (the initial weights, the batches, the examples drawn, dropout): this
script says which do. Each run is the notebook under papermill with ``-p seed S`` in a fresh
kernel (``notebooks/`` as working folder, as nbval and JupyterLab run it); after its last cell a
probe cell prints the notebook's results as JSON, from the variables it already has, so the
numbers are exactly those its own cells compute. The table gives each seed's number, then the
mean and the spread (largest minus smallest).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import nbformat
import papermill

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

#: Per notebook: the expression (in its kernel, after its last cell) that gives its headline
#: numbers as {row name: number}, and how to print them.
PROBES = {
    "13": (
        '{name: r["val_bits"] for name, r in runs.items()}',
        "validation bits per character of each run (lower is better)",
        "{:.3f}",
    ),
    "14": (
        '{f"{name}: {task}": table[task]["exact"] for name, table in results.items() '
        "for task in TASKS}",
        "answers exactly right, per model and task",
        "{:.0%}",
    ),
    "15": (
        '{"captioner: caption names the right digit": accuracy, "captioner: caption exactly '
        'right": exact, "logistic regression on the pixels": reference}',
        "validation accuracy",
        "{:.3f}",
    ),
}

_PROBE_CELL = "import json as _json\nprint(_json.dumps({{k: float(v) for k, v in ({}).items()}}))"


def notebook_path(number: str) -> Path:
    """``notebooks/NN_*.ipynb`` for ``NN``; a number without a probe is refused by name."""
    if number not in PROBES:
        raise SystemExit(f"no probe for notebook {number!r}; known: {', '.join(PROBES)}.")
    (path,) = NOTEBOOKS.glob(f"{number}_*.ipynb")
    return path


def default_seed(path: Path) -> int:
    """The seed in the notebook's parameters cell (the committed run's)."""
    parameters = papermill.inspect_notebook(str(path))
    return int(parameters["seed"]["default"])


def run_once(path: Path, number: str, seed: int, preset: str | None) -> dict[str, float]:
    """Execute the notebook with ``seed`` (and ``preset``); return the probe's numbers."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_PROBE_CELL.format(PROBES[number][0])))
    parameters = {"seed": seed} | ({"preset": preset} if preset else {})
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder, "in.ipynb"), Path(folder, "out.ipynb")
        nbformat.write(nb, source)
        papermill.execute_notebook(source, out, parameters=parameters, kernel_name="python3",
                                   cwd=str(NOTEBOOKS), progress_bar=False,
                                   execution_timeout=3600)  # fmt: skip
        probe = nbformat.read(out, as_version=4).cells[-1]
    return json.loads(
        "".join(o.get("text", "") for o in probe.outputs if o.output_type == "stream")
    )


def table(results: dict[int, dict[str, float]], shown: str) -> str:
    """A Markdown table: a row per number, a column per seed, then the mean and the spread."""
    seeds = list(results)
    names = list(results[seeds[0]])
    lines = [f"| {'run' if len(names) > 1 else ''} | " + " | ".join(f"seed {s}" for s in seeds)
             + " | mean | spread |", "|---|" + "---:|" * (len(seeds) + 2)]  # fmt: skip
    for name in names:
        values = [results[s][name] for s in seeds]
        cells = [shown.format(v) for v in values]
        cells += [shown.format(statistics.fmean(values)), shown.format(max(values) - min(values))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help=f"the notebook's number: {', '.join(PROBES)}")
    parser.add_argument("--seeds", type=int, nargs="+", help="default: the notebook's, 1 and 2")
    parser.add_argument("--preset", help="the notebook's preset (default: its own, cpu)")
    args = parser.parse_args()
    path = notebook_path(args.notebook)
    seeds = args.seeds or list(dict.fromkeys([default_seed(path), 1, 2]))
    results = {}
    for seed in seeds:
        start = time.perf_counter()
        results[seed] = run_once(path, args.notebook, seed, args.preset)
        print(f"ran {path.name} with seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
    _, what, shown = PROBES[args.notebook]
    print(f"\n{path.name}, {args.preset or 'its default'} preset: {what}\n")
    print(table(results, shown))


if __name__ == "__main__":
    main()
