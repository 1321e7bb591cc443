"""Notebook 11's exercises: the references agree with ``lmcourse.bpe`` and ``lmcourse.lm``,
a learner's right answers pass, typical mistakes are named, and no feedback shows the answer."""

import math
import random
from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from lmcourse.bpe import BPETokenizer, merge_pair, pair_counts, split_text, train_bpe
from lmcourse.exercises import check, describe
from lmcourse.exercises.tokenization import (
    TEXTS,
    _chunks,
    _learn_merges,
    bits_per_character,
    encode_by_replay,
    most_frequent_pair,
)

NOTEBOOK_11 = ["11.most_frequent_pair", "11.encode_by_replay", "11.bits_per_character"]

SPEECH = (
    "ROMEO:\nBut, soft! what light through yonder window breaks?\nIt is the east, and Juliet "
    "is the sun.\n\nJULIET:\nO Romeo, Romeo! wherefore art thou Romeo? 'Tis but thy name.\n"
)
SHORT_TEXTS = [
    SPEECH,
    "the theatre then, the other thee",
    "aaaaaaa aaa aa a",  # runs of one byte: overlapping pairs
    "café naïve — déjà vu 中文 🙂🙂 2024, 1597!",  # bytes of 2, 3 and 4 per character
    *TEXTS,
]


def words_of(text: str, merges=()) -> dict[tuple[int, ...], int]:
    """What ``train_bpe`` counts: each distinct chunk's ids after ``merges``, and its count."""
    words = {}
    for chunk, n in Counter(split_text(text)).items():
        ids = list(chunk.encode("utf-8"))
        for i, pair in enumerate(merges):
            ids = merge_pair(ids, pair, 256 + i)
        words[tuple(ids)] = n
    return words


def random_text(seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("aab  ba\nc,é") for _ in range(rng.randrange(2, 80)))


def train_by_hand(text: str, chunked: bool = True) -> list[tuple[int, int]]:
    """Every merge the text allows, each chosen by ``most_frequent_pair``."""
    merges = []
    while True:
        if chunked:
            words = words_of(text, merges)
        else:
            words = {tuple(encode_by_replay(list(text.encode("utf-8")), merges)): 1}
        pair = most_frequent_pair(words)
        if pair is None:
            return merges
        merges.append(pair)


# --------------------------------------------------------------------------- most_frequent_pair


def test_most_frequent_pair_by_hand():
    assert most_frequent_pair({(5, 6, 7): 1, (6, 7): 3, (5, 6): 1}) == (6, 7)  # 4 against 2
    assert most_frequent_pair({(1, 1, 1): 1, (1, 2): 1}) == (1, 1)  # overlapping: 2 against 1
    assert most_frequent_pair({(4, 9): 1, (4, 2): 1, (7, 1): 1}) == (4, 2)  # a tie: smallest
    assert most_frequent_pair({(6, 1): 1, (6, 1, 6): 1}) == (6, 1)  # not (1, 6) across chunks
    assert most_frequent_pair({}) is None and most_frequent_pair({(104,): 7}) is None


@pytest.mark.parametrize("text", SHORT_TEXTS)
def test_most_frequent_pair_is_train_bpes_first_merge(text):
    assert most_frequent_pair(words_of(text)) == train_bpe(text, 257).merges[0]
    one_chunk = {tuple(text.encode("utf-8")): 1}
    assert most_frequent_pair(one_chunk) == train_bpe(text, 257, pattern=None).merges[0]


@pytest.mark.parametrize("text", SHORT_TEXTS + [random_text(seed) for seed in range(30)])
def test_most_frequent_pair_again_and_again_is_train_bpe(text):
    # every step of training, ties and all, until the text has no pair left
    for chunked in (True, False):
        merges = train_by_hand(text, chunked)
        kwargs = {} if chunked else {"pattern": None}
        assert train_bpe(text, 256 + len(merges), **kwargs).merges == merges
        with pytest.raises(ValueError, match=f"after {len(merges)} merges"):
            train_bpe(text, 257 + len(merges), **kwargs)


@pytest.mark.parametrize("seed", range(20))
def test_most_frequent_pair_counts_what_pair_counts_counts(seed):
    rng = random.Random(seed)
    words = {tuple(rng.choices([1, 2, 3], k=rng.randrange(1, 7))): rng.randint(1, 4)
             for _ in range(rng.randrange(0, 6))}  # fmt: skip
    total = Counter()
    for ids, n in words.items():
        for pair, count in pair_counts(ids).items():
            total[pair] += n * count
    best = max(total.values(), default=None)
    assert most_frequent_pair(words) == min((p for p in total if total[p] == best), default=None)


def test_the_case_texts_are_chunked_as_split_text_chunks_them():
    for text in TEXTS:
        assert _chunks(text) == split_text(text)
        assert _learn_merges(text, 10) == train_bpe(text, 266).merges


# --------------------------------------------------------------------------- encode_by_replay


def test_encode_by_replay_by_hand():
    assert encode_by_replay([1, 2, 3, 1, 2], [(1, 2), (256, 3)]) == [257, 256]
    assert encode_by_replay([7, 7, 7], [(7, 7)]) == [256, 7]  # left to right
    assert encode_by_replay([1, 2, 3], [(2, 3), (1, 2)]) == [1, 256]  # order, not position
    assert encode_by_replay([], [(1, 2)]) == [] and encode_by_replay([5], []) == [5]


@pytest.mark.parametrize("text", SHORT_TEXTS)
def test_encode_by_replay_is_the_lowest_rank_encoder(text):
    # BPETokenizer.encode_chunk merges the learned-first pair again and again (GPT-2's way);
    # replaying the merges in order gives the same ids, on the training text and on new text
    everything = train_bpe(text, 256 + len(train_by_hand(text)))
    for n_merges in (len(everything.merges), len(everything.merges) // 2):
        merges = everything.merges[:n_merges]
        tok = BPETokenizer(merges, pattern=None)
        for chunk in set(split_text(text)) | set(split_text(SPEECH + " ".join(TEXTS))):
            ids = list(chunk.encode("utf-8"))
            assert encode_by_replay(ids, merges) == tok.encode_chunk(chunk)
        chunks = [list(chunk.encode("utf-8")) for chunk in split_text(text)]
        replayed = [i for ids in chunks for i in encode_by_replay(ids, merges)]
        assert replayed == BPETokenizer(merges).encode(text)


@pytest.mark.parametrize("seed", range(200))
def test_encode_by_replay_agrees_with_encode_chunk_for_any_distinct_merges(seed):
    # not only merges that training learned: any list of distinct pairs whose ids exist
    rng = random.Random(seed)
    merges = []
    while len(merges) < rng.randrange(1, 12):
        pair = (rng.choice([97, 98, 99, *range(256, 256 + len(merges))]),
                rng.choice([97, 98, 99, *range(256, 256 + len(merges))]))  # fmt: skip
        if pair not in merges:
            merges.append(pair)
    chunk = "".join(rng.choices("abc", k=rng.randrange(0, 20)))
    expected = BPETokenizer(merges, pattern=None).encode_chunk(chunk)
    assert encode_by_replay(list(chunk.encode()), merges) == expected


# --------------------------------------------------------------------------- bits_per_character


def test_bits_per_character_by_hand():
    assert bits_per_character([math.log(2), math.log(4)], ["to", " be"]) == pytest.approx(0.6)
    assert bits_per_character([math.log(8)], ["abc"]) == pytest.approx(1.0)
    assert bits_per_character([1.0], ["é"]) == pytest.approx(1 / math.log(2))  # 1 char, 2 bytes


def test_bits_per_character_of_one_character_tokens_is_mean_bits_per_token():
    nats = [2.0, 1.0, 0.5, 1.5]
    assert bits_per_character(nats, list("To b")) == pytest.approx(sum(nats) / 4 / math.log(2))


def test_bits_per_character_does_not_care_how_the_text_is_cut():
    # one token "the" for 3 nats, or three tokens for 1 nat each: the same text, the same bits
    assert bits_per_character([3.0, 0.5], ["the", " "]) == pytest.approx(
        bits_per_character([1.0, 1.0, 1.0, 0.5], ["t", "h", "e", " "])
    )


def test_bits_per_character_is_lm_bits_per_character():
    from lmcourse.gpt import GPT, GPTConfig
    from lmcourse.lm import bits_per_character as model_bits_per_character

    tok = train_bpe(SPEECH * 3, 300)
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=128, n_layer=1, n_head=2, n_embd=16)
    model = GPT(config, generator=torch.Generator().manual_seed(11)).eval()
    ids = torch.tensor(tok.encode(SPEECH))
    with torch.no_grad():
        logits = model(ids[None, :-1])[0][0]
    nats = F.cross_entropy(logits.double(), ids[1:], reduction="none").tolist()
    texts = [tok.decode([i]) for i in ids[1:].tolist()]
    expected = model_bits_per_character(model, tok, SPEECH, block_size=128)
    assert bits_per_character(nats, texts) == pytest.approx(expected, rel=1e-5)


# --------------------------------------------------------------------------- right answers


def test_a_learners_right_answers_pass():
    def learner_pair(words):
        counts = Counter()
        for ids, n in words.items():
            for pair, count in pair_counts(ids).items():
                counts[pair] += count * n
        if not counts:
            return None
        best = max(counts.values())
        return sorted(pair for pair, count in counts.items() if count == best)[0]

    def learner_replay(ids, merges):
        for i, pair in enumerate(merges):
            ids = merge_pair(ids, pair, 256 + i)
        return ids

    def learner_bits(token_nats, token_texts):  # float32, as a tensor sum would be
        nats = torch.tensor(token_nats, dtype=torch.float32).sum().item()
        return nats / math.log(2) / len("".join(token_texts))

    assert check("11.most_frequent_pair", learner_pair)
    assert check("11.most_frequent_pair", lambda words: list(learner_pair(words) or []) or None)
    assert check("11.encode_by_replay", learner_replay)
    assert check("11.encode_by_replay", lambda ids, merges: tuple(learner_replay(ids, merges)))
    assert check("11.bits_per_character", learner_bits)


# --------------------------------------------------------------------------- typical mistakes


def pair_counting(weight=lambda n: n, overlap=True, border=False):
    """A learner's pair counts with a choice of slips."""

    def counted(words):
        counts = Counter()
        chunks = {tuple(i for c in words for i in c): 1} if border else words
        for ids, n in chunks.items():
            if overlap:
                for pair in zip(ids, ids[1:]):
                    counts[pair] += weight(n)
            else:  # str.count: two occurrences of a pair cannot share an id
                letters = "".join(map(chr, ids))
                for a, b in set(zip(ids, ids[1:])):
                    counts[a, b] += letters.count(chr(a) + chr(b)) * weight(n)
        return counts

    return counted


def best(counted, key=lambda counts, pair: (-counts[pair], pair)):
    def most_frequent_pair(words):
        counts = counted(words)
        return min(counts, key=lambda pair: key(counts, pair)) if counts else None

    return most_frequent_pair


def test_ties_broken_to_the_largest_or_the_first(feedback):
    largest = best(pair_counting(), lambda c, p: (-c[p], -p[0], -p[1]))
    text = feedback("11.most_frequent_pair", largest)
    assert "for input {(4, 9): 1, (4, 2): 1, (7, 1): 1}: expected (4, 2), got (7, 1)" in text
    assert "the smallest (a, b) wins: compare a first, then b (yours took the largest)" in text

    def most_common(words):
        counts = pair_counting()(words)
        return counts.most_common(1)[0][0] if counts else None

    text = feedback("11.most_frequent_pair", most_common)
    assert "the smallest (a, b) wins: compare a first, then b (yours took the one seen" in text


def test_counting_each_chunk_once(feedback):
    text = feedback("11.most_frequent_pair", best(pair_counting(weight=lambda n: 1)))
    assert "for input {(5, 6, 7): 1, (6, 7): 3, (5, 6): 1}: expected (6, 7), got (5, 6)" in text
    assert "count each pair once per occurrence of its chunk, not once per chunk" in text


def test_not_counting_overlapping_pairs(feedback):
    text = feedback("11.most_frequent_pair", best(pair_counting(overlap=False)))
    assert "for input {(7, 7, 7): 1, (2, 5): 1}" in text
    assert "pairs overlap: in (1, 1, 1) the pair (1, 1) occurs twice" in text


def test_counting_across_chunks(feedback):
    text = feedback("11.most_frequent_pair", best(pair_counting(border=True)))
    assert "pairs are counted only inside a chunk" in text


def test_most_frequent_pair_other_slips(feedback):
    def with_count(words):
        pair = most_frequent_pair(words)
        return None if pair is None else (pair, 1)

    text = feedback("11.most_frequent_pair", with_count)
    assert "return the pair alone, (a, b), without its count" in text

    def no_none(words):
        return most_frequent_pair(words) or ()

    assert "no chunk here has two ids, so there is no pair: return None" in feedback(
        "11.most_frequent_pair", no_none
    )
    text = feedback("11.most_frequent_pair", lambda words: max(pair_counting()(words)))
    assert "for input {}: your function raised ValueError: max() arg is an empty" in text

    def reversed_pair(words):
        pair = most_frequent_pair(words)
        return pair and pair[::-1]

    text = feedback("11.most_frequent_pair", reversed_pair)
    assert "that pair is not two adjacent ids of any chunk, in that order" in text


def replaying(merge=merge_pair, order=lambda n: range(n), first_id=256):
    def encode_by_replay(ids, merges):
        for i in order(len(merges)):
            ids = merge(ids, merges[i], first_id + i)
        return ids

    return encode_by_replay


def right_to_left(ids, pair, new_id):
    return merge_pair(ids[::-1], pair[::-1], new_id)[::-1]


def first_only(ids, pair, new_id):
    j = next((j for j in range(len(ids) - 1) if (ids[j], ids[j + 1]) == tuple(pair)), None)
    return ids if j is None else ids[:j] + [new_id] + ids[j + 2 :]


def no_skip(ids, pair, new_id):  # the merged pair's second id stays
    return [new_id if (a, b) == tuple(pair) else a for a, b in zip(ids, ids[1:])] + ids[-1:]


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (replaying(right_to_left), "scan left to right: in (7, 7, 7) the first two 7s merge"),
        (replaying(order=lambda n: reversed(range(n))), "merges[0] first over the whole"),
        (replaying(first_id=257), "merge i makes the id 256 + i, so merges[0] makes 256"),
        (replaying(first_only), "every occurrence of its pair, not only the first"),
        (replaying(no_skip), "after a merge, skip the pair's second id"),
    ],
)
def test_replay_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("11.encode_by_replay", wrong)


def test_replay_right_to_left_shows_the_overlap_case(feedback):
    text = feedback("11.encode_by_replay", replaying(right_to_left))
    assert "for inputs [7, 7, 7, 7, 7], [(7, 7)]: position 0: expected 256, got 7" in text


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda n, t: sum(n) / math.log(2) / len(t), "that is bits per token: divide by"),
        (lambda n, t: sum(n) / len("".join(t)), "that is in nats"),
        (lambda n, t: sum(n) * math.log(2) / len("".join(t)), "not nats · ln 2"),
        (lambda n, t: sum(n) / math.log10(2) / len("".join(t)), "not log10(2)"),
        (lambda n, t: sum(n) / math.log(2) / len("".join(t).encode()), "not UTF-8 bytes"),
        (
            lambda n, t: sum(x / len(y) for x, y in zip(n, t)) / math.log(2) / len(t),
            "not the mean of each token's bits per character",
        ),
        (lambda n, t: sum(n) / math.log(2), "that is the total in bits"),
        (lambda n, t: len("".join(t)) / (sum(n) / math.log(2)), "upside down"),
    ],
)
def test_bits_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("11.bits_per_character", wrong)


def test_bits_outside_the_tolerance_and_of_the_wrong_type(feedback):
    text = feedback("11.bits_per_character", lambda n, t: bits_per_character(n, t) * (1 + 1e-4))
    assert (
        "for inputs [0.6931471805599453, 1.3862943611198906], ['to', ' be']: expected 0.6" in text
    )
    text = feedback("11.bits_per_character", lambda n, t: torch.tensor(bits_per_character(n, t)))
    assert "expected a float, got a tensor" in text


# --------------------------------------------------------------------------- every exercise


def test_describe_shows_the_signatures():
    signatures = [
        "most_frequent_pair(words: dict[tuple[int, ...], int]) -> tuple[int, int] | None",
        "encode_by_replay(ids: list[int], merges: list[tuple[int, int]]) -> list[int]",
        "bits_per_character(token_nats: list[float], token_texts: list[str]) -> float",
    ]
    for name, signature in zip(NOTEBOOK_11, signatures):
        assert describe(name).startswith(f"{name}: write {signature}\n")
    assert ">>> most_frequent_pair({(5, 6, 7): 1, (6, 7): 3, (5, 6): 1})\n    (6, 7)" in describe(
        NOTEBOOK_11[0]
    )


def test_feedback_never_shows_the_solution_code(solution_hidden):
    attempts = {
        "11.most_frequent_pair": [best(pair_counting(weight=lambda n: 1)), lambda w: (0, 0)],
        "11.encode_by_replay": [replaying(right_to_left), lambda ids, merges: ids],
        "11.bits_per_character": [lambda n, t: sum(n) / len(t), lambda n, t: 42.0],
    }
    for name, wrong in attempts.items():
        solution_hidden(name, wrong)
