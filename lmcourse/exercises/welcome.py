"""Exercises of notebook 00, "Welcome": a first look at the course's corpus.

Importing this module registers the exercise ``00.count_speeches``. The function below is the
reference solution: ``check`` compares a learner's function with it, and ``show_solution``
shows its code to whoever asks for it.
"""

from typing import Any

from lmcourse.exercises.core import Exercise, describe_difference, register

# Two speeches by HAMLET, one by HORATIO, in the corpus's layout.
HAMLET_AND_HORATIO = "HAMLET:\nTo be, or not to be.\n\nHORATIO:\nMy lord!\n\nHAMLET:\nSir."
# "KING" never speaks here: only "KING LEAR" does, twice.
KING_LEAR = (
    "KING LEAR:\nGive me the map there.\n\n"
    "GONERIL:\nSir, I love you more than words can wield the matter.\n\n"
    "KING LEAR:\nOf all these bounds, even from this line to this,\nWe make thee lady."
)
# HAMLET speaks once; a line of HORATIO's speech ends with "HAMLET:" but is no speaker line.
HAMLET_MENTIONED = (
    "HORATIO:\nHail to your lordship! Good morrow, HAMLET:\nI am your poor servant ever.\n\n"
    "HAMLET:\nSir, my good friend; I'll change that name with you."
)


# --------------------------------------------------------------------------- reference solution


def count_speeches(text: str, speaker: str) -> int:
    """The number of speeches by ``speaker`` in ``text``.

    In the corpus a speech starts with a line holding only the speaker's name and a colon,
    followed by the lines of the speech and a blank line::

        HAMLET:
        To be, or not to be: that is the question.

        HORATIO:
        My lord, I came to see your father's funeral.

    So the speeches by ``speaker`` are the lines that are exactly ``speaker + ":"``: here
    ``count_speeches(text, "HAMLET")`` is 1.
    """
    speaker_line = speaker + ":"
    return sum(1 for line in text.splitlines() if line == speaker_line)


# --------------------------------------------------------------------------- feedback


def _compare_count(expected: int, got: Any) -> str | None:
    """The default comparison, with the rule for what counts when the number is wrong."""
    difference = describe_difference(expected, got, "speeches")
    if difference is None or type(got) is not int:
        return difference
    if got > expected:
        return difference + ' (too many: count only the lines that are exactly `speaker + ":"`)'
    return difference + ' (too few: count every line that is exactly `speaker + ":"`)'


# --------------------------------------------------------------------------- cases


def _count_speeches_cases() -> list[tuple[str, str]]:
    """Hand-made texts, then the opening of the corpus (loaded only when the cases are)."""
    # Imported here: importing the exercises stays light (lmcourse.data imports torch), which
    # matters in notebook 00, the environment check.
    from lmcourse.data import load_text

    return [
        (HAMLET_AND_HORATIO, "HAMLET"),
        (HAMLET_AND_HORATIO, "OPHELIA"),  # never speaks
        (KING_LEAR, "KING"),  # a prefix of "KING LEAR"
        (KING_LEAR, "KING LEAR"),
        (HAMLET_MENTIONED, "HAMLET"),
        ("", "HAMLET"),
        (load_text("tiny-shakespeare")[:5000], "HERMIA"),
    ]


register(
    Exercise(
        name="00.count_speeches",
        prompt="Count the speeches by `speaker` in `text`. In the course's corpus each speech "
        "starts with a line holding only the speaker's name and a colon (`HAMLET:`), then the "
        "lines of the speech, then a blank line. Return the number of lines that are exactly "
        '`speaker + ":"`: a name inside a speech does not count, nor does a longer name '
        '(`KING LEAR:` is not a speech by `"KING"`).',
        solution=count_speeches,
        cases=_count_speeches_cases,
        noun="speeches",
        compare=_compare_count,
    )
)
