"""Tests of lmcourse.embeddings: principal components equal the covariance's eigenvectors, and
the plot places, colours and shapes every token."""

import numpy as np
import pytest
import torch

from lmcourse.embeddings import CHAR_KINDS, char_kind, plot_embeddings, principal_components

pytestmark = pytest.mark.usefixtures("agg_backend")  # tests/conftest.py: no display


def test_principal_components_equal_the_covariances_eigenvectors():
    # an independent route: the eigenvectors of the covariance matrix, largest first
    X = np.random.default_rng(0).normal(size=(40, 6)) * np.array([5, 3, 2, 1, 0.5, 0.1])
    points, share = principal_components(X, k=3)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(X, rowvar=False))
    order = np.argsort(eigenvalues)[::-1][:3]
    reference = (X - X.mean(0)) @ eigenvectors[:, order]  # (40, 3)
    for i in range(3):  # each direction's sign is arbitrary
        sign = np.sign(points[:, i] @ reference[:, i])
        np.testing.assert_allclose(points[:, i], sign * reference[:, i], atol=1e-9)
    np.testing.assert_allclose(share, eigenvalues[order] / eigenvalues.sum(), rtol=1e-9)
    assert share[0] > share[1] > share[2]


def test_principal_components_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"\(N, C\) matrix"):
        principal_components(np.ones(5))
    with pytest.raises(ValueError, match="k must be an integer from 1 to 3"):
        principal_components(np.ones((4, 3)), k=4)


def test_plot_embeddings_places_and_colours_every_token():
    chars = list("aeb\n,7Z ")
    weight = torch.randn(len(chars), 8, generator=torch.Generator().manual_seed(0))
    ax = plot_embeddings(weight, chars)
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["a", "e", "b", "↵", ",", "7", "Z", "␣"]
    points, share = principal_components(weight, k=2)
    positions = np.array([t.xy for t in ax.texts])
    np.testing.assert_allclose(positions, points, atol=1e-6)
    assert f"({share[0]:.0%} of the variance)" in ax.get_xlabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["vowel", "consonant", "digit", "punctuation", "space or newline"]
    markers = {marker for _, marker in CHAR_KINDS.values()}
    assert len(markers) == len(CHAR_KINDS)  # each kind its own shape, not colour alone
    comma = ax.texts[4]
    assert comma.get_fontsize() > ax.texts[0].get_fontsize()  # punctuation in a larger type
    assert [char_kind(c) for c in "Ub9;\t"] == [
        "vowel", "consonant", "digit", "punctuation", "space or newline"
    ]  # fmt: skip


def test_plot_embeddings_rows_select_the_tokens_to_show():
    weight = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    ax = plot_embeddings(weight, "abcde", rows=[0, 2, 4])
    assert [t.get_text() for t in ax.texts] == ["a", "c", "e"]
    with pytest.raises(ValueError, match="one token string per row"):
        plot_embeddings(weight, "abc")
    with pytest.raises(ValueError, match="rows must be token ids from 0 to 4"):
        plot_embeddings(weight, "abcde", rows=[5])


def test_principal_components_of_equal_or_broken_vectors_are_refused():
    with pytest.raises(ValueError, match="the vectors are all equal"):
        principal_components(np.ones((4, 3)), k=1)
    with pytest.raises(ValueError, match="finite numbers"):
        principal_components(np.array([[1.0, np.nan], [0.0, 1.0]]))
