"""Checked exercises for the course's notebooks.

A notebook asks for a function, the learner writes it, and ``check`` says what is right::

    from lmcourse.exercises import check, describe

    describe("01.encode")       # the task and one example
    check("01.encode", encode)  # ✓ 01.encode: all 7 cases pass.

See ``lmcourse.exercises.core`` for how feedback is shown and what it never reveals, and
``lmcourse.exercises.difference`` for how an expected and a returned value are compared.
"""

from lmcourse.exercises import (
    answer_scores,  # registers an exercise of notebook 14
    applications,  # registers the exercises of notebook 14
    attention,  # registers the exercises of notebook 06
    counting,  # registers the exercises of notebook 02
    decoding,  # registers the exercises of notebook 09
    gates,  # registers the exercises of notebook 05
    gpt_bugs,  # registers the exercises of notebook 07
    gradients,  # registers the exercises of notebook 03
    inside,  # registers the exercises of notebook 10
    leaderboard,  # registers the exercises of notebook 16
    multimodal,  # registers the exercises of notebook 15
    recurrence,  # registers the exercises of notebook 04
    regularization,  # registers the exercises of notebook 13
    scale,  # registers the exercises of notebook 12
    text_as_data,  # registers the exercises of notebook 01
    tokenization,  # registers the exercises of notebook 11
    training,  # registers the exercises of notebook 08
    welcome,  # registers the exercise of notebook 00
)
from lmcourse.exercises.core import (
    CheckResult,
    Exercise,
    Text,
    check,
    describe,
    describe_difference,
    get,
    names,
    register,
    show_solution,
)

__all__ = [
    "CheckResult",
    "Exercise",
    "Text",
    "answer_scores",
    "applications",
    "attention",
    "check",
    "counting",
    "decoding",
    "describe",
    "describe_difference",
    "gates",
    "gpt_bugs",
    "get",
    "gradients",
    "inside",
    "leaderboard",
    "multimodal",
    "names",
    "recurrence",
    "regularization",
    "register",
    "scale",
    "show_solution",
    "text_as_data",
    "tokenization",
    "training",
    "welcome",
]
