"""Tests of lmcourse.leaderboard: reading the README's leaderboard and its Pareto front."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmcourse.leaderboard import (
    Entry,
    family,
    pareto_front,
    parse_leaderboard,
    read_leaderboard,
    short_name,
)

README = Path(__file__).resolve().parents[1] / "README.md"

HEADER = (
    "## Leaderboard\n\n| model | bits per character | parameters | training time (2-core CPU) "
    "| scored in windows of | produced by |\n|---|---:|---:|---:|---:|---|\n"
)


def test_every_row_of_the_readme_is_read_with_its_numbers():
    entries = read_leaderboard()
    text = README.read_text(encoding="utf-8").split("## Leaderboard", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in text.splitlines() if line.startswith("|")][2:]
    assert len(entries) == len(rows) >= 13
    for entry, row in zip(entries, rows):
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert entry.model == cells[0] and f"{entry.bits:.3f}" == cells[1].strip("*")
        assert f"{entry.size:,}" in cells[2] and entry.time == cells[3]
    assert read_leaderboard(README) == entries
    best = min(entries, key=lambda e: e.bits)
    assert "shakespeare-char" in best.produced_by  # the shipped model: the bold row


def test_families_follow_the_course():
    assert family("uniform over the 70 characters") == "counting"
    assert family("character 6-gram, Kneser-Ney (d = 0.75)") == "counting"
    assert family("neural bigram (a V×V table learned by gradient descent)") == "feed-forward"
    assert family("LSTM, 128 hidden units") == "recurrent"
    assert family("GPT, 4 layers, over byte-level BPE tokens") == "transformer"
    assert {e.family for e in read_leaderboard()} == {
        "counting", "feed-forward", "recurrent", "transformer"
    }  # fmt: skip
    assert family("character trigram, Kneser-Ney") == "counting"
    assert family("a bigger LSTM") == "recurrent"
    with pytest.raises(ValueError, match="names no known family"):
        family("a decision tree")


def test_sizes_and_times_are_read_with_their_units():
    table = HEADER + (
        "| a 3-gram | 2.500 | 1,234 counts | < 1 s (counting) | the whole text | nb 02 |\n"
        "| GPT big | **2.000** | 1,000,000 | 27 min | 128 (its context) | a command |\n"
        "| uniform | 6.129 | 0 | none | none needed | nb 01 |\n"
    )
    other = "\nAnother table, not the leaderboard:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    small, big, uniform = parse_leaderboard("# Title\n\n" + table + other + "\n## Next\n| x |")
    assert (small.size, small.size_unit, small.seconds) == (1234, "counts", None)  # a bound
    assert (big.bits, big.size, big.size_unit, big.seconds) == (2.0, 1_000_000, "parameters", 1620)
    assert uniform.seconds is None and uniform.family == "counting"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# no table here\n", "no '## Leaderboard' section"),
        ("## Leaderboard\n\nSoon.\n", "no table with rows"),
        ("## Leaderboard\n| a | b |\n|---|---|\n| 1 | 2 |\n", "the leaderboard's columns must be"),
        (
            HEADER.replace("|---|---:|", "| x |---:|") + "| m | 2.0 | 10 | 1 s | 64 | nb |\n",
            r"second line must be its \|---\| rule",
        ),
        (HEADER + "| m | 2.0 | 10 | 1 s |\n", "row 1 has 4 cells, not 6"),
        (HEADER + "| m | two | 10 | 1 s | 64 | nb |\n", r"row 1 \(m\): bits 'two'"),
        (HEADER + "| m | 2.0 | ten | 1 s | 64 | nb |\n", r"size 'ten' must be numbers"),
        (HEADER + "| m | -1 | 10 | 1 s | 64 | nb |\n", "bits must be >= 0"),
        (HEADER + "| m | 2.0 | 10 | an hour | 64 | nb |\n", "cannot read the training time"),
    ],
)
def test_a_malformed_leaderboard_is_named(text, message):
    with pytest.raises(ValueError, match=message):
        parse_leaderboard(text)


def test_a_missing_readme_says_where_the_leaderboard_is(tmp_path):
    with pytest.raises(FileNotFoundError, match="README.md. Pass its path"):
        read_leaderboard(tmp_path / "README.md")


def test_without_a_path_the_readme_is_found_from_a_copy_of_the_notebooks(tmp_path, monkeypatch):
    # JupyterLab on a copy of notebooks/ (tests/test_browser.py does that): the package's own
    # folder still leads to the README of the clone it was installed from
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert read_leaderboard() == read_leaderboard(README)


def _entry(name, size, bits):
    return Entry(name, bits, size, "parameters", None, "none", "64", "nb")


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=12))
def test_the_pareto_front_is_what_no_other_model_beats(points):
    entries = [_entry(f"m{i}", size, bits / 2) for i, (size, bits) in enumerate(points)]
    front = pareto_front(entries)

    def beaten(e):  # written the other way round: some model is no worse on both, and not equal
        return any(
            (o.size, o.bits) != (e.size, e.bits) and o.size <= e.size and o.bits <= e.bits
            for o in entries
        )

    assert {e.model for e in front} == {e.model for e in entries if not beaten(e)}
    assert [e.size for e in front] == sorted(e.size for e in front)
    assert [e.bits for e in front] == sorted((e.bits for e in front), reverse=True)


def test_the_front_of_the_readme_starts_at_the_uniform_model_and_ends_at_the_best():
    entries = read_leaderboard()
    front = pareto_front(entries)
    assert front[0].size == min(e.size for e in entries)
    assert front[-1].bits == min(e.bits for e in entries)


def test_short_names_keep_the_gpt_rows_apart():
    names = [short_name(e.model) for e in read_leaderboard()]
    gpts = [name for name in names if name.startswith("GPT")]
    assert gpts == ["GPT (cpu)", "GPT (cpu, BPE)", "GPT (ship)"]
    assert short_name("LSTM, 128 hidden units") == "LSTM"
    rnns = [name for name in names if "RNN" in name]
    assert rnns == ["vanilla RNN (lr 1e-2)", "vanilla RNN (lr 3e-3)"]
    assert short_name("unigram (character frequencies, add-one)") == "unigram"
