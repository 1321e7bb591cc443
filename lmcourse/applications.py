"""Tasks as text: translation, summarisation and question answering as conditional generation.

A language model learns ``p(next token | tokens before)``. Write a task as text, a *prompt*
followed by its *answer*, and the same model learns ``p(answer | prompt)``:

    p(y | x) = Π_t p(y_t | x, y_<t)

GPT-2 was shown tasks this way ("english sentence = french sentence", "TL;DR:", "Q: ... A:").
Here the three tasks are small and built from the plays by rules, so a program can check every
answer and a CPU can learn them in minutes:

- **translate**: a line with its archaic words modernised (``ARCHAIC``: thou -> you, hath -> has);
- **summarise**: a line cut to its content words (sentence compression by deletion);
- **answer**: two speeches and a cloze question (a line cut before one of its words, as in the
  CNN/Daily Mail reading-comprehension set); the answer is the missing word.
  (``question_examples`` asks a harder question, "who said <word>?", answered by a name.)

Each example is written like a scene of a play, so the prompt looks like the corpus::

    OLD:                      LINE:                         ROMEO: Is she a Capulet?
    Thou art mad.             Now, fair Hippolyta,          Nurse: The son and heir.
    NEW:                      GIST:                         Q: The son and ...
    You are mad.              fair Hippolyta                A: heir

Training scores only the answer's characters (``encode_examples`` sets the prompt's targets to
``IGNORE``, which the loss skips): the model is not asked to predict the prompt.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn

from lmcourse.lm import IGNORE, eval_mode, model_device
from lmcourse.sampling import stream
from lmcourse.utils import is_int

END = "\n"  # every answer ends with a newline
TASKS = ("translate", "summarise", "answer")

# One word -> its modern form; two-word phrases first, since "art" alone is often a noun.
ARCHAIC_PHRASES = {"thou art": "you are", "art thou": "are you"}
ARCHAIC = {
    "thou": "you", "thee": "you", "thy": "your", "thine": "your", "ye": "you",
    "hast": "have", "hath": "has", "doth": "does", "dost": "do", "shalt": "shall",
    "wilt": "will", "canst": "can", "wouldst": "would", "couldst": "could",
    "shouldst": "should", "'tis": "it is", "'twas": "it was", "ere": "before", "oft": "often",
    "nay": "no", "whither": "where", "wherefore": "why", "hither": "here",
    "thither": "there", "prithee": "please", "o'er": "over", "ne'er": "never",
    "methinks": "I think", "wast": "were", "wert": "were", "hadst": "had", "didst": "did",
    "mayst": "may",
}  # fmt: skip

# The prompt of each task, for the example builders and for lmcourse.widgets.TaskPlayground.
PROMPTS = {
    "translate": "OLD:\n{line}\nNEW:\n",
    "summarise": "LINE:\n{line}\nGIST:\n",
    "answer": "{passage}\nQ: {question} ...\nA: ",  # passage: "NAME: line" speeches, one a line
}

# a word, with its inner or leading apostrophe: kill'd, 'tis, o'er
WORD = re.compile(r"'?[A-Za-z]+(?:'[A-Za-z]+)*")


@dataclass(frozen=True)
class Example:
    """One task instance: ``prompt + answer + END`` is the text the model trains on."""

    task: str
    prompt: str
    answer: str

    @property
    def text(self) -> str:
        return self.prompt + self.answer + END


# --------------------------------------------------------------------------- the three rules


def _same_case(word: str, new: str) -> str:
    """``new`` capitalised like ``word``'s first letter: Thou -> You, 'Tis -> It is."""
    return new[0].upper() + new[1:] if word.lstrip("'")[:1].isupper() else new


def modernise(line: str) -> str:
    """The reference translation: ``ARCHAIC_PHRASES`` first, then each ``ARCHAIC`` word.

    Example::

        >>> modernise("Thou art mad; 'tis true, and hath been.")
        'You are mad; it is true, and has been.'
    """
    for old, new in ARCHAIC_PHRASES.items():
        line = re.sub(rf"\b{old}\b", lambda m, new=new: _same_case(m.group(0), new), line,
                      flags=re.IGNORECASE)  # fmt: skip
    return WORD.sub(lambda m: _same_case(m.group(0), ARCHAIC.get(m.group(0).lower(),
                                                                 m.group(0))), line)  # fmt: skip


def _check_text(text: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str (a text from lmcourse.data.load_text), got "
                        f"{type(text).__name__}.")  # fmt: skip


def common_words(text: str, k: int = 100) -> set[str]:
    """The ``k`` most frequent words of ``text``, lower-cased: the stop words of ``gist``."""
    _check_text(text)
    if not is_int(k) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}.")
    return {w for w, _ in Counter(w.lower() for w in WORD.findall(text)).most_common(k)}


def check_stop_words(stop_words) -> set[str]:
    """``stop_words`` as a set; a TypeError for a str (a set of characters) or a non-word.

    Example: ``check_stop_words("the and".split())`` is ``{"the", "and"}``.
    """
    if isinstance(stop_words, str) or not hasattr(stop_words, "__iter__"):
        given = "a str" if isinstance(stop_words, str) else type(stop_words).__name__
        raise TypeError(f"stop_words must be a set of words, e.g. common_words(text) or "
                        f"'the and'.split(), got {given}: {stop_words!r}.")  # fmt: skip
    for word in stop_words:
        if not isinstance(word, str):
            raise TypeError(f"stop_words must be a set of words (str), got {word!r} in it.")
    return set(stop_words)


def gist(line: str, stop_words: set[str]) -> str:
    """The reference summary: the line's words that are not stop words, in order.

    Example::

        >>> gist("Now, fair Hippolyta, our nuptial hour", {"now", "our"})
        'fair Hippolyta nuptial hour'
    """
    stop_words = check_stop_words(stop_words)
    return " ".join(w for w in WORD.findall(line) if w.lower() not in stop_words)


# --------------------------------------------------------------------------- examples


def speeches(text: str) -> list[tuple[str, list[str]]]:
    """``(speaker, lines)`` for each ``SPEAKER:`` block of a text from ``lmcourse.data``."""
    _check_text(text)
    out = []
    for block in text.split("\n\n"):
        speaker, colon, body = block.strip("\n").partition(":\n")
        if colon and body:
            out.append((speaker, body.split("\n")))
    return out


def _pick(items: list, n: int | None, generator: torch.Generator | None) -> list:
    """``n`` items (all of them if fewer, or if None) in a random order drawn from ``generator``."""
    order = torch.randperm(len(items), generator=generator)[:n].tolist()
    return [items[i] for i in order]


def translation_examples(lines: list[str], n: int, generator=None) -> list[Example]:
    """Up to ``n`` lines that ``modernise`` changes, each with its modern form."""
    changed = [line for line in lines if modernise(line) != line]
    return [Example("translate", PROMPTS["translate"].format(line=line), modernise(line))
            for line in _pick(changed, n, generator)]  # fmt: skip


def summary_examples(lines: list[str], n: int, stop_words: set[str], generator=None):
    """Up to ``n`` lines with at least one content word, each with its ``gist``."""
    kept = [line for line in lines if gist(line, stop_words)]
    return [Example("summarise", PROMPTS["summarise"].format(line=line), gist(line, stop_words))
            for line in _pick(kept, n, generator)]  # fmt: skip


def _distinct_word(first: str, second: str, generator) -> tuple[str, bool] | None:
    """A word of 4+ letters in exactly one line, and whether it is in the first."""
    a, b = ({w for w in WORD.findall(s) if len(w) >= 4 and w.isalpha()} for s in (first, second))
    only = sorted(a ^ b)
    if not only:
        return None
    word = only[int(torch.randint(len(only), (1,), generator=generator))]
    return word, word in a


def _speech_pairs(turns, max_chars: int, max_name: int) -> list[tuple[tuple[str, str], ...]]:
    """The first lines of each two consecutive speeches by different speakers, if short."""
    return [((a, la[0]), (b, lb[0])) for (a, la), (b, lb) in zip(turns, turns[1:])
            if a != b and max(len(la[0]), len(lb[0])) <= max_chars
            and max(len(a), len(b)) <= max_name]  # fmt: skip


def cloze_examples(turns, n: int, max_chars: int, generator=None,
                   max_name: int = 12) -> list[Example]:  # fmt: skip
    """Up to ``n`` cloze questions: a line of two speeches, cut before a word, asks for it.

    The word has 3+ letters and is not the line's first; the line up to it (the question) is
    found once in the two speeches, so there is one right answer. The reader must find where
    the question's words are, and copy the word that follows them.

    Args:
        turns: ``speeches(text)``; each speech gives its first line.
        max_chars: the longest first line kept; ``max_name``: the longest speaker's name.
    """
    examples = []
    for (a, la), (b, lb) in _pick(_speech_pairs(turns, max_chars, max_name), None, generator):
        line = (la, lb)[int(torch.randint(2, (1,), generator=generator))]
        words = [m for m in WORD.finditer(line)
                 if m.start() > 0 and len(m.group()) >= 3 and m.group().isalpha()]  # fmt: skip
        if not words:
            continue
        word = words[int(torch.randint(len(words), (1,), generator=generator))]
        question = line[: word.start()].rstrip()
        if f"{la}\n{lb}".count(question) == 1:
            prompt = PROMPTS["answer"].format(passage=f"{a}: {la}\n{b}: {lb}", question=question)
            examples.append(Example("answer", prompt, word.group()))
        if len(examples) == n:
            break
    return examples


def question_examples(turns, n: int, max_chars: int, generator=None,
                       max_name: int = 12) -> list[Example]:  # fmt: skip
    """Up to ``n`` questions "who said <word>?" about two consecutive speeches.

    Args:
        turns: ``speeches(text)``; each speech gives its first line.
        max_chars: the longest first line kept; ``max_name``: the longest speaker's name.
    """
    examples = []
    for (a, la), (b, lb) in _pick(_speech_pairs(turns, max_chars, max_name), None, generator):
        found = _distinct_word(la, lb, generator)
        if found is not None:
            word, in_first = found
            prompt = f"{a}: {la}\n{b}: {lb}\nWHO SAID {word}?\n"
            examples.append(Example("answer", prompt, a if in_first else b))
        if len(examples) == n:
            break
    return examples


def task_examples(text: str, n: int, stop_words: set[str], max_chars: int = 30,
                  generator: torch.Generator | None = None) -> list[Example]:  # fmt: skip
    """Up to ``n`` examples of each task from ``text``, shuffled together.

    Args:
        text: a text from ``lmcourse.data.load_text`` (``SPEAKER:`` blocks), e.g. one split.
        n: examples per task.
        stop_words: for ``gist``, e.g. ``common_words(train_text)``.
        max_chars: the longest line used, which bounds the examples' length.
        generator: draws the lines and the questions' words.
    """
    for name, value in (("n", n), ("max_chars", max_chars)):
        if not is_int(value) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    stop_words = check_stop_words(stop_words)
    turns = speeches(text)
    lines = sorted({line for _, body in turns for line in body if 8 <= len(line) <= max_chars})
    examples = (translation_examples(lines, n, generator)
                + summary_examples(lines, n, stop_words, generator)
                + cloze_examples(turns, n, max_chars, generator))  # fmt: skip
    return _pick(examples, len(examples), generator)


# --------------------------------------------------------------------------- training rows


def encode_examples(examples: list[Example], tokenizer, block_size: int):
    """One row per example: the inputs, and targets that score only the answer.

    Row of ``text = prompt + answer + END``, ids ``t_0 .. t_n``: ``idx = t_0 .. t_(n-1)`` and
    ``targets = t_1 .. t_n`` with every target inside the prompt set to ``IGNORE``; both padded
    to the longest row, W tokens (``idx`` with id 0, ``targets`` with ``IGNORE``). The prompt
    and the answer are encoded apart, so that with BPE no token spans the two: the model learns
    the answer's first token right after the prompt's own ids, as ``complete`` asks for it.

    Example: prompt "ab", answer "c": text "abc\\n"; idx "abc", targets [IGNORE, "c", "\\n"].

    Args:
        block_size: the model's context: an example longer than it is refused.

    Shapes:
        idx, targets: (N, W) long, W <= block_size.
    """
    if not examples:
        raise ValueError("no examples to encode: pass at least one Example.")
    prompts = [tokenizer.encode(e.prompt) for e in examples]
    encoded = [(ids + tokenizer.encode(e.answer + END), len(ids))  # (a row's ids, its prompt's)
               for ids, e in zip(prompts, examples)]  # fmt: skip
    for (ids, _), example in zip(encoded, examples):
        if len(ids) > block_size + 1:
            raise ValueError(f"this {example.task} example has {len(ids)} tokens, more than "
                             f"block_size + 1 = {block_size + 1}: {example.text!r}")  # fmt: skip
    W = max(len(ids) for ids, _ in encoded) - 1
    idx = torch.zeros(len(examples), W, dtype=torch.long)  # (N, W)
    targets = torch.full((len(examples), W), IGNORE, dtype=torch.long)  # (N, W)
    for row, (ids, n_prompt) in enumerate(encoded):
        idx[row, : len(ids) - 1] = torch.tensor(ids[:-1])
        targets[row, n_prompt - 1 : len(ids) - 1] = torch.tensor(ids[n_prompt:])
    return idx, targets


# --------------------------------------------------------------------------- answering


@torch.no_grad()
def complete(model: nn.Module, tokenizer, prompt: str, max_new_tokens: int = 48) -> str:
    """The greedy answer to ``prompt``: the most likely token, again and again, until ``END``.

    Returns the answer without ``END`` (cut at ``max_new_tokens`` tokens if it never comes).
    """
    if not prompt:
        raise ValueError("the prompt is empty: an answer needs a question to follow.")
    end = tokenizer.encode(END)
    idx = torch.tensor([tokenizer.encode(prompt)], device=model_device(model))  # (1, T)
    answer = []
    with eval_mode(model):
        for token in stream(model, idx, max_new_tokens, temperature=0.0):  # (1, 1) each
            if token.item() in end:
                break
            answer.append(token.item())
    return tokenizer.decode(answer)


def edit_distance(a: str, b: str) -> int:
    """The fewest insertions, deletions and substitutions of characters that turn a into b.

    Levenshtein's recurrence over prefixes, one row at a time:
    ``d[i][j] = min(d[i-1][j] + 1, d[i][j-1] + 1, d[i-1][j-1] + (a[i-1] != b[j-1]))``.

    Example: kitten -> sitting is k->s, e->i and +g::

        >>> edit_distance("kitten", "sitting")
        3
    """
    row = list(range(len(b) + 1))  # d[0][j] = j: insert the first j characters of b
    for i, x in enumerate(a, start=1):
        previous, row[0] = row[0], i  # previous holds d[i-1][j-1]
        for j, y in enumerate(b, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def char_error_rate(prediction: str, reference: str) -> float:
    """Edits per reference character: ``edit_distance / len(reference)`` (0 is perfect)."""
    if not reference:
        raise ValueError("the reference is empty: no error rate per character.")
    return edit_distance(prediction, reference) / len(reference)


def score(predictions: list[str], examples: list[Example]) -> dict[str, dict[str, float]]:
    """Per task: ``exact`` (the fraction of answers right to the character) and ``cer``
    (the mean ``char_error_rate``), and ``n``, the number of examples."""
    if len(predictions) != len(examples):
        raise ValueError(f"{len(predictions)} predictions for {len(examples)} examples.")
    table = {}
    for task in TASKS:
        pairs = [(p, e.answer) for p, e in zip(predictions, examples) if e.task == task]
        if pairs:
            table[task] = {
                "exact": sum(p == r for p, r in pairs) / len(pairs),
                "cer": sum(char_error_rate(p, r) for p, r in pairs) / len(pairs),
                "n": len(pairs),
            }
    return table
