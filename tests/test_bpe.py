"""Tests for lmcourse.bpe: a slow reference trainer, Hugging Face's GPT-2 encoder, hand examples."""

import functools
import json
import random
import re
import unicodedata
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmcourse.bpe import (
    GPT2_SPLIT_PATTERN,
    BPETokenizer,
    merge_pair,
    pair_counts,
    split_text,
    train_bpe,
)
from lmcourse.data import load_text

# GPT-2's own pattern, for the `regex` module (\p classes), as in OpenAI's encoder.py.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# Slices from the middle of the corpus, away from its start (where code is usually tried out).
CORPUS = load_text("tiny-shakespeare")
MID = len(CORPUS) // 2
SLICE_20K = CORPUS[MID - 10_000 : MID + 10_000]
TRAIN_100K = CORPUS[MID : MID + 100_000]
HELD_OUT = CORPUS[MID + 200_000 : MID + 220_000]

GAGE = "aaabdaaabac"  # Philip Gage's example, as on Wikipedia's "Byte pair encoding" page


def random_text(seed, k=400):
    """Seeded text over a small alphabet with 2-, 3- and 4-byte characters and contractions."""
    rng = random.Random(seed)
    return "".join(rng.choices(["a", "b", "c", " ", "\n", "é", "—", "中", "🙂", "'s", "7"], k=k))


# Any text hypothesis likes (no lone surrogates: they cannot be written as UTF-8).
any_text = st.text(st.characters(codec="utf-8"))
# ASCII text, every code point 0-127, with pieces that exercise the pattern's alternatives.
ascii_text = st.lists(
    st.one_of(
        st.text(st.characters(max_codepoint=127), max_size=4),
        st.sampled_from(["'s", "'ll", "'re", " the", "  ", "\n\n", " 42", " ?!", "\x1c", "\t "]),
    )
).map("".join)


def _merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if tuple(ids[i : i + 2]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def reference_merges(text, vocab_size, pattern=GPT2_SPLIT_PATTERN):
    """The spec's rule as slowly as it reads: every pair of every chunk counted, every merge.

    A chunk that occurs k times is kept once with weight k, which counts its pairs k times.
    """
    words = [(list(c.encode("utf-8")), k) for c, k in Counter(split_text(text, pattern)).items()]
    merges = []
    for new_id in range(256, vocab_size):
        counts = Counter()
        for ids, k in words:
            for pair in zip(ids, ids[1:]):
                counts[pair] += k
        if not counts:
            raise ValueError(f"only {len(merges)} merges possible")
        best = min(counts, key=lambda pair: (-counts[pair], pair))  # most frequent, then smallest
        merges.append(best)
        words = [(_merge(ids, best, new_id), k) for ids, k in words]
    return merges


@functools.cache
def shakespeare_tok():
    return train_bpe(SLICE_20K, 400)


@functools.cache
def mixed_tok(pattern=GPT2_SPLIT_PATTERN):
    return train_bpe(random_text(7, 300) + SLICE_20K[:3_000], 330, pattern)


# --------------------------------------------------------------------------- training


def test_gage_example_by_hand():
    # aa occurs 4 times -> 256. Then ab and (256, a) both occur twice: the smaller pair (97, 98)
    # wins -> 257; (256, 257) = aaab twice -> 258; from then on every pair occurs once, so the
    # smallest wins: ac, then d + aaab, then aaab + daaab, then the rest + ac: one token.
    expected = [(97, 97), (97, 98), (256, 257), (97, 99), (100, 258), (258, 260), (261, 259)]
    assert reference_merges(GAGE, 263, None) == expected
    tok = train_bpe(GAGE, 263, pattern=None)
    assert tok.merges == expected
    assert tok.vocab[256:] == [b"aa", b"ab", b"aaab", b"ac", b"daaab", b"aaabdaaab", b"aaabdaaabac"]
    assert tok.encode(GAGE) == [262]
    assert tok.truncated(259).encode(GAGE) == [258, 100, 258, 97, 99]
    with pytest.raises(ValueError, match=r"\b7\b"):  # the message names the 7 possible merges
        train_bpe(GAGE, 264, pattern=None)


@pytest.mark.parametrize(
    ("text", "vocab_size", "pattern"),
    [
        ("the cat sat on the mat; the cat's hat, HAT!  \n\n 12 345 12", 278, GPT2_SPLIT_PATTERN),
        ("abababab ba ba abba aaaa bbbb", 268, GPT2_SPLIT_PATTERN),  # ties everywhere
        ("hello world, hello there — 中中中 🙂🙂 hello", 290, None),
        *[(random_text(seed), 300, GPT2_SPLIT_PATTERN) for seed in range(4)],
        (random_text(9), 300, None),
        (SLICE_20K, 380, GPT2_SPLIT_PATTERN),
    ],
    ids=["hand", "ties", "no-pattern", *[f"random{s}" for s in range(4)], "random-none", "corpus"],
)  # fmt: skip
def test_train_matches_reference(text, vocab_size, pattern):
    tok = train_bpe(text, vocab_size, pattern)
    assert tok.merges == reference_merges(text, vocab_size, pattern)
    assert tok.pattern == pattern
    assert tok.vocab_size == vocab_size == len(tok) == len(tok.vocab)


def test_train_256_has_no_merges():
    tok = train_bpe("hello", 256)
    assert tok.merges == []
    assert tok.encode("hé") == [104, 195, 169]


def test_vocab_of_merged_tokens_are_concatenations():
    tok = shakespeare_tok()
    assert tok.vocab[:256] == [bytes([i]) for i in range(256)]
    for i, (a, b) in enumerate(tok.merges):
        assert a < 256 + i and b < 256 + i  # only ids that already exist
        assert tok.vocab[256 + i] == tok.vocab[a] + tok.vocab[b]


def test_truncated_equals_training_with_the_smaller_vocab():
    text = SLICE_20K[:5_000]
    tok = train_bpe(text, 330)
    for k in [256, 257, 290, 330]:
        assert tok.truncated(k) == train_bpe(text, k)
        assert tok.truncated(k).merges == tok.merges[: k - 256]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: train_bpe("hello", 255), "255"),
        (lambda: train_bpe("hello", "x"), "'x'"),
        (lambda: train_bpe("hello", 300.0), "300.0"),
        (lambda: train_bpe("ab ab", 259), r"\b2\b"),  # "ab" -> 256, " " + 256 -> 257, no pairs left
        (lambda: train_bpe("", 257), r"\b0\b"),
    ],
)
def test_train_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
    assert train_bpe("ab ab", 258).merges == [(97, 98), (32, 256)]


def test_train_refuses_non_str_text():
    with pytest.raises((TypeError, ValueError)):
        train_bpe(b"hello hello", 257)


# --------------------------------------------------------------------------- pairs


def test_pair_counts_and_merge_pair_examples():
    assert pair_counts([1, 1, 1]) == {(1, 1): 2}  # the spec's example: overlapping pairs
    assert pair_counts([1, 2, 3, 1, 2]) == {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    assert pair_counts([]) == {} == pair_counts([5])
    assert merge_pair([1, 1, 1], (1, 1), 9) == [9, 1]  # the spec's example: left to right
    assert merge_pair([1, 1, 1, 1], (1, 1), 9) == [9, 9]
    assert merge_pair([1, 2, 3, 1, 2], (1, 2), 7) == [7, 3, 7]
    assert merge_pair([2, 1], (1, 2), 7) == [2, 1]


@given(
    ids=st.lists(st.integers(0, 3), max_size=30),
    pair=st.tuples(st.integers(0, 3), st.integers(0, 3)),
)
def test_pair_counts_and_merge_pair_match_the_naive_loops(ids, pair):
    assert pair_counts(ids) == Counter(zip(ids, ids[1:]))
    assert merge_pair(ids, pair, 99) == _merge(ids, pair, 99)


# --------------------------------------------------------------------------- split_text


def test_split_text_hand_examples():
    text = "Hello world's  123 !!\n\n x"
    assert split_text(text) == ["Hello", " world", "'s", " ", " 123", " !!", "\n\n", " x"]
    assert split_text("café 中文 x") == ["café", " 中文", " x"]
    assert split_text("abc  def\n", None) == ["abc  def\n"]
    assert split_text("") == [] == split_text("", None)
    re.compile(GPT2_SPLIT_PATTERN)  # a pattern for the standard library


@settings(max_examples=300)
@given(text=any_text)
def test_split_text_chunks_join_back(text):
    chunks = split_text(text)
    assert "".join(chunks) == text
    assert all(chunks)


@settings(max_examples=300)
@given(text=ascii_text)
def test_split_text_matches_gpt2_pattern_on_ascii(text):
    regex = pytest.importorskip("regex")
    assert split_text(text) == regex.findall(GPT2_PATTERN, text)


def test_split_text_differs_from_gpt2s_only_on_numbers_that_re_calls_letters():
    # Every assigned code point below U+30000, between a letter and a digit: the one difference
    # from GPT-2's pattern is the documented one, the numbers of categories No and Nl ("²").
    regex = pytest.importorskip("regex")
    differ = Counter()
    for code in range(0x30000):
        c = chr(code)
        category = unicodedata.category(c)
        if category in ("Cn", "Cs"):  # unassigned (Unicode versions differ), lone surrogates
            continue
        text = f" x{c}1 "
        if split_text(text) != regex.findall(GPT2_PATTERN, text):
            differ[category] += 1
    assert set(differ) == {"No", "Nl"} and sum(differ.values()) > 1000, differ


def test_split_text_ascii_separators_are_not_whitespace():
    # \x1c-\x1f are whitespace to str.isspace and stdlib re's \s, but not to Unicode's
    # White_Space, which GPT-2's \s (regex module, Rust's onig) follows.
    regex = pytest.importorskip("regex")
    text = "a\x1cb \x1c x\x1f\x1f y:\x1d: a\x1e "  # GPT-2: ":\x1d:" one chunk, "\x1e", " "
    assert split_text(text) == regex.findall(GPT2_PATTERN, text)


# --------------------------------------------------------------------------- encode / decode


def test_encode_merges_the_lowest_rank_first():
    # "bc" was merged first, so it wins over "ab" even though "ab" comes first in the text.
    tok = BPETokenizer([(98, 99), (97, 98)])
    assert tok.encode("abc") == [97, 256]
    assert tok.encode("abd") == [257, 100]
    assert BPETokenizer([(97, 97)]).encode("aaa aaaa") == [256, 97, 32, 256, 256]
    assert BPETokenizer([(97, 97)], pattern=None).encode("a aa") == [97, 32, 256]


@settings(max_examples=200, deadline=None)
@given(text=any_text)
def test_round_trip_any_text(text):
    for tok in [mixed_tok(), mixed_tok(None)]:
        ids = tok.encode(text)
        assert all(0 <= i < tok.vocab_size for i in ids)
        assert tok.decode(ids) == text
        assert tok.decode_bytes(ids) == text.encode("utf-8")


def test_decode_bytes_and_partial_characters():
    tok = shakespeare_tok()
    ids = tok.encode("To be 中")
    assert tok.decode_bytes(ids) == "To be 中".encode()
    assert tok.decode_bytes([228, 184, 173]) == "中".encode() == bytes([228, 184, 173])
    assert tok.decode([228, 184]) == "\ufffd"  # the first two of 中's three bytes
    assert tok.decode([104, 228, 105]) == "h\ufffdi"
    assert tok.decode([]) == ""


@pytest.mark.parametrize("method", ["decode", "decode_bytes"])
def test_decode_ids_out_of_range(method):
    tok = shakespeare_tok()
    for bad in [400, 10_000, -1]:
        with pytest.raises(ValueError, match=re.escape(str(bad))):
            getattr(tok, method)([65, bad])
    assert getattr(tok, method)([399]) is not None


@pytest.mark.parametrize("bad", [b"ab", None, 12, ["a"]])
def test_encode_refuses_non_str(bad):
    with pytest.raises((TypeError, ValueError), match="str"):
        shakespeare_tok().encode(bad)


@pytest.mark.parametrize("merges", [[(97, 256)], [(97, 97), (257, 97)], [(-1, 97)], [(97, 300)]])
def test_merge_with_an_undefined_id(merges):
    with pytest.raises(ValueError):
        BPETokenizer(merges)


def test_a_pair_merged_twice_is_refused():
    # train_bpe never learns a pair twice; a hand-made list that does would encode ambiguously
    with pytest.raises(ValueError, match=r"\(97, 98\) is merged twice"):
        BPETokenizer([(97, 98), (256, 99), (97, 98)])


def test_token_text_is_printable():
    tok = shakespeare_tok()
    texts = [tok.token_text(i) for i in range(tok.vocab_size)]
    assert all(isinstance(t, str) and t for t in texts)
    assert [(i, t) for i, t in enumerate(texts) if not t.isprintable()] == []  # e.g. 10: '\n'

    assert "a" in tok.token_text(97)
    assert "the" in tok.token_text(tok.vocab.index(b" the"))


def test_save_load_round_trip(tmp_path):
    for tok in [shakespeare_tok(), mixed_tok(None), BPETokenizer([])]:
        path = tmp_path / "bpe.json"
        tok.save(path)
        json.loads(path.read_text(encoding="utf-8"))
        loaded = BPETokenizer.load(path)
        assert loaded == tok
        assert (loaded.merges, loaded.pattern) == (tok.merges, tok.pattern)
        assert loaded.encode(SLICE_20K[:2_000]) == tok.encode(SLICE_20K[:2_000])
    assert shakespeare_tok() != shakespeare_tok().truncated(399)
    assert BPETokenizer([(97, 97)]) != BPETokenizer([(97, 97)], pattern=None)


# --------------------------------------------------------------------------- Hugging Face


def _hf_vocab_and_merges(tok):
    """Our tokenizer in GPT-2's file format: tokens as byte-to-unicode strings, id = our id."""
    convert = pytest.importorskip("transformers.convert_slow_tokenizer")
    byte_char = convert.bytes_to_unicode()
    names = ["".join(byte_char[b] for b in token) for token in tok.vocab]
    assert len(set(names)) == len(names), "two merges make the same bytes: no GPT-2 vocab.json"
    return {name: i for i, name in enumerate(names)}, [(names[a], names[b]) for a, b in tok.merges]


@functools.cache
def gpt2_tokenizer(folder):
    """transformers' GPT2Tokenizer from a vocab.json and merges.txt made of our merges.

    In transformers 5 it is the `tokenizers` BPE model (merge the lowest-ranked pair until none
    is left, GPT-2's encoder) behind a ByteLevel pre-tokenizer with GPT-2's pattern.
    """
    transformers = pytest.importorskip("transformers")
    vocab, merges = _hf_vocab_and_merges(shakespeare_tok())
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    lines = ["#version: 0.2", *(f"{a} {b}" for a, b in merges)]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return transformers.GPT2Tokenizer.from_pretrained(str(folder))


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    return gpt2_tokenizer(tmp_path_factory.mktemp("gpt2"))


def test_encode_matches_gpt2_tokenizer_on_corpus(gpt2):
    assert len(gpt2) >= shakespeare_tok().vocab_size  # its <|endoftext|> comes after ours
    assert HELD_OUT.isascii()
    ids = shakespeare_tok().encode(HELD_OUT)
    assert ids == gpt2.encode(HELD_OUT)
    assert len(ids) < 0.7 * len(HELD_OUT)  # the merges were used


@settings(max_examples=200, deadline=None)
@given(text=ascii_text)
def test_encode_matches_gpt2_tokenizer_on_ascii(gpt2, text):
    assert shakespeare_tok().encode(text) == gpt2.encode(text)


@settings(max_examples=200, deadline=None)
@given(text=any_text)
def test_encode_matches_hf_bpe_chunk_by_chunk(text):
    # Beyond ASCII the split patterns differ, so Hugging Face's BPE gets our chunks one by one
    # (its byte-level pre-tokenizer without the regex): the same merging on multi-byte text.
    hf = _hf_chunk_bpe()
    expected = [i for chunk in split_text(text) for i in hf.encode(chunk).ids]
    assert mixed_tok().encode(text) == expected


@functools.cache
def _hf_chunk_bpe():
    tk = pytest.importorskip("tokenizers")
    hf = tk.Tokenizer(tk.models.BPE(*_hf_vocab_and_merges(mixed_tok())))
    hf.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    return hf


def test_compression_close_to_hf_bpe_trainer():
    # Hugging Face's BpeTrainer also takes the most frequent pair, but breaks ties by its own
    # order of the byte-to-unicode alphabet, not by our ids, so its merges can differ in order
    # and content after the first tie. Trained on the same text to the same size, both should
    # compress held-out text about as well.
    tk = pytest.importorskip("tokenizers")
    vocab_size = 512
    hf = tk.Tokenizer(tk.models.BPE())
    hf.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = tk.trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        min_frequency=0,
        show_progress=False,
    )
    hf.train_from_iterator([TRAIN_100K], trainer)
    assert hf.get_vocab_size() == vocab_size
    ours = len(train_bpe(TRAIN_100K, vocab_size).encode(HELD_OUT))
    theirs = len(hf.encode(HELD_OUT).ids)
    assert abs(ours - theirs) <= 0.03 * theirs, (ours, theirs)
    assert ours < 0.6 * len(HELD_OUT)


# --------------------------------------------------------------------------- bad input, named


def test_a_lone_surrogate_is_named_not_a_unicode_error():
    tok = train_bpe("hello world hello", 260)
    for call in (lambda: tok.encode("ab\ud800c"), lambda: train_bpe("a\ud800b", 257)):
        with pytest.raises(ValueError, match=r"'\\ud800' \(U\+D800\) at position \d is a lone"):
            call()


def test_a_pattern_that_drops_text_is_refused_and_a_group_keeps_the_whole_match():
    with pytest.raises(ValueError, match="leaves out characters"):  # \w+ skips " " and "!"
        BPETokenizer([(104, 105)], pattern=r"\w+").encode("hi there!")
    tok = BPETokenizer([(104, 105)], pattern=r"(h)i|\S+|\s+")  # findall would give only "h"
    assert tok.decode(tok.encode("hi there!")) == "hi there!"


@pytest.mark.parametrize(
    "data, message",
    [({"merges": [[1.5, 2]]}, "Merge 0 must be a pair of two integer ids"),
     ({"merges": [[True, 2]]}, "Merge 0 must be a pair"),
     ({"merges": [["1", "2"]]}, "Merge 0 must be a pair"),
     ({"merges": [[1, 2, 3]]}, "Merge 0 must be a pair"),
     ({"pattern": 5}, "pattern must be a str or None"),
     ({"pattern": "("}, "is not a regular expression"),
     ({"merges": None}, "'merges' must be a list of pairs of ids, got NoneType")],
)  # fmt: skip
def test_a_damaged_tokenizer_file_is_refused_by_name(tmp_path, data, message):
    path = tmp_path / "tok.json"
    path.write_text(json.dumps({"type": "bpe", "pattern": None, "merges": [], **data}))
    with pytest.raises(ValueError, match=message) as err:
        BPETokenizer.load(path)
    assert "damaged tokenizer" in str(err.value) and str(path) in str(err.value)
    path.write_text('{"type": "bpe", "pattern": null, "merges": [[1e400, 2]]}')  # infinity
    with pytest.raises(ValueError, match="damaged tokenizer"):
        BPETokenizer.load(path)


def test_a_numpy_integer_vocab_size_is_an_integer():
    # used to be refused: "vocab_size must be an integer ..., got np.int64(258)"
    import numpy as np

    tok = train_bpe(GAGE, np.int64(258))
    assert tok.vocab_size == 258 and tok == train_bpe(GAGE, 258)
    assert tok.truncated(np.int32(257)) == train_bpe(GAGE, 257)
    with pytest.raises(ValueError, match="vocab_size must be an integer of at least 256"):
        train_bpe(GAGE, True)


@pytest.mark.parametrize(
    "pattern, message",
    [("(", r"pattern '\(' is not a regular expression: missing \)"),
     (123, r"pattern must be a str or None, got int")],
)  # fmt: skip
def test_train_bpe_and_split_text_name_a_bad_pattern(pattern, message):
    # used to be re's own error from deep inside re/_parser.py, before any check
    with pytest.raises(ValueError, match=message):
        train_bpe(GAGE, 257, pattern=pattern)
    with pytest.raises(ValueError, match=message):
        split_text(GAGE, pattern)
    with pytest.raises(ValueError, match=message):
        BPETokenizer([], pattern)  # the constructor's message, as it was
