"""Exercises of notebook 15, "Multimodal".

Importing this module registers ``15.unpatchify``, ``15.image_share`` and ``15.with_article``:
putting an image back together from its patch tokens (the inverse of ``patchify``, and how an
attention map over the patches is laid over the image), the share of a caption position's
attention that goes to the image, and the article of a caption ("a seven", "an eight"), which
goes by the sound of the number word, not its first letter. The reference solutions work on
plain Python lists and strings, so importing them imports neither torch nor
``lmcourse.multimodal`` (the tests compare them with ``lmcourse.multimodal``'s ``patchify``,
``word_to_patch_attention`` and ``digit_captions``).
"""

import math
import random
from typing import Any

from lmcourse.exercises.core import Exercise, register
from lmcourse.exercises.difference import _a, _kind, _short, describe_difference
from lmcourse.exercises.slips import close, slip_hint

# --------------------------------------------------------------------------- reference solutions


def unpatchify(patches: list[list[float]], patch: int) -> list[list[float]]:
    """The S×S image whose ``patch``×``patch`` patches are ``patches``: ``patchify`` undone.

    ``patches[k]`` is patch k of an n×n grid, in reading order (row k // n, column k % n), its
    patch² pixels flattened row by row (pixel m at row m // patch, column m % patch of the
    patch); S = n · patch. Four 2×2 patches of a 4×4 image, top-left, top-right, bottom-left,
    bottom-right::

        >>> unpatchify([[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]], 2)
        [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    """
    n = math.isqrt(len(patches))  # patches per side
    size = n * patch
    image = [[0.0] * size for _ in range(size)]
    for k, pixels in enumerate(patches):
        row, column = divmod(k, n)  # where the patch goes
        for m, value in enumerate(pixels):
            i, j = divmod(m, patch)  # where the pixel goes inside it
            image[row * patch + i][column * patch + j] = value
    return image


def image_share(attn: list[list[float]], n_patches: int) -> list[float]:
    """For each caption position, the share of its attention that goes to the image.

    ``attn`` is one head's (P+T)×(P+T) attention matrix over the sequence [P image tokens,
    T caption tokens]: row q holds query q's weights over the keys, summing to 1. The share of
    caption position t is the sum of row P + t over the first P keys. Two patches, two caption
    positions: 0.25 + 0.25 and 0.6 + 0.1::

        >>> image_share([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0],
        ...              [0.25, 0.25, 0.5, 0.0], [0.6, 0.1, 0.2, 0.1]], 2)
        [0.5, 0.7]
    """
    return [sum(row[:n_patches]) for row in attn[n_patches:]]


def with_article(word: str) -> str:
    """A number word with its article, "a" or "an", as in a caption: "a seven", "an eight".

    "an" goes before a vowel *sound*: the words that start with the sound of "eight" (eight,
    eighteen, eighty, eighty-one...) and "eleven". "one" starts with a letter that is a vowel
    but with the sound "w", so it takes "a"::

        >>> with_article("eight"), with_article("one"), with_article("eleven")
        ('an eight', 'a one', 'an eleven')
    """
    vowel_sound = word.startswith("eight") or word == "eleven"
    return ("an " if vowel_sound else "a ") + word


# --------------------------------------------------------------------------- feedback
# ``check`` calls ``compare(expected, got)``; the hints also need the case's inputs, so each
# compare tries the cases whose reference output is ``expected`` and names the classic slips
# that return what the learner's function returned (all of them, when two slips coincide).


def _placed(patches: list[list[float]], patch: int, grid: bool, inside: bool) -> list[list]:
    """``unpatchify`` with the patches' grid (``grid``) or their pixels (``inside``) transposed."""
    n = math.isqrt(len(patches))
    image = [[0.0] * (n * patch) for _ in range(n * patch)]
    for k, pixels in enumerate(patches):
        row, column = divmod(k, n)
        row, column = (column, row) if grid else (row, column)
        for m, value in enumerate(pixels):
            i, j = divmod(m, patch)
            i, j = (j, i) if inside else (i, j)
            image[row * patch + i][column * patch + j] = value
    return image


def _unpatchify_slips(patches: list[list[float]], patch: int) -> list[tuple[str, list]]:
    flat = [value for pixels in patches for value in pixels]
    size = math.isqrt(len(flat))
    return [
        ("the patches go in reading order, row by row: patch k is in row k // n and column "
         "k % n of the grid", _placed(patches, patch, grid=True, inside=False)),
        ("inside a patch the pixels are row by row too: pixel m is in row m // patch and column "
         "m % patch of the patch", _placed(patches, patch, grid=False, inside=True)),
        ("that is the image transposed: rows and columns swapped (image[row][column])",
         _placed(patches, patch, grid=True, inside=True)),
        ("cutting the patches' values one after the other into rows of S puts a whole patch in "
         "one row: a row of the image takes one row of pixels from each of n patches",
         [flat[r * size : (r + 1) * size] for r in range(size)]),
    ]  # fmt: skip


def _same_image(a: Any, b: Any) -> bool:
    return describe_difference(a, b, "rows") is None


def _compare_image(expected: list[list[float]], got: Any) -> str | None:
    """The image exactly (tuples for lists are fine); else what differs, and the slip."""
    difference = describe_difference(expected, got, "rows")
    if difference is None:
        return None
    if _kind(got) in ("tensor", "numpy array"):
        return difference  # it says how: x.tolist()
    if isinstance(got, list | tuple) and got and not isinstance(got[0], list | tuple):
        return f"{difference} (return the image as a list of S rows, each a list of S pixels)"
    hint = slip_hint(_SOLUTIONS, "15.unpatchify", expected, got, _same_image) or (
        "patch k goes to row k // n, column k % n of the n×n grid of patches, and its pixel m "
        "to row m // patch, column m % patch inside it"
    )
    return f"{difference} ({hint})"


def _share_slips(attn: list[list[float]], n_patches: int) -> list[tuple[str, list[float]]]:
    P, rows = n_patches, attn[n_patches:]
    off_by_one = "the image is keys 0 to n_patches − 1: exactly n_patches of them"
    return [
        ("only the caption's positions: rows n_patches onward, not the image tokens' rows",
         [sum(row[:P]) for row in attn]),
        ("that is the share on the caption: sum the weights on the first n_patches keys",
         [sum(row[P:]) for row in rows]),
        ("sum the weights on the patches, do not average them", [sum(row[:P]) / P for row in rows]),
        (off_by_one, [sum(row[: P + 1]) for row in rows]),
        (off_by_one, [sum(row[: P - 1]) for row in rows]),
        ("row q is one query's weights: sum along the caption positions' rows, not down the "
         "columns", [sum(attn[k][P + t] for k in range(P)) for t in range(len(rows))]),
        ("the weights are already shares of 1 (a row sums to 1): dividing the patches' weights "
         "by their own sum always gives 1", [1.0 for _ in rows]),
    ]  # fmt: skip


def _same_numbers(a: Any, b: Any) -> bool:
    if not isinstance(b, list | tuple) or len(a) != len(b):
        return False
    return all(isinstance(y, int | float) and close(x, y, abs_tol=1e-9) for x, y in zip(a, b))


def _compare_shares(expected: list[float], got: Any) -> str | None:
    """The shares within a relative 1e-6; else what differs, and the slip."""
    if _kind(got) in ("tensor", "numpy array"):
        return f"expected a list, got {_a(got)} (return a list of floats: x.tolist())"
    if isinstance(got, int | float) and not isinstance(got, bool):
        return f"expected a list, got {_a(got)} (return one share for each caption position)"
    if _same_numbers(expected, got):
        return None
    difference = describe_difference(expected, got, "shares") or (
        f"expected {_short(expected)}, got {_short(got)}"  # equal to within 1e-9 only
    )
    if not isinstance(got, list | tuple):
        return difference
    hint = slip_hint(_SOLUTIONS, "15.image_share", expected, list(got), _same_numbers) or (
        "for each caption position (a row from n_patches on), add up its weights on the first "
        "n_patches keys"
    )
    return f"{difference} ({hint})"


def _article_slips(word: str) -> list[tuple[str, str]]:
    letter = "an " if word[0] in "aeiou" else "a "
    eight_only = "an " if word.startswith("eight") else "a "
    return [
        ('go by the sound, not the letter: "one" starts with the sound "w", so "a one"',
         letter + word),
        ('"eleven" starts with a vowel sound too: "an eleven"', eight_only + word),
        ('eighteen, eighty and eighty-one start with the sound of "eight" too',
         ("an " if word in ("eight", "eleven") else "a ") + word),
    ]  # fmt: skip


def _compare_article(expected: str, got: Any) -> str | None:
    """The phrase exactly; else what differs, and the slip."""
    if got == expected:
        return None
    if not isinstance(got, str):
        return f"expected a str, got {_a(got)} (return the article and the word: 'an eight')"
    shown = f"expected {expected!r}, got {_short(got)}"
    if got.lower() == expected:
        return f"{shown} (lower case: the article starts the caption's words, not a sentence)"
    if got in ("a", "an"):
        return f"{shown} (return the article, a space and the word, not the article alone)"
    if got.split() == expected.split():
        return f"{shown} (one space between the article and the word, none around them)"
    return f"{shown} ({slip_hint(_SOLUTIONS, '15.with_article', expected, got, str.__eq__) or _AN})"


_AN = '"an" goes before a vowel sound (an eight), "a" before a consonant sound (a seven)'

# --------------------------------------------------------------------------- cases

#: scikit-learn's first handwritten digit, ``load_digits().images[0]`` (a zero): pixels 0..16
DIGIT_ZERO = [
    [0, 0, 5, 13, 9, 1, 0, 0], [0, 0, 13, 15, 10, 15, 5, 0], [0, 3, 15, 2, 0, 11, 8, 0],
    [0, 4, 12, 0, 0, 8, 8, 0], [0, 5, 8, 0, 0, 9, 8, 0], [0, 4, 11, 0, 1, 12, 7, 0],
    [0, 2, 14, 5, 10, 12, 0, 0], [0, 0, 6, 13, 10, 0, 0, 0],
]  # fmt: skip


def _patches_of(image: list[list[float]], patch: int) -> list[list[float]]:
    """What ``patchify`` makes of ``image`` (so the cases are images, cut the reference way)."""
    n = len(image) // patch
    return [[image[r * patch + i][c * patch + j] for i in range(patch) for j in range(patch)]
            for r in range(n) for c in range(n)]  # fmt: skip


def _unpatchify_cases() -> list[tuple[list[list[float]], int]]:
    counting = [[float(r * 4 + c) for c in range(4)] for r in range(4)]  # the docstring's
    digit = [[value / 16 for value in row] for row in DIGIT_ZERO]  # as the notebook's, in [0, 1]
    six = [[float(r * 6 + c) for c in range(6)] for r in range(6)]
    images = [(counting, 2), (digit, 2), (digit, 4), (six, 3), (six, 2), (digit, 1), (digit, 8),
              ([[1.0, 2.0], [3.0, 4.0]], 1), ([[1.0, 2.0], [3.0, 4.0]], 2)]  # fmt: skip
    rng = random.Random(15)
    for side, patch in ((8, 2), (8, 4), (12, 3), (10, 5)):
        images.append(([[round(rng.random(), 3) for _ in range(side)] for _ in range(side)], patch))
    return [(_patches_of(image, patch), patch) for image, patch in images]


def _causal_softmax(rng: random.Random, size: int, scale: float = 2.0) -> list[list[float]]:
    """A random attention matrix: row q is a softmax over keys 0..q; the keys after q get 0."""
    rows = []
    for q in range(size):
        scores = [rng.gauss(0.0, scale) for _ in range(q + 1)]
        exps = [math.exp(s - max(scores)) for s in scores]
        rows.append([e / sum(exps) for e in exps] + [0.0] * (size - q - 1))
    return rows


def _share_cases() -> list[tuple[list[list[float]], int]]:
    cases = [
        ([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.25, 0.25, 0.5, 0.0],
          [0.6, 0.1, 0.2, 0.1]], 2),  # the docstring's
        ([[1.0, 0.0, 0.0], [0.3, 0.7, 0.0], [0.2, 0.2, 0.6]], 1),  # one patch, two characters
        ([[1.0 if q == k else 0.0 for k in range(4)] for q in range(4)], 2),  # none on the image
        ([[1.0, 0.0, 0.0, 0.0, 0.0], [0.2, 0.8, 0.0, 0.0, 0.0], [0.1, 0.2, 0.7, 0.0, 0.0],
          [0.25, 0.25, 0.25, 0.25, 0.0], [0.4, 0.0, 0.6, 0.0, 0.0]], 3),  # all on the image
    ]  # fmt: skip
    rng = random.Random(15)
    for P, T in ((4, 3), (16, 8), (16, 9), (4, 16), (64, 5)):  # patch 4, 2 ("a seven."), 1
        cases.append((_causal_softmax(rng, P + T), P))
    return cases


_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen"]  # fmt: skip
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _article_cases() -> list[tuple[str]]:
    """The number words from zero to ninety-nine, the telling ones first."""
    words = _ONES + _TEENS + [ten + ("" if one == "zero" else "-" + one)
                              for ten in _TENS for one in _ONES]  # fmt: skip
    first = ["eight", "seven", "one", "eleven", "eighteen", "eighty", "eighty-one", "zero"]
    return [(word,) for word in first + [w for w in words if w not in first]]


_SOLUTIONS = {
    "15.unpatchify": (unpatchify, _unpatchify_cases, _unpatchify_slips),
    "15.image_share": (image_share, _share_cases, _share_slips),
    "15.with_article": (with_article, _article_cases, _article_slips),
}

register(
    Exercise(
        name="15.unpatchify",
        prompt="Put an image back together from its patches, undoing `patchify`. `patches` is a "
        "list of the P = n² patches of an S×S image, S = n · patch, in reading order (patch k "
        "is in row k // n, column k % n of the n×n grid of patches); each patch is a list of its "
        "patch × patch pixels, row by row. Return the image as a list of S rows, each a list of "
        "S pixels.",
        solution=unpatchify,
        cases=_unpatchify_cases,
        noun="rows",
        compare=_compare_image,
    )
)
register(
    Exercise(
        name="15.image_share",
        prompt="`attn` is one head's attention matrix over the sequence [n_patches image "
        "tokens, then T caption tokens], a list of P + T rows: row q is what query q attends "
        "to, its weights over the P + T keys (summing to 1; zero after q, the attention is "
        "causal). For each caption position, in order, return the share of its attention that "
        "goes to the image: a list of T floats. Checked to within a relative 1e-6.",
        solution=image_share,
        cases=_share_cases,
        noun="shares",
        compare=_compare_shares,
    )
)
register(
    Exercise(
        name="15.with_article",
        prompt="A caption names a digit with its article: return `word`, an English number word "
        "from zero to ninety-nine in lower case (e.g. 'seven', 'eighty-one'), with 'a' or 'an' "
        "and a space in front of it, as the caption would say it: 'a seven', 'an eight'.",
        solution=with_article,
        cases=_article_cases,
        noun="characters",
        compare=_compare_article,
    )
)
