"""Tests of lmcourse.lm: loss, deterministic evaluation, the n-gram adapter, the sampler."""

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lmcourse.bpe import train_bpe
from lmcourse.gpt import GPT, GPTConfig
from lmcourse.lm import (
    NGramModule,
    bits_per_character,
    bits_per_token,
    check_ids,
    eval_mode,
    evaluate,
    generate,
    lm_loss,
    model_device,
)
from lmcourse.mlp import MLPLM, MLPConfig, NeuralBigram
from lmcourse.ngram import BOS, EOS, UNK, NGramLM
from lmcourse.tokenizers import CharTokenizer, WordTokenizer

TEXT = (
    "When forty winters shall besiege thy brow,\n"
    "And dig deep trenches in thy beauty's field,\n"
    "Thy youth's proud livery so gazed on now,\n"
    "Will be a tatter'd weed of small worth held:\n"
)
HELD_OUT = "Then being asked, where all thy beauty lies,\n"
TOKENIZER = CharTokenizer.from_text(TEXT + HELD_OUT)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _random_bigram(V, seed=0):
    model = NeuralBigram(V)
    with torch.no_grad():
        model.weight.copy_(torch.randn(V, V, generator=_gen(seed)))
    return model


def _bigram_nll(model, data):
    """-mean log P(data[i+1] | data[i]) straight from the table: windows play no part."""
    log_p = F.log_softmax(model.weight.detach(), dim=-1)
    return -log_p[data[:-1], data[1:]].mean().item()


# ------------------------------------------------------------------------- loss, helpers


def test_lm_loss_is_the_flattened_cross_entropy():
    logits = torch.randn(2, 3, 5, generator=_gen())
    targets = torch.randint(5, (2, 3), generator=_gen(1))
    expected = -F.log_softmax(logits, dim=-1).gather(-1, targets[..., None]).mean()
    torch.testing.assert_close(lm_loss(logits, targets), expected)


def test_eval_mode_restores_the_mode_and_disables_gradients():
    model = nn.Linear(2, 2)
    for mode in (True, False):
        model.train(mode)
        with eval_mode(model):
            assert not model.training and not torch.is_grad_enabled()
        assert model.training is mode and torch.is_grad_enabled()


def test_model_device():
    assert model_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(nn.Identity()) == torch.device("cpu")  # no parameters at all


# ------------------------------------------------------------------------- evaluate


@pytest.mark.parametrize("block_size, batch_size", [(1, 1), (7, 3), (16, 64), (500, 2)])
def test_evaluate_scores_every_prediction_once(block_size, batch_size):
    """A bigram's loss does not depend on the windows, so any cut must give the direct value."""
    data = torch.tensor(TOKENIZER.encode(TEXT))
    model = _random_bigram(TOKENIZER.vocab_size)
    loss = evaluate(model, data, block_size, batch_size)
    assert loss == pytest.approx(_bigram_nll(model, data), rel=1e-5)


def test_evaluate_windows_do_not_overlap_and_cover_the_data():
    data = torch.arange(23) % 5

    class Recorder(NeuralBigram):
        def forward(self, idx, targets=None):
            seen.append((idx.clone(), targets.clone()))
            return super().forward(idx, targets)

    seen = []
    evaluate(Recorder(5), data, block_size=4, batch_size=2)
    assert [tuple(x.shape) for x, _ in seen] == [(2, 4), (2, 4), (1, 4), (1, 2)]  # 22 = 5·4 + 2
    assert torch.equal(torch.cat([x.flatten() for x, _ in seen]), data[:-1])
    assert torch.equal(torch.cat([y.flatten() for _, y in seen]), data[1:])


def test_evaluate_is_deterministic_and_max_batches_takes_the_first():
    data = torch.tensor(TOKENIZER.encode(TEXT))
    model = MLPLM(MLPConfig(TOKENIZER.vocab_size), generator=_gen())
    assert evaluate(model, data, 8) == evaluate(model, data, 8)
    first = evaluate(model, data, 8, batch_size=4, max_batches=1)
    assert first == pytest.approx(model(data[:32].view(4, 8), data[1:33].view(4, 8))[1].item())


def test_evaluate_uses_eval_mode_and_restores_training_mode():
    data = torch.tensor(TOKENIZER.encode(TEXT))
    model = MLPLM(MLPConfig(TOKENIZER.vocab_size, dropout=0.5), generator=_gen())
    model.train()
    a, b = evaluate(model, data, 16), evaluate(model, data, 16)
    assert a == b  # dropout was off
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    evaluate(model, data, 16)
    assert not model.training


def test_bits_per_token_is_nats_over_ln2():
    data = torch.tensor(TOKENIZER.encode(TEXT))
    model = _random_bigram(TOKENIZER.vocab_size)
    assert bits_per_token(model, data, 10) == pytest.approx(evaluate(model, data, 10) / math.log(2))


def test_bits_per_character_of_a_character_model_is_its_bits_per_token():
    model = _random_bigram(TOKENIZER.vocab_size)
    data = torch.tensor(TOKENIZER.encode(HELD_OUT))
    expected = bits_per_token(model, data, 10)
    assert bits_per_character(model, TOKENIZER, HELD_OUT, 10) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["😀abc", "éabc", "日本語", "😀😀", "a😀b"])
def test_bits_per_character_counts_the_characters_of_the_text_not_of_replacement_marks(text):
    # A byte-level first token can be part of a character: the characters after it are the
    # text's, never the U+FFFD marks that decoding the leftover bytes of that character gives.
    from lmcourse.bpe import BPETokenizer

    tok = BPETokenizer([])  # the 256 bytes alone
    model = _random_bigram(256, seed=1)
    ids = tok.encode(text)
    log_p = F.log_softmax(model.weight.detach(), dim=-1)
    bits = -sum(log_p[a, b].item() for a, b in zip(ids, ids[1:])) / math.log(2)
    first = 0 if len(text[0].encode()) > 1 else 1  # a whole first character, or a part of one
    got = bits_per_character(model, tok, text, 8)
    assert got == pytest.approx(bits / (len(text) - first), rel=1e-5)


def test_bits_per_character_of_a_text_of_one_token_is_refused_by_name():
    with pytest.raises(ValueError, match=r"text \(1 characters\) is 1 token"):
        bits_per_character(_random_bigram(TOKENIZER.vocab_size), TOKENIZER, "a", 8)


@pytest.mark.parametrize(
    "tokenizer, text",
    [(WordTokenizer.from_text("the cat sat on the mat"), "a cat"),  # <unk>, and one space
     (WordTokenizer.from_text("the cat sat on the mat"), "the cat\nsat"),  # \n becomes " "
     (CharTokenizer.from_text("abc", unk="a"), "abcxabc")],  # x becomes the stand-in a
)  # fmt: skip
def test_bits_per_character_refuses_tokens_that_do_not_spell_the_text(tokenizer, text):
    # Their bits are those of another text ("<unk> cat"), so per character of this one they
    # mean nothing (with a word tokenizer they came out negative, or divided by zero).
    model = _random_bigram(tokenizer.vocab_size)
    with pytest.raises(ValueError, match=r"does not spell the text back \(decode\(encode"):
        bits_per_character(model, tokenizer, text, 8)


def test_bits_per_character_of_a_bpe_model_sums_each_tokens_bits_over_its_characters():
    # Straight from the table, token by token: -log2 P(next | current) summed over every
    # predicted token, divided by the characters those tokens spell (all but the first token's).
    bpe = train_bpe(TEXT, 300)
    model = _random_bigram(bpe.vocab_size, seed=3)
    ids = bpe.encode(HELD_OUT)
    assert any(len(bpe.decode([i])) > 1 for i in ids)  # some tokens are several characters
    log_p = F.log_softmax(model.weight.detach(), dim=-1)
    bits = -sum(log_p[a, b].item() for a, b in zip(ids, ids[1:])) / math.log(2)
    characters = len(HELD_OUT) - len(bpe.decode(ids[:1]))
    for block_size in (4, 100):  # a bigram's loss does not depend on the windows
        got = bits_per_character(model, bpe, HELD_OUT, block_size)
        assert got == pytest.approx(bits / characters, rel=1e-5)


@pytest.mark.parametrize("block_size, stride", [(8, 1), (8, 6), (20, 13), (500, 7)])
def test_sliding_evaluation_gives_a_finite_context_model_all_of_its_context(block_size, stride):
    """An MLP sees `context` tokens. Once every scored prediction has that many before it in
    its window (block_size - stride >= context - 1), the windows no longer matter: the loss is
    that of one pass over the whole text, where only the first predictions lack context."""
    data = torch.tensor(TOKENIZER.encode(TEXT))
    model = MLPLM(MLPConfig(TOKENIZER.vocab_size, context=3), generator=_gen()).eval()
    with torch.no_grad():
        _, whole = model(data[:-1][None], data[1:][None])  # one window: the whole text
    sliding = evaluate(model, data, block_size, batch_size=5, stride=stride)
    assert sliding == pytest.approx(whole.item(), rel=1e-5)
    if block_size < len(data) - 1:  # windows that do not overlap cut the context: not equal
        assert evaluate(model, data, block_size) != pytest.approx(sliding, rel=1e-5)


def test_sliding_evaluation_with_stride_one_gives_each_prediction_the_full_window():
    """Stride 1: after the first window, prediction i sees exactly the block_size tokens up to
    it; computed here one prediction at a time."""
    gpt = GPT(GPTConfig(vocab_size=7, block_size=6, n_layer=1, n_head=2, n_embd=8)).eval()
    data = torch.randint(7, (30,), generator=_gen())
    T, losses = 6, []
    with torch.no_grad():
        for i in range(len(data) - 1):  # predict data[i + 1]
            context = data[max(0, i + 1 - T) : i + 1]
            logits = gpt(context[None])[0][0, -1]
            losses.append(F.cross_entropy(logits, data[i + 1]).item())
    assert evaluate(gpt, data, T, batch_size=4, stride=1) == pytest.approx(np.mean(losses))


def test_stride_equal_to_block_size_is_the_windows_that_do_not_overlap():
    gpt = GPT(GPTConfig(vocab_size=7, block_size=6, n_layer=1, n_head=2, n_embd=8))
    data = torch.randint(7, (6 * 5 + 1,), generator=_gen())  # 30 predictions: 5 windows
    assert evaluate(gpt, data, 6, stride=6) == pytest.approx(evaluate(gpt, data, 6), rel=1e-6)
    assert bits_per_token(gpt, data, 6, stride=2) == pytest.approx(
        evaluate(gpt, data, 6, stride=2) / math.log(2)
    )


@pytest.mark.parametrize("stride", [0, 9, 2.5, True])
def test_a_stride_outside_1_to_block_size_is_named(stride):
    message = f"stride must be an integer from 1 to block_size, got {stride!r}."
    with pytest.raises(ValueError, match=re.escape(message)):
        evaluate(NeuralBigram(5), torch.arange(20) % 5, 8, stride=stride)


@pytest.mark.parametrize(
    "data, block_size, message",
    [
        (torch.zeros(2, 5, dtype=torch.long), 4, "1-D"),
        (torch.zeros(5), 4, "1-D"),
        (torch.tensor([3]), 4, "at least 2"),
        (torch.arange(5), 0, "block_size"),
    ],
)
def test_evaluate_errors(data, block_size, message):
    with pytest.raises(ValueError, match=message):
        evaluate(NeuralBigram(5), data, block_size)


# ------------------------------------------------------------------------- NGramModule


def _fitted(n=3, **kwargs):
    return NGramLM(n=n, **kwargs).fit([TEXT])


def _direct_nll(lm, text, context_start=0):
    """-mean log P(next char | context), with the n-gram's UNK, BOS and EOS dropped."""
    total = 0.0
    for t in range(len(text) - 1):
        history = [BOS] * (lm.n - 1) + list(text[context_start : t + 1])
        context = history[len(history) - (lm.n - 1) :]
        specials = [s for s in (UNK, BOS, EOS) if s in lm.stoi]  # a unigram model has no BOS
        dropped = sum(lm.prob(special, context) for special in specials)
        total -= math.log(lm.prob(text[t + 1], context) / (1 - dropped))
    return total / (len(text) - 1)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_ngram_module_loss_equals_the_renormalised_ngram_probabilities(n):
    lm = _fitted(n)
    tok = CharTokenizer.from_text(TEXT)
    module = NGramModule(lm, tok)
    ids = torch.tensor(tok.encode(TEXT))
    logits, loss = module(ids[None, :-1], ids[None, 1:])
    assert logits.shape == (1, len(TEXT) - 1, tok.vocab_size)
    assert loss.item() == pytest.approx(_direct_nll(lm, TEXT), rel=1e-5)
    torch.testing.assert_close(logits.exp().sum(-1), torch.ones(1, len(TEXT) - 1))


def test_ngram_module_with_evaluate_restarts_the_context_in_each_window():
    lm = _fitted(3)
    tok = CharTokenizer.from_text(TEXT)
    module = NGramModule(lm, tok)
    ids = torch.tensor(tok.encode(TEXT))
    assert evaluate(module, ids, block_size=len(TEXT)) == pytest.approx(_direct_nll(lm, TEXT))
    # two windows: the second one's context starts (with BOS padding) at its own first token
    half = (len(TEXT) - 1) // 2
    first, second = TEXT[: half + 1], TEXT[half:]
    expected = (_direct_nll(lm, first) * half + _direct_nll(lm, second) * (len(second) - 1)) / (
        len(TEXT) - 1
    )
    assert evaluate(module, ids, block_size=half) == pytest.approx(expected, rel=1e-5)


def test_characters_unknown_to_the_ngram_share_unk():
    lm = _fitted(2)
    tok = CharTokenizer(sorted(set(TEXT)) + ["#", "@"])  # two characters the n-gram never saw
    module = NGramModule(lm, tok)
    idx = torch.tensor([tok.encode("th#")])
    probs = module(idx)[0][0].exp()  # (T, V)
    for t, context in enumerate(["t", "h", UNK]):  # '#' is UNK to the n-gram
        p_unk = lm.prob(UNK, [context])
        z = 1 - lm.prob(BOS, [context]) - lm.prob(EOS, [context])  # UNK is shared, not dropped
        for c in "#@":
            assert probs[t, tok.stoi[c]].item() == pytest.approx(p_unk / 2 / z, rel=1e-5)
        assert probs[t, tok.stoi["e"]].item() == pytest.approx(lm.prob("e", [context]) / z, 1e-5)


def test_ngram_module_has_no_parameters_and_a_helpful_repr():
    module = NGramModule(_fitted(3), TOKENIZER)
    assert list(module.parameters()) == []
    assert "n=3" in repr(module)


def test_ngram_module_generates_like_the_ngram():
    lm = _fitted(3, smoothing="mle")
    tok = CharTokenizer.from_text(TEXT)
    module = NGramModule(lm, tok)
    prompt = torch.tensor([tok.encode("Wh")])
    a = generate(module, prompt, 30, generator=_gen(1), block_size=2)
    b = generate(module, prompt, 30, generator=_gen(1), block_size=2)
    assert torch.equal(a, b) and a.shape == (1, 32)
    # every sampled trigram was seen in training: MLE gives unseen ones probability 0
    sample = tok.decode(a[0])
    assert all(sample[i : i + 3] in TEXT for i in range(len(sample) - 2)), sample
    # greedy: the argmax of the n-gram's own next_token_probs, step by step
    greedy = tok.decode(generate(module, prompt, 10, temperature=0)[0])
    for i in range(2, len(greedy)):
        probs = lm.next_token_probs(list(greedy[i - 2 : i]))
        probs[[lm.stoi[s] for s in (UNK, BOS, EOS)]] = 0
        assert greedy[i] == lm.vocab[int(np.argmax(probs))]


def test_ngram_module_errors():
    with pytest.raises(ValueError, match="not been trained"):
        NGramModule(NGramLM(n=2), TOKENIZER)
    with pytest.raises(TypeError, match="CharTokenizer"):
        NGramModule(_fitted(2), WordTokenizer.from_text(TEXT))
    words = NGramLM(n=2).fit([WordTokenizer.split(TEXT)])
    with pytest.raises(ValueError, match="character model"):
        NGramModule(words, TOKENIZER)


# ------------------------------------------------------------------------- generate


def _cycle_bigram(V, strength=20.0):
    """A bigram that almost surely follows token i with i + 1 (mod V)."""
    model = NeuralBigram(V)
    with torch.no_grad():
        model.weight[torch.arange(V), (torch.arange(V) + 1) % V] = strength
    return model


def test_generate_keeps_the_prompt_and_follows_greedy_argmax():
    model = _cycle_bigram(5, strength=1.0)
    out = generate(model, torch.tensor([[0], [3]]), 6, temperature=0)
    assert out.tolist() == [[0, 1, 2, 3, 4, 0, 1], [3, 4, 0, 1, 2, 3, 4]]
    assert generate(model, torch.tensor([[2, 4]]), 0).tolist() == [[2, 4]]


def test_seeded_generate_is_deterministic():
    model = MLPLM(MLPConfig(vocab_size=9), generator=_gen())
    prompt = torch.zeros(3, 2, dtype=torch.long)
    a = generate(model, prompt, 20, generator=_gen(5))
    assert torch.equal(a, generate(model, prompt, 20, generator=_gen(5)))
    assert not torch.equal(a, generate(model, prompt, 20, generator=_gen(6)))


def test_generate_samples_from_softmax_of_logits_over_temperature():
    model = NeuralBigram(3)
    with torch.no_grad():
        model.weight[0] = torch.tensor([0.0, math.log(2), math.log(7)])  # P = 0.1, 0.2, 0.7
    prompt = torch.zeros(20_000, 1, dtype=torch.long)
    for temperature, expected in [(1.0, [0.1, 0.2, 0.7]), (0.5, [1 / 54, 4 / 54, 49 / 54])]:
        out = generate(model, prompt, 1, temperature=temperature, generator=_gen(2))[:, 1]
        share = torch.bincount(out, minlength=3) / len(out)
        torch.testing.assert_close(share, torch.tensor(expected), atol=0.01, rtol=0)


def test_generate_crops_the_context_to_block_size():
    class Short(NeuralBigram):
        def forward(self, idx, targets=None):
            assert idx.shape[1] <= 4, idx.shape
            return super().forward(idx, targets)

    out = generate(Short(6), torch.zeros(1, 10, dtype=torch.long), 5, block_size=4)
    assert out.shape == (1, 15)
    with pytest.raises(AssertionError):
        generate(Short(6), torch.zeros(1, 10, dtype=torch.long), 1)


def test_generate_restores_training_mode():
    model = MLPLM(MLPConfig(vocab_size=5, dropout=0.1), generator=_gen())
    generate(model, torch.zeros(1, 1, dtype=torch.long), 3, generator=_gen())
    assert model.training


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_new_tokens": -1}, "max_new_tokens"),
        ({"max_new_tokens": 2.0}, "max_new_tokens"),
        ({"temperature": -0.5}, "temperature"),
        ({"temperature": math.inf}, "temperature"),
        ({"block_size": 0}, "block_size"),
        ({"idx": torch.zeros(3, dtype=torch.long)}, "idx"),
        ({"idx": torch.zeros(1, 2)}, "idx"),
    ],
)
def test_generate_errors(kwargs, message):
    arguments = {"idx": torch.zeros(1, 1, dtype=torch.long), "max_new_tokens": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(NeuralBigram(3), **arguments)


# ------------------------------------------------------------------ the token after a text


def test_next_token_logits_are_the_last_position_of_the_last_window():
    from lmcourse.gpt import GPT, GPTConfig
    from lmcourse.lm import next_token_logits

    tokenizer = CharTokenizer("abcdefgh\n")
    model = GPT(GPTConfig(tokenizer.vocab_size, 4, 1, 1, 8), torch.Generator().manual_seed(0))
    model.train()  # next_token_logits evaluates in eval mode and gives the mode back
    text = "abcdefg"  # longer than the context of 4: the model sees "defg"
    logits = next_token_logits(model, tokenizer, text)
    with torch.no_grad():
        expected = model.eval()(torch.tensor([tokenizer.encode("defg")]))[0][0, -1]
    model.train()
    assert logits.shape == (tokenizer.vocab_size,) and logits.device.type == "cpu"
    assert torch.allclose(logits, expected)
    assert model.training


@pytest.mark.parametrize(
    "text, message",
    [("abz!", r"outside the model's vocabulary: 'z', '!'"), ("", "The prompt is empty")],
)
def test_prompt_ids_name_what_is_wrong(text, message):
    from lmcourse.lm import prompt_ids

    tokenizer = CharTokenizer("abc")
    with pytest.raises(ValueError, match=message):
        prompt_ids(nn.Linear(1, 1), tokenizer, text)
    assert prompt_ids(nn.Linear(1, 1), tokenizer, "cab").tolist() == [tokenizer.encode("cab")]


# --------------------------------------------------------------------------- bad token ids


def _models(V=7):
    from lmcourse.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    return {
        "GPT": GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=1, n_embd=8)),
        "MLPLM": MLPLM(MLPConfig(vocab_size=V, context=3, embedding_dim=2, hidden_size=4)),
        "NeuralBigram": NeuralBigram(V),
    }


@pytest.mark.parametrize("name", ["GPT", "MLPLM", "NeuralBigram"])
@pytest.mark.parametrize(
    "idx, message",
    [
        (
            torch.tensor([[1, 7]]),
            r"idx must be ids in \[0, 7\) \(the model's vocab_size\), got 1..7",
        ),
        (torch.tensor([[-1, 2]]), r"idx must be ids in \[0, 7\).*got -1..2"),
        (torch.tensor([1, 2]), r"idx must be a \(B, T\) torch.long tensor.*\(2,\)"),
        (torch.tensor([[1.0, 2.0]]), r"idx must be a \(B, T\) torch.long tensor.*torch.float32"),
        ([[1, 2]], r"idx must be a \(B, T\) tensor of token ids, got list"),
    ],
)
def test_bad_ids_are_named_by_every_model(name, idx, message):
    # an id equal to V is the MLP's start row and a negative id wraps around in the bigram
    # table: without the check both would give logits, silently
    with pytest.raises(ValueError, match=message):
        _models()[name](idx)


@pytest.mark.parametrize("name", ["GPT", "MLPLM", "NeuralBigram"])
def test_bad_targets_are_named(name):
    model, idx = _models()[name], torch.tensor([[1, 2, 3]])
    with pytest.raises(
        ValueError, match=r"targets must have shape \(1, 3\) \(idx's\), got \(1, 2\)"
    ):
        model(idx, torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match=r"targets must be ids in \[0, 7\).*got 1..9"):
        model(idx, torch.tensor([[1, 2, 9]]))


def test_check_ids_accepts_int32_and_checks_the_range_only_when_asked():
    check_ids(torch.tensor([[0, 6]], dtype=torch.int32), 7)
    check_ids(torch.tensor([[0, 99]]))  # no vocab_size: shape and dtype only
    with pytest.raises(ValueError, match=r"must be ids in \[0, 7\)"):
        check_ids(torch.tensor([[0, 99]]), 7)


# ------------------------------------------------------------------------- bad input, by name


@pytest.mark.parametrize("max_batches", [0, -1, 1.5, True])
def test_evaluate_names_a_bad_max_batches(max_batches):
    # 0 or -1 used to divide by no predictions at all: ZeroDivisionError from Python
    data = torch.tensor(TOKENIZER.encode(TEXT))
    with pytest.raises(ValueError, match=r"max_batches must be an integer >= 1 or None, got"):
        bits_per_token(_random_bigram(TOKENIZER.vocab_size), data, 8, max_batches=max_batches)


def test_evaluate_checks_the_device_as_the_rest_of_the_package_does():
    model, data = _random_bigram(TOKENIZER.vocab_size), torch.tensor(TOKENIZER.encode(TEXT))
    with pytest.raises(ValueError, match=r"Unknown device 'gpu'; use one of cuda, mps, cpu"):
        evaluate(model, data, 8, device="gpu")  # not torch's list of twenty device types
    if not torch.cuda.is_available():  # not "Torch not compiled with CUDA enabled"
        with pytest.raises(ValueError, match=r"'cuda' was asked for but is not available"):
            bits_per_token(model, data, 8, device="cuda")
    assert evaluate(model, data, 8, device="cpu") == pytest.approx(evaluate(model, data, 8))


@pytest.mark.parametrize("data", ["ROMEO: hello", b"ROMEO", list("ROMEO")])
def test_evaluate_says_to_encode_a_text_first(data):
    # used to be torch's "new(): invalid data type 'str'"
    with pytest.raises(TypeError, match=r"data must be token ids .* encode a text with a tok"):
        bits_per_token(_random_bigram(TOKENIZER.vocab_size), data, 4)


def test_a_block_size_beyond_the_models_context_is_named_as_block_size():
    # used to be the model's "idx has 10 tokens, more than the model's context": no idx passed
    gpt = GPT(GPTConfig(vocab_size=TOKENIZER.vocab_size, block_size=6, n_layer=1, n_head=2,
                        n_embd=8))  # fmt: skip
    message = r"block_size 10 is more than the model's context \(6\)"
    with pytest.raises(ValueError, match=message):
        bits_per_token(gpt, torch.tensor(TOKENIZER.encode(TEXT)), 10)
    with pytest.raises(ValueError, match=message):
        bits_per_character(gpt, TOKENIZER, TEXT, 10)
    assert bits_per_character(gpt, TOKENIZER, TEXT, 6) > 0  # the model's own context works
