"""Exercise of notebook 14, "Applications": the score of an answer.

Importing this module registers ``14.edit_distance``: the Levenshtein distance behind the
character error rate that scores the answers. The reference solution works on plain Python
strings, so importing it imports neither torch nor ``lmcourse.applications`` (the tests compare
it with ``lmcourse.applications``'s ``edit_distance`` and with ``nltk.edit_distance``).
"""

import random
from typing import Any

from lmcourse.exercises.core import Exercise, register
from lmcourse.exercises.difference import _a, _kind, _short, describe_difference
from lmcourse.exercises.slips import slip_hint

# --------------------------------------------------------------------------- reference solution


def edit_distance(a: str, b: str) -> int:
    """The fewest insertions, deletions and substitutions of characters that turn a into b.

    ``d[i][j]``, the distance between the first i characters of a and the first j of b, is
    ``i`` when ``j = 0`` and ``j`` when ``i = 0`` (all deletions, or all insertions), else
    ``min(d[i-1][j] + 1, d[i][j-1] + 1, d[i-1][j-1] + (a[i-1] != b[j-1]))``; the answer is
    ``d[len(a)][len(b)]``. kitten -> sitting is k -> s, e -> i and + g::

        >>> edit_distance("kitten", "sitting")
        3
    """
    d = [[i + j if i == 0 or j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            substitute = d[i - 1][j - 1] + (a[i - 1] != b[j - 1])
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, substitute)
    return d[len(a)][len(b)]


# --------------------------------------------------------------------------- feedback
# ``check`` calls ``compare(expected, got)``; the hints also need the case's inputs, so
# ``_compare_distance`` tries the cases whose reference output is ``expected`` (every case has
# its own) and names the classic slips that return what the learner's function returned (all
# of them, when two slips coincide).


def _table(a: str, b: str, corner: int = 0, edges: str = "ij", diagonal: bool = True):
    """``edit_distance``'s table with a choice of slips: ``edges`` (``i``, ``j``, both or none)
    that count up from 0 rather than stay 0, a ``diagonal`` step that costs 1 even for equal
    characters, and the cell ``corner`` rows and columns before the last."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i if "i" in edges else 0
    for j in range(len(b) + 1):
        d[0][j] = j if "j" in edges else 0
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 1 if not diagonal or a[i - 1] != b[j - 1] else 0
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
    return d[max(len(a) - corner, 0)][max(len(b) - corner, 0)]


def _lcs(a: str, b: str) -> int:
    """The length of the longest common subsequence of a and b."""
    row = [0] * (len(b) + 1)
    for x in a:
        previous = 0  # row[j - 1] of the row before
        for j, y in enumerate(b, start=1):
            previous, row[j] = row[j], previous + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def _distance_slips(a: str, b: str) -> list[tuple[str, int]]:
    hamming = sum(x != y for x, y in zip(a, b))
    position = (
        "comparing the characters position by position (Hamming's distance) misses insertions "
        "and deletions, which shift every character after them"
    )
    edges = (
        "the first row and column are the distances to and from the empty string: d[i][0] = i "
        "and d[0][j] = j (i deletions, j insertions), not 0"
    )
    lcs = _lcs(a, b)
    return [
        (position, hamming + abs(len(a) - len(b))),
        (position, hamming),
        (
            "a substitution is one edit, one character for another, not a deletion and an "
            "insertion: the diagonal step costs 1 (0 for equal characters), not 2",
            len(a) + len(b) - 2 * lcs,
        ),
        (edges, _table(a, b, edges="")),
        (edges, _table(a, b, edges="i")),
        (edges, _table(a, b, edges="j")),
        (
            "that is the length of the longest common subsequence, what the strings share: "
            "count the edits that turn one into the other",
            lcs,
        ),
        (
            "equal characters cost nothing: the diagonal step adds 1 only when a[i-1] != b[j-1]",
            _table(a, b, diagonal=False),
        ),
        (
            "the difference in length counts only the insertions or deletions that must be "
            "made: characters in place can differ too",
            abs(len(a) - len(b)),
        ),
        (
            "the distance of the whole strings is d[len(a)][len(b)], the last cell of a "
            "(len(a) + 1) × (len(b) + 1) table, whose row and column 0 stand for the empty prefix",
            _table(a, b, corner=1),
        ),
    ]


def _compare_distance(expected: int, got: Any) -> str | None:
    """The number of edits exactly, an int; else the slip."""
    if _kind(got) in ("tensor", "numpy array"):
        return f"expected an int, got {_a(got)} (return a plain number: int(x))"
    if _kind(got) == "float":
        return f"expected an int, got {_a(got)} (a number of edits is a whole number: an int)"
    if _kind(got) != "int":
        return describe_difference(expected, got, "numbers")
    if got == expected:
        return None
    hint = slip_hint(_SOLUTIONS, "14.edit_distance", expected, got, _same_int) or (
        "fill the table of the distances between every prefix of a and every prefix of b, "
        "from the empty prefixes on"
    )
    return f"expected {expected}, got {_short(got)} ({hint})"


def _same_int(a: Any, b: Any) -> bool:
    return a == b


# --------------------------------------------------------------------------- cases


def _distance_cases() -> list[tuple[str, str]]:
    cases = [
        ("kitten", "sitting"),  # 3: k -> s, e -> i, + g
        ("", ""),  # 0
        ("heir", "their"),  # 1: + t, though every position differs
        ("flaw", "lawn"),  # 2: − f, + n
        ("", "thou"),  # 4 insertions
        ("Thou art", ""),  # 8 deletions
        ("intention", "execution"),  # 5
        ("MERCUTIO", "ROMEO"),  # 6: the wrong speaker's name
        ("Wherefore art thou Romeo?", "Why are you Romeo?"),  # 10: a translation's
    ]
    distances = {edit_distance(*case) for case in cases}
    rng = random.Random(14)
    while len(cases) < 16:  # every case its own distance, so a wrong one finds its case again
        alphabet = rng.choice(["ab", "abc", "thou ", "ACGT", "abcdefghij"])
        a, b = ("".join(rng.choices(alphabet, k=rng.randint(3, 20))) for _ in range(2))
        if edit_distance(a, b) not in distances:
            distances.add(edit_distance(a, b))
            cases.append((a, b))
    return cases


_SOLUTIONS = {
    "14.edit_distance": (edit_distance, _distance_cases, _distance_slips),
}

register(
    Exercise(
        name="14.edit_distance",
        prompt="The Levenshtein distance between two strings: the fewest edits of one "
        "character, an insertion, a deletion or a substitution of one character for another, "
        "that turn `a` into `b`. Return it as an int. The character error rate of an answer "
        "is this distance to the reference answer, divided by the reference's length.",
        solution=edit_distance,
        cases=_distance_cases,
        noun="numbers",
        compare=_compare_distance,
    )
)
