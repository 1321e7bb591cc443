"""Every notebook with a ``corpus`` parameter runs on a learner's own text, not only on Shakespeare.

The text here has none of the characters the notebooks' examples use ("t", "S", "FALSTAFF:",
a line break): a learner's text in another script, on one line. A notebook that hard-codes a
character of Shakespeare's stops on it; these tests find that cell.
"""

import random
from pathlib import Path

import nbformat
import papermill
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# every notebook with a `corpus` parameter; 11 needs a smaller vocabulary (a test of its own)
CORPUS_NOTEBOOKS = [path.stem for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
                    if "corpus" in papermill.inspect_notebook(path)]  # fmt: skip
SAMPLING = {"02_ngram_counting", "03_neural_bigram_mlp", "04_rnn", "07_gpt", "08_train_gpt",
            "13_overfitting_and_regularisation"}  # they print text their models wrote  # fmt: skip
WORDS = ("собака время солнце кот лес небо река город мир дом ветер море ночь день звезда луна "
         "птица дорога λόγος θάλασσα ἥλιος").split()  # fmt: skip


@pytest.fixture(scope="module")
def own_text(tmp_path_factory) -> Path:
    """About 24,000 characters of Cyrillic and Greek sentences on one line: no Latin letter, no
    line break."""
    rng = random.Random(0)
    sentences = []
    for _ in range(700):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))
        sentences.append(words[0].upper() + words[1:] + rng.choice(".!?,"))
    path = tmp_path_factory.mktemp("corpus") / "мой текст.txt"
    path.write_text(" ".join(sentences), encoding="utf-8")
    return path


def execute(name: str, out: Path, **parameters) -> nbformat.NotebookNode:
    """Run ``notebooks/<name>.ipynb`` with ``parameters`` (the ``ci`` preset where it has one)."""
    known = papermill.inspect_notebook(NOTEBOOKS / f"{name}.ipynb")
    if "preset" in known:
        parameters["preset"] = "ci"
    if "out_dir" in known:
        parameters["out_dir"] = str(out.parent / f"{name}_runs")
    papermill.execute_notebook(NOTEBOOKS / f"{name}.ipynb", out, parameters=parameters,
                               kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False,
                               execution_timeout=600)  # fmt: skip
    return nbformat.read(out, as_version=4)


def stream_text(nb: nbformat.NotebookNode) -> str:
    return "".join(output.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for output in cell.outputs if output.output_type == "stream")  # fmt: skip


def test_the_corpus_notebooks_are_found():
    assert "08_train_gpt" in CORPUS_NOTEBOOKS and len(CORPUS_NOTEBOOKS) >= 10
    assert SAMPLING < set(CORPUS_NOTEBOOKS)


@pytest.mark.parametrize("name", [name for name in CORPUS_NOTEBOOKS if name != "11_tokenization"])
def test_a_corpus_notebook_runs_to_the_end_on_a_learners_own_text(name, own_text, tmp_path):
    nb = execute(name, tmp_path / f"{name}.ipynb", corpus=str(own_text))
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), "a cell did not run"
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    if name in SAMPLING:  # what its models wrote is in the learner's script, not Shakespeare's
        written = stream_text(nb)
        assert sum("а" <= c <= "я" for c in written) > 100 and "FALSTAFF" not in written


def test_tokenization_names_its_knob_when_the_text_is_too_short_then_runs(own_text, tmp_path):
    too_large = r"can be at most \d+ .*in this notebook: -p max_vocab_size"
    with pytest.raises(papermill.PapermillExecutionError, match=too_large):
        execute("11_tokenization", tmp_path / "too_large.ipynb", corpus=str(own_text))
    nb = execute("11_tokenization", tmp_path / "11.ipynb", corpus=str(own_text),
                 max_vocab_size=400, gpt_vocab_sizes=[300, 1024])  # fmt: skip
    text = stream_text(nb)
    assert "left out: BPE [1024], larger than the 400 tokens learned here" in text
    assert "BPE 300: 20 steps" in text and "characters: 20 steps" in text


def test_sampling_runs_on_a_model_of_another_text_and_names_a_prompt_it_cannot_read(
    own_text, tmp_path
):
    from lmcourse.presets import train_gpt

    run = tmp_path / "run"
    train_gpt("ci", corpus=str(own_text), out_dir=run, progress=False, device="cpu")
    unknown = r"prompt has characters the model never saw, \['F', 'A', 'L'"
    with pytest.raises(papermill.PapermillExecutionError, match=unknown):
        execute("09_sampling", tmp_path / "09_falstaff.ipynb", checkpoint=str(run))
    nb = execute("09_sampling", tmp_path / "09.ipynb", checkpoint=str(run), prompt="Собака ")
    assert stream_text(nb).count("Собака ") >= 3  # the samples continue the learner's prompt
