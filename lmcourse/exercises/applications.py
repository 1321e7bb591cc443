"""Exercises of notebook 14, "Applications".

Importing this module registers ``14.answer_targets`` and ``14.who_said``: the inputs and
targets of one training row of a task written as text (the prompt's targets are -100, so only
the answer and its END token are scored), and the rule that answers the harder question task
"WHO SAID <word>?". The reference solutions work on plain Python ints and strings, so importing them
imports neither torch nor ``lmcourse.applications`` (the tests compare them with
``lmcourse.applications``'s ``encode_examples`` and ``question_examples``). The exercise that
scores the answers, ``14.edit_distance``, is in ``lmcourse.exercises.answer_scores``.
"""

import random
import re
from typing import Any

from lmcourse.exercises.core import Exercise, register
from lmcourse.exercises.difference import _a, _kind, _short, describe_difference
from lmcourse.exercises.slips import slip_hint

#: A target that ``F.cross_entropy`` skips (its ``ignore_index``), as ``lmcourse.lm.IGNORE``.
IGNORE = -100

#: A word, with its inner or leading apostrophe (kill'd, 'tis), as ``applications.WORD``.
_WORD = re.compile(r"'?[A-Za-z]+(?:'[A-Za-z]+)*")

# --------------------------------------------------------------------------- reference solutions


def answer_targets(
    prompt_ids: list[int], answer_ids: list[int], end_id: int
) -> tuple[list[int], list[int]]:
    """The inputs and targets of one training row: only the answer and END are scored.

    The row's text is ``prompt + answer + END``, ids ``t_0 .. t_n``; the inputs are
    ``t_0 .. t_(n-1)`` and the targets ``t_1 .. t_n``, the inputs shifted by one. Position t's
    target is the token after it, so the targets of the first ``len(prompt) − 1`` positions
    are prompt tokens: those are ``IGNORE``. The last prompt position predicts the first answer
    token, which is scored. Prompt 5 2 7, answer 3 4, END 0::

        >>> answer_targets([5, 2, 7], [3, 4], 0)
        ([5, 2, 7, 3, 4], [-100, -100, 3, 4, 0])
    """
    ids = prompt_ids + answer_ids + [end_id]
    inputs, targets = ids[:-1], ids[1:]
    in_prompt = len(prompt_ids) - 1  # targets 0 .. in_prompt − 1 are the prompt's own tokens
    return inputs, [IGNORE] * in_prompt + targets[in_prompt:]


def who_said(first: tuple[str, str], second: tuple[str, str], word: str) -> str:
    """The answer to "WHO SAID <word>?": the speaker of the line in which ``word`` is a word.

    ``first`` and ``second`` are (speaker, line) pairs; ``word`` is a word of exactly one of
    the lines. A line's words are what ``applications.WORD`` finds: runs of letters, with an
    apostrophe inside (kill'd) or in front ('tis) belonging to the word; they match exactly,
    capitals and all, so "heir" is not a word of "their"::

        >>> who_said(("ROMEO", "Is she a Capulet?"),
        ...          ("Nurse", "The son and heir of old Tiberio."), "heir")
        'Nurse'
    """
    (speaker, line), (other, _) = first, second
    return speaker if word in _WORD.findall(line) else other


# --------------------------------------------------------------------------- feedback
# ``check`` calls ``compare(expected, got)``; the hints also need the case's inputs, so each
# compare tries the cases whose reference output is ``expected`` (every case has its own) and
# names the classic slips that return what the learner's function returned (all of them, when
# two slips coincide).


def _masked(ids: list[int], n: int, fill: int = IGNORE) -> list[int]:
    """``ids`` with its first ``n`` (at least 0) ids replaced by ``fill``."""
    n = max(n, 0)
    return [fill] * min(n, len(ids)) + ids[n:]


def _targets_slips(prompt: list[int], answer: list[int], end: int) -> list[tuple[str, Any]]:
    ids, n = prompt + answer + [end], len(prompt)
    inputs, targets = ids[:-1], ids[1:]
    no_end = prompt + answer
    shift = "the targets are the inputs shifted by one: position t's target is the token after it"
    first = "the first answer token must be scored: it is the target of the last prompt position"
    inside = "every target inside the prompt is -100: the prompt's last token is one of them"
    end_hint = (
        "the text is prompt + answer + [end_id]: the last answer token's target is end_id, "
        "so that the model learns where its answer stops"
    )
    read = "mask the targets, not the inputs: the model reads the whole prompt"
    return [
        (shift, (inputs, _masked(inputs, n))),
        (shift, (inputs, _masked(inputs, n - 1))),
        (shift, (ids, _masked(ids, n))),
        (shift, (ids, _masked(ids, n - 1))),
        (first, (inputs, _masked(targets, n))),
        (inside, (inputs, _masked(targets, n - 2))),
        ("the prompt's targets are not scored: set them to -100", (inputs, targets)),
        (end_hint, (no_end[:-1], _masked(no_end[1:], n - 1))),
        (end_hint, (no_end[:-1], _masked(no_end[1:], n))),
        (
            "a target that is not scored is -100 (F.cross_entropy's ignore_index): 0 is a "
            "token id like any other, and would be scored",
            (inputs, _masked(targets, n - 1, fill=0)),
        ),
        (read, (_masked(inputs, n - 1), targets)),
        (read, (_masked(inputs, n), targets)),
        (read, (_masked(inputs, n - 1), _masked(targets, n - 1))),
        ("return (inputs, targets), in that order", (_masked(targets, n - 1), inputs)),
        (
            "score the answer and end_id, not the prompt: -100 goes on the prompt's targets",
            (inputs, targets[: max(n - 1, 0)] + [IGNORE] * (len(answer) + 1)),
        ),
    ]


def _same_rows(a: Any, b: Any) -> bool:
    return describe_difference(a, b, "ids") is None  # a list for the tuple, numpy ints for ints


def _compare_targets(expected: tuple[list[int], list[int]], got: Any) -> str | None:
    """Both lists exactly (tuples are fine); else which one differs, how, and the slip."""
    if _same_rows(expected, got):
        return None
    parts = got if isinstance(got, list | tuple) else [got]
    arrays = [x for x in parts if _kind(x) in ("tensor", "numpy array")]
    if arrays:
        return f"expected lists of ids, got {_a(arrays[0])} (return lists of ints: x.tolist())"
    if not isinstance(got, list | tuple) or len(got) != 2:
        difference = describe_difference(expected, got, "lists") or "a different value"
        return f"{difference} (return two lists of ids, (inputs, targets))"
    differences = [
        f"{part}: {difference}"
        for part, e, g in (("inputs", expected[0], got[0]), ("targets", expected[1], got[1]))
        if (difference := describe_difference(e, g, "ids")) is not None
    ]
    hint = slip_hint(_SOLUTIONS, "14.answer_targets", expected, tuple(got), _same_rows) or (
        "the inputs are every id but the last of prompt + answer + [end_id], the targets every "
        "id but the first, with -100 for each target that is a prompt token"
    )
    return f"{'; '.join(differences)} ({hint})"


def _said_slips(
    first: tuple[str, str], second: tuple[str, str], word: str
) -> list[tuple[str, str]]:
    (s1, l1), (s2, l2) = first, second

    def by(contains):  # a learner checks one line, and answers the other speaker if not there
        return [s1 if contains(l1) else s2, s2 if contains(l2) else s1]

    def lower(line: str) -> bool:
        return word.lower() in [w.lower() for w in _WORD.findall(line)]

    slips = [
        (
            "match whole words, not pieces of them: a word is not in a line because its "
            "letters are inside another word",
            by(lambda line: word in line),
        ),
        (
            "splitting a line at its spaces leaves the punctuation stuck to the words: strip "
            "it off, or find the runs of letters",
            by(lambda line: word in line.split()),
        ),
        (
            "words match exactly, capitals and all, as in the task's rule: a capitalised word "
            "and the same word in lower case are two different words",
            by(lower),
        ),
        (
            "an apostrophe inside a word belongs to it: kill'd is one word, not kill and d",
            by(lambda line: word in re.findall(r"[A-Za-z]+", line)),
        ),
    ]
    line = l1 if who_said(first, second, word) == s1 else l2
    return [(hint, value) for hint, values in slips for value in values] + [
        ("return the speaker's name, not the line", line),
        ("return the speaker's name, not the line", f"{s1 if line == l1 else s2}: {line}"),
    ]


def _compare_speaker(expected: str, got: Any) -> str | None:
    """The name exactly; else what differs, and the slip."""
    if got == expected:
        return None
    if isinstance(got, list | tuple):
        return f"expected a str, got {_a(got)} (return the speaker's name alone, not a pair)"
    if not isinstance(got, str):
        return f"expected a str, got {_a(got)} (return the speaker's name)"
    shown = f"expected {expected!r}, got {_short(got)}"
    if got.strip().rstrip(":").strip() == expected:
        return f"{shown} (the name as it is given, with no colon nor spaces around it)"
    if got.lower() == expected.lower():
        return f"{shown} (the name as it is given, capitals and all)"
    hint = slip_hint(_SOLUTIONS, "14.who_said", expected, got, str.__eq__) or (
        "split each line into its words, then answer the speaker of the line that has `word` "
        "among them"
    )
    return f"{shown} ({hint})"


# --------------------------------------------------------------------------- cases


def _char_ids(prompt: str, answer: str) -> tuple[list[int], list[int], int]:
    """``prompt``, ``answer`` and END's ids under ``CharTokenizer.from_text`` of their text:
    an id is the place of the character among the text's distinct characters, sorted."""
    text = prompt + answer + "\n"
    stoi = {char: i for i, char in enumerate(sorted(set(text)))}
    return [stoi[c] for c in prompt], [stoi[c] for c in answer], stoi["\n"]


#: (prompt, answer) of each task, as ``lmcourse.applications`` writes them.
TASK_TEXTS = [
    ("OLD:\nThou art mad.\nNEW:\n", "You are mad."),
    ("LINE:\nNow, fair Hippolyta,\nGIST:\n", "fair Hippolyta"),
    ("ROMEO: Is she a Capulet?\nNurse: The son and heir of old Tiberio.\nWHO SAID heir?\n",
     "Nurse"),
]  # fmt: skip


def _target_cases() -> list[tuple[list[int], list[int], int]]:
    cases = [
        ([5, 2, 7], [3, 4], 0),
        ([4], [2, 9], 1),  # a prompt of one token: no target is in the prompt
        ([3, 1, 4, 1], [], 5),  # an empty answer: only END is scored
        ([6, 6], [6], 6),  # the same id everywhere: only its place tells prompt from answer
        *(_char_ids(prompt, answer) for prompt, answer in TASK_TEXTS),
    ]
    rng = random.Random(14)
    for vocab_size, longest in [(10, 6), (65, 12), (70, 40), (50257, 8), (30, 3)]:
        prompt = [rng.randrange(vocab_size) for _ in range(rng.randint(1, longest))]
        answer = [rng.randrange(vocab_size) for _ in range(rng.randint(0, longest))]
        cases.append((prompt, answer, rng.randrange(vocab_size)))
    return cases


#: (speaker, line) pairs the random questions are drawn from.
SPEECHES = [
    ("ROMEO", "But soft! What light through yonder window breaks?"),
    ("FRIAR LAURENCE", "Wisely and slow; they stumble that run fast."),
    ("POLONIUS", "Neither a borrower nor a lender be."),
    ("KING LEAR", "Nothing will come of nothing: speak again."),
    ("CORDELIA", "I cannot heave my heart into my mouth."),
    ("MACBETH", "Is this a dagger which I see before me?"),
    ("LADY MACBETH", "Out, damned spot! out, I say!"),
    ("SHYLOCK", "If you prick us, do we not bleed?"),
    ("PUCK", "Lord, what fools these mortals be!"),
    ("BRUTUS", "Not that I loved Caesar less, but that I loved Rome more."),
    ("CASSIUS", "The fault, dear Brutus, is not in our stars."),
    ("OTHELLO", "It is the cause, it is the cause, my soul."),
    ("PROSPERO", "We are such stuff as dreams are made on."),
    ("MIRANDA", "O brave new world, that has such people in't!"),
    ("ROSALIND", "All the world's a stage."),
    ("JAQUES", "And all the men and women merely players."),
    ("HELENA", "Love looks not with the eyes, but with the mind."),
    ("GLOUCESTER", "As flies to wanton boys are we to the gods."),
    ("KING HENRY V", "Once more unto the breach, dear friends, once more."),
    ("VIOLA", "I am not that I play."),
]


def _said_cases() -> list[tuple[tuple[str, str], tuple[str, str], str]]:
    cases = [
        (("ROMEO", "Is she a Capulet?"), ("Nurse", "The son and heir of old Tiberio."), "heir"),
        (("BENVOLIO", "I do but keep the peace: put up thy sword."),
         ("TYBALT", "What, drawn, and talk of peace! I hate the word"), "word"),  # in "sword"
        (("MERCUTIO", "A plague o' both your houses!"), ("ROMEO", "I thought all for the best."),
         "houses"),  # houses!
        (("LADY CAPULET", "Come, daughter, I must speak with you."),
         ("JULIET", "Now, madam, I come to you."), "come"),  # not Come
        (("PORTIA", "The quality of mercy is not strain'd."),
         ("BASSANIO", "Do not strain the law for me."), "strain"),  # not strain'd
        (("HAMLET", "To be, or not to be: that is the question."),
         ("OPHELIA", "O, what a noble mind is here o'erthrown!"), "that"),
    ]  # fmt: skip
    answered = {who_said(*case) for case in cases}
    rng = random.Random(14)
    while len(cases) < 14:  # every case its own answer, so a wrong one finds its case again
        first, second = rng.sample(SPEECHES, 2)
        words = [{w for w in _WORD.findall(line) if len(w) >= 4 and w.isalpha()}
                 for _, line in (first, second)]  # fmt: skip
        only = sorted(words[0] ^ words[1])  # the words that the question may ask about
        if only:
            case = (first, second, rng.choice(only))
            if who_said(*case) not in answered:
                answered.add(who_said(*case))
                cases.append(case)
    return cases


_SOLUTIONS = {
    "14.answer_targets": (answer_targets, _target_cases, _targets_slips),
    "14.who_said": (who_said, _said_cases, _said_slips),
}

register(
    Exercise(
        name="14.answer_targets",
        prompt="One training row of a task written as text. The row's text is the prompt, then "
        "the answer, then the END token: ids `prompt_ids + answer_ids + [end_id]`. Return "
        "(inputs, targets), two lists of ids: the inputs are every id of the text but the last, "
        "the targets every id but the first (position t's target is the token after it), with "
        "each target that is still a prompt token replaced by -100, which the loss skips, so "
        "that only the answer and END are scored. No padding.",
        solution=answer_targets,
        cases=_target_cases,
        noun="lists",
        compare=_compare_targets,
    )
)
register(
    Exercise(
        name="14.who_said",
        prompt="The harder question task (`lmcourse.applications.question_examples`) shows "
        "two speeches, `first` and `second`, each a (speaker, "
        "line) pair, and asks WHO SAID `word`?; `word` is a word of exactly one of the two "
        "lines. Return the name of the speaker whose line it is. A line's words are its runs "
        "of letters, with an apostrophe inside a word (kill'd) or in front of it ('tis) "
        "belonging to the word, as `lmcourse.applications.WORD` finds them; a word matches "
        "only itself, capitals and all.",
        solution=who_said,
        cases=_said_cases,
        noun="characters",
        compare=_compare_speaker,
    )
)
