"""Fixtures shared by the exercise tests (the settings for every test are in ../conftest.py)."""

import inspect

import pytest

from lmcourse.exercises import check, describe, get


def _feedback(name, fn) -> str:
    """What a learner reads for a wrong answer ``fn`` to exercise ``name``, which must fail."""
    result = check(name, fn)
    assert not result.passed
    return repr(result)


@pytest.fixture
def feedback():
    """``feedback(name, fn)``: asserts that ``fn`` fails the check of ``name``, returns its text."""
    return _feedback


def _stub(*args):
    raise NotImplementedError


def _ellipsis_body(*args): ...


def _solution_hidden(name, wrong_answers) -> None:
    """No line of the solution's body shows in what ``check`` says to any of these answers."""
    source = inspect.getsource(get(name).solution).split('"""')[-1]  # the body, no docstring
    lines = [line.strip() for line in source.splitlines() if len(line.strip()) > 15]
    shown = "".join(repr(check(name, fn)) for fn in [*wrong_answers, _stub, _ellipsis_body])
    shown += describe(name)
    assert lines and not any(line in shown for line in lines), name


@pytest.fixture
def solution_hidden():
    """``solution_hidden(name, wrong_answers)``: the feedback never shows the solution's code."""
    return _solution_hidden


@pytest.fixture
def agg_backend():
    """matplotlib draws in memory (no display in tests); every figure is closed afterwards."""
    import matplotlib.pyplot as plt

    plt.switch_backend("Agg")
    yield
    plt.close("all")
