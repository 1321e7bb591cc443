"""Tests for lmcourse.tokenizers: hand-checked examples, round-trip invariants, errors, files."""

import json
import re
import string
import unicodedata

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lmcourse.tokenizers import (
    CharTokenizer,
    WordTokenizer,
    tokenizer_from_dict,
    unknown_characters,
)

SHAKESPEARE = "Who's there? Nay, answer me: stand, and unfold yourself."

# Non-Latin scripts, combining marks and multi-code-point emoji (a skin-tone modifier).
SAMPLES = ["Ἀρχὴ", "日本語", "🙂👍🏽", "Привет", "مرحبا", "e\u0301", "हिन्दी", "\n\t "]

# Any text hypothesis likes (no lone surrogates: they cannot be written as UTF-8), mixed with
# the samples above so every run sees several scripts.
any_text = st.lists(
    st.one_of(st.text(st.characters(codec="utf-8"), min_size=1), st.sampled_from(SAMPLES)),
    min_size=1,
).map("".join)

# Text that exercises the word splitter: letters, digits, apostrophes, hyphens, brackets,
# closing punctuation and whitespace, plus arbitrary characters.
word_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("abcXYZ'-.,;:!?()[]\"_ \n09") + ["é", "Ω", "日", "٣", "²", "🙂"]),
        st.characters(codec="utf-8"),
    )
)


# --------------------------------------------------------------------------- CharTokenizer


def test_char_hand_example():
    # Sorted distinct characters of "hello": e < h < l < o, so e=0, h=1, l=2, o=3.
    tok = CharTokenizer.from_text("hello")
    assert tok.chars == ["e", "h", "l", "o"]
    assert tok.vocab_size == 4 == len(tok)
    assert tok.stoi == {"e": 0, "h": 1, "l": 2, "o": 3}
    assert tok.itos == {0: "e", 1: "h", 2: "l", 3: "o"}
    assert tok.encode("hello") == [1, 0, 2, 2, 3]
    assert tok.decode([1, 0, 2, 2, 3]) == "hello"
    assert tok.encode("") == []
    assert tok.decode([]) == ""
    assert repr(tok) == "CharTokenizer(vocab_size=4)"


def test_char_decode_accepts_tensors_and_arrays():
    tok = CharTokenizer.from_text("hello")
    assert tok.decode(torch.tensor([1, 0, 2, 2, 3])) == "hello"
    assert tok.decode(np.array([1, 0, 2, 2, 3], dtype=np.int32)) == "hello"
    assert tok.decode(list(np.array([1, 0, 2, 2, 3]))) == "hello"  # numpy ints in a list


def test_char_unk_maps_unknown_characters():
    # "?" is not in "hello", so it is appended after the text's characters: id 4.
    tok = CharTokenizer.from_text("hello", unk="?")
    assert tok.chars == ["e", "h", "l", "o", "?"]
    assert tok.encode("help!") == [1, 0, 2, 4, 4]
    assert tok.decode(tok.encode("héllo")) == "h?llo"
    # An unk that occurs in the text keeps its sorted place.
    assert CharTokenizer.from_text("hel?lo", unk="?").chars == ["?", "e", "h", "l", "o"]


def test_char_constructor_keeps_given_order():
    tok = CharTokenizer("zyx")
    assert tok.encode("xyz") == [2, 1, 0]


@settings(max_examples=200)
@given(text=any_text, data=st.data())
def test_char_round_trip_any_script(text, data):
    tok = CharTokenizer.from_text(text)
    assert tok.chars == sorted(set(text))
    assert tok.decode(tok.encode(text)) == text
    s = data.draw(st.text(alphabet=st.sampled_from(tok.chars)), label="s")
    ids = tok.encode(s)
    assert len(ids) == len(s)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == s
    assert tok.decode(torch.tensor(ids, dtype=torch.long)) == s


def test_char_unknown_character_message():
    tok = CharTokenizer.from_text("hello")
    with pytest.raises(ValueError) as excinfo:
        tok.encode("héllo")
    message = str(excinfo.value)
    assert "'é'" in message
    assert "U+00E9" in message
    assert "position 1" in message
    assert "vocab_size=4" in message
    assert "unk=" in message


def test_char_unknown_character_position_is_the_first_one():
    tok = CharTokenizer.from_text("ab")
    with pytest.raises(ValueError) as excinfo:
        tok.encode("abba🙂ab日")
    assert "U+1F642" in str(excinfo.value)
    assert "position 4" in str(excinfo.value)


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ([0, 4], ["Id 4", "position 1", "vocab_size=4"]),
        ([-1], ["Id -1", "position 0"]),
        ([0, 1.0], ["1.0", "position 1", "not an integer"]),
        (torch.tensor([0.0, 1.0]), ["0.0", "position 0", "not an integer"]),
        (torch.tensor([[0, 1]]), ["1-D", "(1, 2)"]),
    ],
)
def test_char_decode_bad_ids(ids, expected):
    tok = CharTokenizer.from_text("hello")
    with pytest.raises(ValueError) as excinfo:
        tok.decode(ids)
    for part in expected:
        assert part in str(excinfo.value)


@pytest.mark.parametrize(
    ("chars", "unk", "expected"),
    [
        ([], None, "empty"),
        (["a", "bc"], None, "'bc' at id 1 is not a single character"),
        (["a", "b", "a"], None, "Duplicate vocabulary entry 'a' at ids 0 and 2"),
        (["a", 1], None, "1 at id 1 is not a string"),
        (["a", "b"], "?", "unk='?' is not in the vocabulary"),
    ],
)
def test_char_constructor_errors(chars, unk, expected):
    with pytest.raises(ValueError) as excinfo:
        CharTokenizer(chars, unk=unk)
    assert expected in str(excinfo.value)


def test_char_from_text_errors():
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer.from_text("")
    with pytest.raises(ValueError, match="unk must be a single character"):
        CharTokenizer.from_text("hello", unk="<unk>")


def test_char_save_load_round_trip(tmp_path):
    text = 'Ἀρχὴ 日本語 🙂👍🏽 héllo\n\t"quoted" \\ back'
    for tok in [CharTokenizer.from_text(text), CharTokenizer.from_text(text, unk="¿")]:
        path = tmp_path / "chars.json"
        tok.save(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data == {"type": "char", "chars": tok.chars, "unk": tok.unk}
        assert "日" in path.read_text(encoding="utf-8")  # stored as is, not as \\u escapes
        loaded = CharTokenizer.load(path)
        assert loaded == tok
        assert loaded.encode(text) == tok.encode(text)
    assert CharTokenizer.from_text(text) != CharTokenizer.from_text(text, unk="¿")
    assert CharTokenizer.from_text("ab") != CharTokenizer.from_text("abc")


# --------------------------------------------------------------------------- file errors


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"type": "char", "chars": ["a"', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"", "not valid JSON"),
        (b'["a", "b"]', "a list, not a dict"),
        (b'{"type": "word", "words": ["<unk>"], "unk": "<unk>", "lowercase": false}', "'word'"),
        (b'{"chars": ["a"], "unk": null}', "type None"),
        (b'{"type": "char", "unk": null}', "missing key(s) ['chars']"),
        (b'{"type": "char", "chars": "ab", "unk": null}', "must be a list"),
        (b'{"type": "char", "chars": ["a", "a"], "unk": null}', "Duplicate"),
        (b'{"type": "char", "chars": ["a"], "unk": "b"}', "unk='b'"),
    ],
)
def test_char_load_bad_files(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ValueError) as excinfo:
        CharTokenizer.load(path)
    assert str(path) in str(excinfo.value)
    assert expected in str(excinfo.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not json at all", "not valid JSON"),
        (b'{"type": "char", "chars": ["a"], "unk": null}', "'char'"),
        (b'{"type": "word", "words": ["<unk>"], "unk": "<unk>"}', "['lowercase']"),
        (b'{"type": "word", "words": ["a", "<unk>"], "unk": "<unk>", "lowercase": false}', "[0]"),
        (b'{"type": "word", "words": ["<unk>"], "unk": "<unk>", "lowercase": "no"}', "true or"),
    ],
)
def test_word_load_bad_files(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ValueError) as excinfo:
        WordTokenizer.load(path)
    assert str(path) in str(excinfo.value)
    assert expected in str(excinfo.value)


@pytest.mark.parametrize("cls", [CharTokenizer, WordTokenizer])
def test_load_names_a_missing_file_or_a_folder_in_words(cls, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    where = tmp_path / "sub" / "tok.json"
    message = f"No such tokenizer file: 'sub/tok.json' (looked for {where})."
    with pytest.raises(FileNotFoundError) as excinfo:
        cls.load("sub/tok.json")
    assert str(excinfo.value) == message  # not "[Errno 2] No such file or directory: ..."
    with pytest.raises(IsADirectoryError) as excinfo:
        cls.load(tmp_path)
    assert str(excinfo.value) == f"'{tmp_path}' is a folder; pass the path of a tokenizer file."


@pytest.mark.parametrize("cls", [CharTokenizer, WordTokenizer])
def test_from_text_names_a_text_that_is_not_a_str(cls):
    with pytest.raises(TypeError, match=re.escape("from_text takes a str, got NoneType.")):
        cls.from_text(None)
    with pytest.raises(TypeError, match=re.escape("from_text takes a str, got bytes: decode")):
        cls.from_text(b"hello")  # bytes iterate as ints (104, 101, ...), not characters


# --------------------------------------------------------------------------- WordTokenizer


def test_word_split_combining_marks_as_documented_in_word_pattern():
    """Combining marks are not letters to ``re``: own tokens, until NFC recomposes them."""
    decomposed = "cafe\u0301 x\u00b2"  # "café" typed as e + COMBINING ACUTE ACCENT; x²
    assert WordTokenizer.split(decomposed) == ["cafe", "\u0301", "x\u00b2"]
    assert WordTokenizer.split(unicodedata.normalize("NFC", decomposed)) == ["caf\u00e9", "x\u00b2"]


def test_word_split_hand_example():
    assert WordTokenizer.split(SHAKESPEARE) == [
        "Who's", "there", "?", "Nay", ",", "answer", "me", ":",
        "stand", ",", "and", "unfold", "yourself", ".",
    ]  # fmt: skip
    assert WordTokenizer.split("O'er the hills to-night, th' earth") == [
        "O'er", "the", "hills", "to-night", ",", "th", "'", "earth",
    ]  # fmt: skip
    assert WordTokenizer.split("Act 3, scene 12 -- well--met 'tis") == [
        "Act", "3", ",", "scene", "12", "-", "-", "well", "-", "-", "met", "'", "tis",
    ]  # fmt: skip
    assert WordTokenizer.split("Καλημέρα κόσμε, snake_case 42nd!") == [
        "Καλημέρα", "κόσμε", ",", "snake", "_", "case", "42", "nd", "!",
    ]  # fmt: skip
    assert WordTokenizer.split("Who's THERE", lowercase=True) == ["who's", "there"]
    assert WordTokenizer.split(" \n\t ") == []


def test_word_decode_hand_example():
    tok = WordTokenizer.from_text(SHAKESPEARE + " ( a [ b ] ) x - y")
    # No space before closing marks, none after opening ones: the line comes back exactly.
    assert tok.decode(tok.encode(SHAKESPEARE)) == SHAKESPEARE
    assert tok.decode(tok.encode("( a [ b ] ) x - y")) == "(a [b]) x - y"


def test_word_count_ordering():
    # Counts: b 3, a 2, c 2, d 1 -> b first, then the tie a/c alphabetically, then d.
    tok = WordTokenizer.from_text("c b a d b a c b")
    assert tok.words == ["<unk>", "b", "a", "c", "d"]
    assert tok.stoi["<unk>"] == 0
    assert tok.itos[1] == "b"
    assert tok.counts == {"b": 3, "a": 2, "c": 2, "d": 1}
    assert tok.vocab_size == 5 == len(tok)
    assert repr(tok) == "WordTokenizer(vocab_size=5, lowercase=False)"
    # Ties break by code point: upper case before lower case, "," before letters.
    assert WordTokenizer.from_text("z y , x Z").words == ["<unk>", ",", "Z", "x", "y", "z"]


def test_word_min_count_and_unk():
    # Counts: the 3, cat 2, dog 1. With min_count=2 "dog" is dropped and becomes <unk>.
    tok = WordTokenizer.from_text("the cat the dog the cat", min_count=2)
    assert tok.words == ["<unk>", "the", "cat"]
    assert tok.counts["dog"] == 1  # counts keep every training word, before the cutoff
    assert tok.encode("the dog") == [1, 0]
    assert tok.tokenize("the dog") == ["the", "<unk>"]
    assert tok.decode([1, 0, 2]) == "the <unk> cat"
    assert tok.unk_rate("the dog") == 0.5
    assert tok.unk_rate("the cat ate the bird") == 2 / 5
    assert tok.unk_rate("") == 0.0
    assert WordTokenizer.from_text("the cat the dog", min_count=3).words == ["<unk>"]


def test_word_lowercase():
    tok = WordTokenizer.from_text("The cat saw the Cat", lowercase=True)
    assert tok.words == ["<unk>", "cat", "the", "saw"]
    assert tok.encode("THE CAT") == [2, 1]
    cased = WordTokenizer.from_text("The cat saw the Cat")
    assert cased.vocab_size == 6
    assert cased.unk_rate("THE CAT") == 1.0


def test_word_custom_unk_is_not_duplicated():
    tok = WordTokenizer.from_text("UNK a UNK", unk="UNK")
    assert tok.words == ["UNK", "a"]


@settings(max_examples=300)
@given(text=word_text, lowercase=st.booleans())
def test_word_split_decode_property(text, lowercase):
    # Built from the text itself, so every word of the text is in the vocabulary.
    tok = WordTokenizer.from_text(text, lowercase=lowercase)
    ids = tok.encode(text)
    assert 0 not in ids
    assert WordTokenizer.split(tok.decode(ids), lowercase) == WordTokenizer.split(text, lowercase)


@settings(max_examples=200)
@given(train=word_text, text=word_text, min_count=st.integers(1, 3))
def test_word_encode_never_raises(train, text, min_count):
    tok = WordTokenizer.from_text(train, min_count=min_count)
    ids = tok.encode(text)
    tokens = tok.tokenize(text)
    assert len(ids) == len(tokens) == len(WordTokenizer.split(text))
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert [tok.itos[i] for i in ids] == tokens
    assert tok.unk_rate(text) == (tokens.count("<unk>") / len(tokens) if tokens else 0.0)


def _ascii_scan(text: str) -> list[str]:
    """An independent splitter for ASCII text: a hand-written scanner, no regular expressions."""
    letters, digits = string.ascii_letters, string.digits
    tokens, i = [], 0
    while i < len(text):
        start = i
        if text[i] in string.whitespace:
            i += 1
            continue
        if text[i] in letters:
            while i < len(text) and text[i] in letters:
                i += 1
                at_joiner = i + 1 < len(text) and text[i] in "'-" and text[i + 1] in letters
                if at_joiner:
                    i += 1
        elif text[i] in digits:
            while i < len(text) and text[i] in digits:
                i += 1
        else:
            i += 1
        tokens.append(text[start:i])
    return tokens


def test_ascii_scanner_hand_example():
    assert _ascii_scan("o'er a-b- c'' 12ab") == ["o'er", "a-b", "-", "c", "'", "'", "12", "ab"]


@settings(max_examples=300)
@given(text=st.text(alphabet=st.sampled_from(string.printable)))
def test_word_split_matches_independent_scanner_on_ascii(text):
    # string.printable holds only the whitespace that both \s and string.whitespace agree on.
    assert WordTokenizer.split(text) == _ascii_scan(text)


def test_word_decode_bad_ids():
    tok = WordTokenizer.from_text("a b c")
    with pytest.raises(ValueError) as excinfo:
        tok.decode([1, 2, 7])
    assert "Id 7" in str(excinfo.value)
    assert "position 2" in str(excinfo.value)
    assert tok.decode(torch.tensor([1, 2, 3])) == "a b c"


@pytest.mark.parametrize("min_count", [0, -1, 1.5, "2", True])
def test_word_min_count_must_be_positive_int(min_count):
    with pytest.raises(ValueError) as excinfo:
        WordTokenizer.from_text("a b", min_count=min_count)
    assert "min_count" in str(excinfo.value)
    assert repr(min_count) in str(excinfo.value)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([], "empty"),
        (["a", "<unk>"], "words[0] must be the unk token '<unk>', got 'a'"),
        (["<unk>", "a", "a"], "Duplicate vocabulary entry 'a' at ids 1 and 2"),
        (["<unk>", ""], "empty string"),
        (["<unk>", None], "None at id 1 is not a string"),
    ],
)
def test_word_constructor_errors(words, expected):
    with pytest.raises(ValueError) as excinfo:
        WordTokenizer(words)
    assert expected in str(excinfo.value)


def test_word_from_text_bad_unk():
    with pytest.raises(ValueError, match="unk must be a non-empty string"):
        WordTokenizer.from_text("a b", unk="")


def test_word_save_load_round_trip(tmp_path):
    text = "Ἀρχὴ ἦν ὁ λόγος. 日本語 (Привет) o'er to-night, THE the 🙂"
    for lowercase in [False, True]:
        tok = WordTokenizer.from_text(text, lowercase=lowercase)
        path = tmp_path / f"words_{lowercase}.json"
        tok.save(path)
        assert json.loads(path.read_text(encoding="utf-8"))["type"] == "word"
        assert "λόγος" in path.read_text(encoding="utf-8")
        loaded = WordTokenizer.load(path)
        assert loaded == tok
        assert loaded.encode(text) == tok.encode(text)
        assert loaded.decode(loaded.encode(text)) == tok.decode(tok.encode(text))
    assert WordTokenizer.from_text(text) != WordTokenizer.from_text(text, lowercase=True)
    assert WordTokenizer.from_text(text) != CharTokenizer.from_text(text)


@pytest.mark.parametrize("tok", [CharTokenizer("ab"), WordTokenizer(["<unk>", "a"])])
def test_encode_and_decode_name_a_wrong_type(tok):
    message = "encode takes a str, got bytes: decode them first, e.g. data.decode('utf-8')."
    with pytest.raises(TypeError, match=re.escape(message)):
        tok.encode(b"ab")  # a file opened in binary mode
    with pytest.raises(TypeError, match=re.escape("encode takes a str, got NoneType.")):
        tok.encode(None)
    with pytest.raises(TypeError, match=re.escape("decode takes a sequence of ids, got NoneType.")):
        tok.decode(None)


def test_save_to_a_folder_names_the_folder(tmp_path):
    message = f"'{tmp_path}' is a folder; give the path of a file to write."
    with pytest.raises(IsADirectoryError, match=re.escape(message)):
        CharTokenizer("ab").save(tmp_path)
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_decode_refuses_booleans_as_ids():
    tok = CharTokenizer("ab")
    with pytest.raises(ValueError, match="Id True at position 0 is not an integer"):
        tok.decode([True])
    with pytest.raises(ValueError, match="is not an integer"):
        tok.decode(torch.tensor([False, True]))
    assert tok.decode(torch.tensor([1, 0])) == "ba"


# --------------------------------------------------------------------------- any tokenizer


def test_tokenizer_from_dict_rebuilds_each_kind_from_its_to_dict():
    from lmcourse.bpe import train_bpe

    text = "the cat, the dog, the cat — café"
    for tok in (CharTokenizer.from_text(text, unk="?"), WordTokenizer.from_text(text),
                train_bpe(text, 262)):  # fmt: skip
        again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))  # through JSON too
        assert type(again) is type(tok) and again == tok
        assert again.encode(text) == tok.encode(text)
    with pytest.raises(ValueError, match=r"my dict is of an unknown type, 'sentencepiece' "
                                         r"\(known: char, word, bpe\)"):  # fmt: skip
        tokenizer_from_dict({"type": "sentencepiece"}, "my dict")
    with pytest.raises(ValueError, match="unknown type, None"):
        tokenizer_from_dict(["a", "b"])


def test_unknown_characters_are_those_a_tokenizer_cannot_encode():
    from lmcourse.bpe import BPETokenizer

    tok = CharTokenizer.from_text("abc")
    assert unknown_characters(tok, "cabbage, café") == ["g", "e", ",", " ", "f", "é"]
    assert unknown_characters(tok, "abcba") == []
    tok.encode("abcba")  # what it calls known, encode takes; the rest, it refuses
    with pytest.raises(ValueError, match=r"Character .g. \(U\+0067\) at position 5"):
        tok.encode("cabbage")
    # these encode any text: nothing is unknown to them
    assert unknown_characters(CharTokenizer.from_text("abc", unk="a"), "xyz") == []
    assert unknown_characters(WordTokenizer.from_text("a b"), "xyz") == []
    assert unknown_characters(BPETokenizer([]), "xyz é") == []
