"""Notebook 15's exercises: the references agree with ``lmcourse.multimodal`` (``patchify``,
``word_to_patch_attention``, ``digit_captions``) and with scikit-learn's digits, a learner's
right answers pass, typical mistakes are named, and no feedback shows the answer."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits

from lmcourse.exercises import check, describe, get
from lmcourse.exercises.multimodal import (
    DIGIT_ZERO,
    _placed,
    image_share,
    unpatchify,
    with_article,
)
from lmcourse.multimodal import (
    NUMBER_WORDS,
    CaptionerConfig,
    ImageCaptioner,
    caption_tokenizer,
    digit_captions,
    encode_captions,
    patchify,
    word_to_patch_attention,
)

NOTEBOOK_15 = ["15.unpatchify", "15.image_share", "15.with_article"]


def test_every_case_has_its_own_expected_output():
    # the hints find a case's inputs again from its expected output: they must differ (not for
    # 15.unpatchify: one digit cut four ways is four cases of one image, and each slip's value
    # there depends on the patch size, so the case that a wrong image comes from is still found)
    for name in ["15.image_share", "15.with_article"]:
        exercise = get(name)
        outputs = [exercise.solution(*args) for args in exercise.case_list()]
        assert all(a != b for i, a in enumerate(outputs) for b in outputs[i + 1 :]), name


# --------------------------------------------------------------------------- unpatchify


def test_the_digit_of_the_cases_is_scikit_learns_first():
    assert np.array_equal(np.array(DIGIT_ZERO), load_digits().images[0])
    assert load_digits().target[0] == 0


def test_unpatchify_by_hand():
    # a 4×4 image 0..15 in 2×2 patches: patchify's docstring example, undone
    patches = [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
    assert unpatchify(patches, 2) == [list(range(r * 4, r * 4 + 4)) for r in range(4)]
    assert unpatchify([[7]], 1) == [[7]]
    assert unpatchify([[1, 2, 3, 4]], 2) == [[1, 2], [3, 4]]  # one patch: the image itself


@pytest.mark.parametrize("case", get("15.unpatchify").case_list(), ids=lambda c: "")
def test_unpatchify_undoes_the_packages_patchify_on_every_case(case):
    patches, patch = case
    image = torch.tensor(unpatchify(patches, patch), dtype=torch.float64)  # (S, S)
    torch.testing.assert_close(patchify(image[None], patch)[0].tolist(), patches)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 4), patch=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_unpatchify_of_patchify_is_the_image(n, patch, seed):
    S = n * patch
    image = torch.rand(S, S, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    assert unpatchify(patchify(image[None], patch)[0].tolist(), patch) == image.tolist()


def test_the_digits_in_the_cases_are_cut_the_packages_way():
    digit = torch.tensor(DIGIT_ZERO, dtype=torch.float64) / 16  # as digits_split scales it
    cases = get("15.unpatchify").case_list()
    for patch in (1, 2, 4, 8):
        assert (patchify(digit[None], patch)[0].tolist(), patch) in cases


# --------------------------------------------------------------------------- image_share


@pytest.fixture(scope="module")
def captioner():
    tok = caption_tokenizer()
    config = CaptionerConfig(vocab_size=tok.vocab_size, patch=2, n_layer=2, n_head=4, n_embd=32)
    model = ImageCaptioner(config, generator=torch.Generator().manual_seed(15)).eval()
    return model, tok


@pytest.mark.parametrize("caption", ["a seven.", "an eight.", "a thick one."])
def test_image_share_is_word_to_patch_attentions_row_sums(captioner, caption):
    # the package's attention maps of an (untrained) model: every layer and head
    model, tok = captioner
    image = torch.rand(8, 8, generator=torch.Generator().manual_seed(len(caption)))
    idx, _ = encode_captions([caption], tok)
    with torch.no_grad():
        _, _, attn = model(image[None], idx, return_attn=True)  # L maps (1, H, P+T, P+T)
    P = model.config.n_patches
    for layer, maps in enumerate(attn):
        expected = word_to_patch_attention(model, image, caption, tok, layer=layer).sum(-1)
        for h in range(maps.shape[1]):
            shares = image_share(maps[0, h].double().tolist(), P)
            assert len(shares) == len(caption)
            torch.testing.assert_close(torch.tensor(shares, dtype=torch.float64),
                                       expected[h].double(), rtol=1e-5, atol=1e-6)  # fmt: skip


def test_image_share_by_hand():
    attn = [[1.0, 0, 0, 0], [0.5, 0.5, 0, 0], [0.25, 0.25, 0.5, 0], [0.6, 0.1, 0.2, 0.1]]
    assert image_share(attn, 2) == pytest.approx([0.25 + 0.25, 0.6 + 0.1])
    assert image_share(attn, 3) == pytest.approx([0.9])
    assert image_share(attn, 4) == []  # no caption position


def test_the_attention_matrices_of_the_cases_are_causal_and_rows_sum_to_1():
    for attn, _ in get("15.image_share").case_list():
        for q, row in enumerate(attn):
            assert math.isclose(sum(row), 1.0) and all(w >= 0 for w in row)
            assert all(w == 0 for w in row[q + 1 :])


# --------------------------------------------------------------------------- with_article


def test_with_article_says_the_captions_of_the_package():
    words = [with_article(word) + "." for word in NUMBER_WORDS]
    assert words == digit_captions(torch.arange(10))


def test_with_article_by_hand():
    an = {"eight", "eleven", "eighteen", "eighty", *(f"eighty-{w}" for w in NUMBER_WORDS[1:])}
    cases = [word for (word,) in get("15.with_article").case_list()]
    assert len(cases) == len(set(cases)) == 100 and "ninety-nine" in cases
    assert {w for w in cases if with_article(w).startswith("an ")} == an
    assert with_article("one") == "a one" and with_article("eighty-one") == "an eighty-one"


# --------------------------------------------------------------------------- right answers


def test_a_learners_right_answers_pass():
    def learner_unpatchify(patches, patch):
        n = int(len(patches) ** 0.5)
        rows = []
        for r in range(n):  # one row of patches gives `patch` rows of the image
            for i in range(patch):
                rows.append([p for c in range(n) for p in patches[r * n + c][i * patch :][:patch]])
        return rows

    def learner_unpatchify_torch(patches, patch):
        x = torch.tensor(patches, dtype=torch.float64)  # (P, patch²)
        n = math.isqrt(len(patches))
        return x.view(n, n, patch, patch).permute(0, 2, 1, 3).reshape(n * patch, -1).tolist()

    def learner_share(attn, n_patches):
        a = np.array(attn)
        return a[n_patches:, :n_patches].sum(axis=1).tolist()

    def learner_share_float32(attn, n_patches):
        a = torch.tensor(attn, dtype=torch.float32)
        return tuple(a[n_patches:, :n_patches].sum(-1).tolist())  # a tuple, float32 sums

    def learner_article(word):
        return ("an" if word.split("-")[0] in ("eight", "eleven", "eighteen", "eighty") else "a") \
            + " " + word  # fmt: skip

    assert check("15.unpatchify", learner_unpatchify)
    assert check("15.unpatchify", learner_unpatchify_torch)
    assert check("15.unpatchify", lambda p, k: tuple(map(tuple, unpatchify(p, k))))
    assert check("15.image_share", learner_share)
    assert check("15.image_share", learner_share_float32)
    assert check("15.with_article", learner_article)
    assert check("15.with_article", lambda w: f"a{'n' * (w[:5] == 'eight' or w == 'eleven')} {w}")


# --------------------------------------------------------------------------- typical mistakes


def all_zeros(patches, patch):
    side = patch * math.isqrt(len(patches))
    return [[0.0] * side for _ in range(side)]


def naive_reshape(patches, patch):
    flat = [v for pixels in patches for v in pixels]
    side = math.isqrt(len(flat))
    return [flat[r * side : (r + 1) * side] for r in range(side)]


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda p, k: _placed(p, k, grid=True, inside=False), "patch k is in row k // n and col"),
        (lambda p, k: _placed(p, k, grid=False, inside=True), "inside a patch the pixels are row"),
        (lambda p, k: _placed(p, k, grid=True, inside=True), "that is the image transposed"),
        (naive_reshape, "a row of the image takes one row of pixels from each of n patches"),
        (all_zeros, "patch k goes to row k // n, column k % n of the n×n grid"),
    ],
)
def test_unpatchify_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("15.unpatchify", wrong)


def test_unpatchify_feedback_shows_the_case(feedback):
    text = feedback("15.unpatchify", naive_reshape)
    assert text.startswith("✗ 15.unpatchify: 9 of 13 cases fail.")  # patch 1, or one patch
    case = "for inputs [[0.0, 1.0, 4.0, 5.0], [2.0, 3.0, 6.0, 7.0], [8.0, 9.0, 12.…, 2: "
    wrong = "position 0: expected [0.0, 1.0, 2.0, 3.0], got [0.0, 1.0, 4.0, 5.0] (cutting"
    assert case + wrong in text


def test_bad_unpatchify_answers_get_clear_feedback(feedback):
    name = "15.unpatchify"
    text = feedback(name, lambda p, k: torch.tensor(unpatchify(p, k)))
    assert "expected a list, got a tensor (return a plain list: x.tolist())" in text
    text = feedback(name, lambda p, k: [v for row in unpatchify(p, k) for v in row])
    assert "(return the image as a list of S rows, each a list of S pixels)" in text


def down_the_columns(attn, n_patches):
    T = len(attn) - n_patches
    return [sum(attn[k][n_patches + t] for k in range(n_patches)) for t in range(T)]


def share(rows="caption", keys=slice(None), total=sum):
    """A learner's image_share with a choice of slips."""

    def image_share(attn, n_patches):
        chosen = attn if rows == "all" else attn[n_patches:]
        cut = slice(0, n_patches) if keys == slice(None) else keys(n_patches)
        return [total(row[cut]) for row in chosen]

    return image_share


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (share(rows="all"), "only the caption's positions: rows n_patches onward"),
        (share(keys=lambda P: slice(P, None)), "that is the share on the caption"),
        (share(total=lambda w: sum(w) / len(w)), "do not average them"),
        (share(keys=lambda P: slice(0, P + 1)), "the image is keys 0 to n_patches − 1"),
        (share(keys=lambda P: slice(0, P - 1)), "the image is keys 0 to n_patches − 1"),
        (down_the_columns, "not down the columns"),
        (share(total=lambda w: sum(w) / sum(w) if sum(w) else 0.0), "always gives 1"),
        (lambda attn, P: [0.5] * (len(attn) - P), "add up its weights on the first n_patches"),
    ],
)
def test_image_share_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("15.image_share", wrong)


def test_bad_image_share_answers_get_clear_feedback(feedback):
    name = "15.image_share"
    text = feedback(name, lambda a, P: torch.tensor(image_share(a, P)))
    assert "expected a list, got a tensor (return a list of floats: x.tolist())" in text
    text = feedback(name, lambda a, P: sum(image_share(a, P)) / max(len(a) - P, 1))
    assert "expected a list, got a float (return one share for each caption position)" in text
    text = feedback(name, lambda a, P: [round(s, 3) for s in image_share(a, P)])
    assert "✗ 15.image_share: 5 of 9 cases fail." in text  # the random ones: not within 1e-6


def article(rule):
    return lambda word: ("an " if rule(word) else "a ") + word


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (article(lambda w: w[0] in "aeiou"), 'go by the sound, not the letter: "one" starts'),
        (article(lambda w: w.startswith("eight")), '"eleven" starts with a vowel sound too'),
        (article(lambda w: w in ("eight", "eleven")), "eighteen, eighty and eighty-one start"),
        (article(lambda w: False), '"an" goes before a vowel sound (an eight)'),
        (lambda w: with_article(w).capitalize(), "lower case"),
        (lambda w: with_article(w).split()[0], "not the article alone"),
        (lambda w: with_article(w).replace(" ", "  "), "one space between the article"),
        (lambda w: len(with_article(w)), "expected a str, got an int"),
    ],
)
def test_with_article_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("15.with_article", wrong)


def test_with_article_feedback_shows_the_word(feedback):
    text = feedback("15.with_article", article(lambda w: w[0] in "aeiou"))
    hint = 'go by the sound, not the letter: "one" starts with the sound "w", so "a one"'
    assert text == (
        "✗ 15.with_article: 1 of 100 cases fails.\n  ✗ for input 'one': expected 'a one', got "
        f"'an one' ({hint})"
    )


# --------------------------------------------------------------------------- every exercise


def test_describe_shows_the_signatures_and_a_first_case():
    signatures = [
        "unpatchify(patches: list[list[float]], patch: int) -> list[list[float]]",
        "image_share(attn: list[list[float]], n_patches: int) -> list[float]",
        "with_article(word: str) -> str",
    ]
    for name, signature in zip(NOTEBOOK_15, signatures):
        assert describe(name).startswith(f"{name}: write {signature}\n")
    assert ">>> with_article('eight')\n    'an eight'" in describe("15.with_article")
    assert "    [0.5, 0.7]\n" in describe("15.image_share")


def test_feedback_never_shows_the_solution_code(solution_hidden):
    attempts = {
        "15.unpatchify": [naive_reshape, lambda p, k: _placed(p, k, True, False)],
        "15.image_share": [share(rows="all"), share(keys=lambda P: slice(P, None))],
        "15.with_article": [article(lambda w: w[0] in "aeiou"), lambda w: "a"],
    }
    for name, wrong in attempts.items():
        solution_hidden(name, wrong)
