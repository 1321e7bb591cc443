"""Fixtures shared by the exercise tests (the settings for every test are in ../conftest.py)."""

import pytest

from lmcourse.exercises import check


def _feedback(name, fn) -> str:
    """What a learner reads for a wrong answer ``fn`` to exercise ``name``, which must fail."""
    result = check(name, fn)
    assert not result.passed
    return repr(result)


@pytest.fixture
def feedback():
    """``feedback(name, fn)``: asserts that ``fn`` fails the check of ``name``, returns its text."""
    return _feedback
