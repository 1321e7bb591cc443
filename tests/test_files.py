"""Tests of lmcourse.files: atomic writes."""

import os

import pytest

from lmcourse.files import write_text_atomically


def test_writes_text_and_creates_folders(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    write_text_atomically(target, "Ἀρχὴ 🙂\nline two\n")
    assert target.read_text(encoding="utf-8") == "Ἀρχὴ 🙂\nline two\n"
    assert os.listdir(target.parent) == ["out.txt"]  # no temporary file left behind


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("precious", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomically(target, "half written \ud800 then a lone surrogate")
    assert target.read_text(encoding="utf-8") == "precious"
    assert os.listdir(tmp_path) == ["keep.txt"]
