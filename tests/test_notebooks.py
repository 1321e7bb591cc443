"""Static checks of the committed notebooks (nbval executes them; see pyproject.toml).

A committed notebook must be what one clean run from top to bottom produced, so that readers
on GitHub see real outputs and CI's execution compares against them.
"""

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


@pytest.fixture(params=NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def notebook(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_the_course_has_its_first_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert "00_welcome.ipynb" in names and "01_text_as_data.ipynb" in names


def test_name_is_numbered(notebook):
    path, _ = notebook
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), path.name


def test_valid_and_python3_kernel(notebook):
    _, nb = notebook
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_no_error_outputs(notebook):
    _, nb = notebook
    for cell in code_cells(nb):
        for output in cell.outputs:
            assert output.output_type != "error", f"{output.ename}: {output.evalue}"
            assert "Traceback (most recent call last)" not in output.get("text", "")
            assert "Error displaying widget" not in str(output.get("data", ""))


def test_no_warnings_in_outputs(notebook):
    # a warning in a committed output is noise for the reader, or a problem nobody looked at
    _, nb = notebook
    for cell in code_cells(nb):
        for output in cell.outputs:
            text = output.get("text", "") if output.output_type == "stream" else ""
            assert not re.search(r"\w+Warning: ", text), text[:300]


def test_every_cell_has_its_own_id(notebook):
    # nbformat 4.5 wants an id per cell: without one, papermill (lmcourse run) and nbformat
    # print a MissingIDFieldWarning (read as JSON: nbformat.read would add ids silently)
    path, _ = notebook
    import json

    ids = [cell.get("id") for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]]
    assert None not in ids and len(set(ids)) == len(ids)


def test_executed_top_to_bottom_in_one_run(notebook):
    _, nb = notebook
    counts = [cell.execution_count for cell in code_cells(nb)]
    assert counts == list(range(1, len(counts) + 1)), counts


def test_first_code_cell_sets_up_the_course(notebook):
    _, nb = notebook
    first = code_cells(nb)[0].source
    assert "from lmcourse" in first
    assert "gen = seed_everything(" in first and "device = get_device(" in first


def test_no_path_hacks(notebook):
    _, nb = notebook
    for cell in code_cells(nb):
        assert "sys.path" not in cell.source, "install the package (pip install -e .) instead"


def test_parameters_cell_is_typed_and_commented(notebook):
    _, nb = notebook
    tagged = [c for c in code_cells(nb) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) <= 1
    for cell in tagged:
        for line in cell.source.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                assert re.fullmatch(r"\w+: [\w\[\], |]+ = .+  # .+", line), line


def test_ends_with_summary_and_checked_exercises(notebook):
    _, nb = notebook
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "## Summary" in markdown and re.search(r"^## Exercises?$", markdown, re.M)
    assert any('check("' in c.source for c in code_cells(nb))


def test_cells_that_check_output_have_output(notebook):
    _, nb = notebook
    for cell in code_cells(nb):
        if "# NBVAL_CHECK_OUTPUT" in cell.source:
            assert cell.outputs, cell.source[:80]


def _package_names() -> dict:
    """Every module of lmcourse by its short name, and every object defined in one by its name."""
    import importlib
    import pkgutil

    import lmcourse

    names = {}
    for info in pkgutil.iter_modules(lmcourse.__path__):
        if not info.name.startswith("_"):  # not __main__: importing it would run the CLI
            names[info.name] = module = importlib.import_module(f"lmcourse.{info.name}")
            for key, value in vars(module).items():
                if str(getattr(value, "__module__", "")).startswith("lmcourse"):
                    names.setdefault(key, value)
    return names


def test_shown_source_is_the_current_source(notebook):
    # show_source prints the package's real code; a notebook not re-run after that code changed
    # would show the reader an old version (it happened: notebook 09 showed a choose_next
    # without tempered)
    from lmcourse.utils import show_source

    path, nb = notebook
    names = _package_names()
    cells = [c for c in code_cells(nb) if "show_source(" in c.source]
    for cell in cells:
        last = cell.source.strip().splitlines()[-1]
        call = re.fullmatch(r"show_source\(([\w.]+)\)", last)
        assert call and cell.source.count("show_source(") == 1, f"{path.name}: {cell.source!r}"
        head, *attributes = call[1].split(".")
        obj = names[head]
        for attribute in attributes:
            obj = getattr(obj, attribute)
        (shown,) = [o.data["text/plain"] for o in cell.outputs if o.output_type == "execute_result"]
        assert shown.rstrip("\n") == show_source(obj).text.rstrip("\n"), (
            f"{path.name} shows an old version of {call[1]}: re-run it "
            f"(python benchmarks/notebooks.py {path.name[:2]} --save)"
        )
