"""Notebooks run under papermill with other parameters, as the README shows."""

from pathlib import Path

import nbformat
import papermill

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def stream_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )


def test_text_as_data_runs_on_a_users_own_file(tmp_path):
    poem = "Ἀρχὴ καὶ τέλος.\nThe quick brown fox: jumps over the lazy dog!\n日本語のテキスト。\n"
    corpus = tmp_path / "my poem.txt"
    corpus.write_text(poem * 40, encoding="utf-8")
    out = tmp_path / "01_out.ipynb"
    papermill.execute_notebook(
        NOTEBOOKS / "01_text_as_data.ipynb",
        out,
        parameters={"corpus": str(corpus), "block_size": 4},
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        execution_timeout=600,
    )
    text = stream_text(out)
    assert f"this notebook's corpus ({str(corpus)!r}): {len(poem) * 40:,} characters" in text
    assert f"{len(set(poem))} distinct characters:" in text
    assert "x: (4, 4) y: (4, 4)" in text


def test_a_missing_file_stops_the_run_with_a_clear_message(tmp_path):
    missing = tmp_path / "nowhere.txt"
    try:
        papermill.execute_notebook(
            NOTEBOOKS / "01_text_as_data.ipynb",
            tmp_path / "out.ipynb",
            parameters={"corpus": str(missing)},
            kernel_name="python3",
            cwd=str(NOTEBOOKS),
            progress_bar=False,
            execution_timeout=600,
        )
    except papermill.PapermillExecutionError as err:
        assert err.ename == "FileNotFoundError"
        assert "nowhere.txt" in err.evalue
    else:
        raise AssertionError("the notebook ran on a file that does not exist")
