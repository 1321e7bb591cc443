"""What differs between an expected value and a learner's: the feedback of ``check``.

``describe_difference(expected, got, noun)`` returns ``None`` when the two count as equal,
otherwise one short line that a learner can act on: the first wrong position, the missing or
extra items at the end, a missing dict key, a tensor's wrong shape or dtype. Exercises with
a custom ``compare`` build on it and add hints of their own.
"""

import functools
import itertools
import math
import numbers
import operator
import re
from collections.abc import Mapping
from typing import Any

#: Inputs and values in messages are shortened (with "…") to about this many characters.
REPR_WIDTH = 60

#: Two floats count as equal within these: float32 arithmetic (about 7 significant digits, and
#: PyTorch's default) passes, a wrong formula does not.
FLOAT_REL_TOL, FLOAT_ABS_TOL = 1e-6, 1e-9


def describe_difference(expected: Any, got: Any, noun: str = "items") -> str | None:
    """``None`` when ``got`` counts as equal to ``expected``, otherwise what differs.

    Rules: floats are equal within ``math.isclose(rel_tol=1e-6, abs_tol=1e-9)``, so float32
    results pass (an int is accepted for a float, a numpy scalar for its Python kind); a tuple
    is accepted where a list is expected and vice versa; dicts report a missing key, an
    unexpected key or the first wrong value; tensors and numpy arrays are compared by shape,
    dtype, then values (``rel_tol=1e-5, abs_tol=1e-6``).

    Example::

        >>> describe_difference(["a", "b", "c"], ["a", "b"], "tokens")
        "expected 3 tokens, got 2; yours is missing ['c'] at the end"
        >>> describe_difference([1, 2, 1], [1, 2, 2])
        'position 2: expected 1, got 2'
    """
    mismatch = _type_mismatch(expected, got)
    if mismatch is not None:
        return mismatch
    if _kind(expected) in ("int", "float"):
        return None if _close(expected, got) else f"expected {_short(expected)}, got {_short(got)}"
    if isinstance(expected, Mapping):
        return _dict_difference(expected, got)
    if isinstance(expected, (str, list, tuple)):
        return _sequence_difference(expected, got, noun)
    if _kind(expected) in ("tensor", "numpy array"):
        return _array_difference(expected, got)
    return None if _equal(expected, got) else f"expected {_short(expected)}, got {_short(got)}"


def _kind(value: Any) -> str:
    """A coarse type: values of the same kind are compared item by item."""
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return _kind(value.item())  # a numpy scalar (np.True_, np.int64(3)): its Python kind
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "sequence"  # a tuple is accepted for a list and vice versa
    module = type(value).__module__.split(".")[0]
    if module in ("torch", "numpy") and hasattr(value, "shape") and hasattr(value, "tolist"):
        return "tensor" if module == "torch" else "numpy array"
    return type(value).__qualname__


def _type_mismatch(expected: Any, got: Any) -> str | None:
    kind_expected, kind_got = _kind(expected), _kind(got)
    if kind_expected == kind_got or (kind_expected == "float" and kind_got == "int"):
        return None
    if (as_float := int_as_float(expected, got)) is not None:  # e.g. a count from a / b
        return as_float
    if isinstance(expected, Mapping) and isinstance(got, Mapping):
        return None  # a Counter or defaultdict is a fine dict
    return f"expected {_a(expected)}, got {_a(got)}{_conversion_hint(expected, got)}"


def int_as_float(expected: int, got: Any) -> str | None:
    """The message for the right whole number returned as a float (``n_embd / n_head`` makes
    one), or None when ``got`` is not that."""
    if _kind(expected) != "int" or _kind(got) != "float" or not math.isfinite(got):
        return None
    if float(got).is_integer() and int(got) == expected:
        return (f"expected the int {expected}, got the float {_short(got)} (the right number: "
                "return it as an int)")  # fmt: skip
    return None


def _conversion_hint(expected: Any, got: Any) -> str:
    """How to turn ``got`` into ``expected``'s type, when that is the usual fix."""
    if _kind(expected) != "sequence":
        return ""
    if _kind(got) in ("tensor", "numpy array"):
        return " (return a plain list: x.tolist())"
    if hasattr(got, "__next__"):  # a generator, map, zip...: read once, then empty
        return " (return a list: wrap it in list(...))"
    return ""


def _a(value: Any) -> str:
    """The type of ``value`` with an article: 'a list', 'an int', 'a tensor', 'None'."""
    if value is None:
        return "None"
    kind = _kind(value)
    name = type(value).__name__ if kind in ("sequence", "int", "float") else kind
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def _sequence_difference(expected: Any, got: Any, noun: str) -> str | None:
    n_expected, n_got = len(expected), len(got)
    pairs = enumerate(zip(expected, got, strict=False))  # stops at the shorter
    first = next((i for i, (e, g) in pairs if _item_differs(e, g)), None)
    where = None if first is None else _position_difference(first, expected[first], got[first])
    if n_expected == n_got:
        return where
    message = f"expected {n_expected} {noun}, got {n_got}"
    if where is not None:
        return f"{message}; first difference at {where}"
    if n_got > n_expected:
        return f"{message}; yours continues with {_short(got[n_expected:])} at the end"
    return f"{message}; yours is missing {_short(expected[n_got:])} at the end"


def _item_differs(expected: Any, got: Any) -> bool:
    if isinstance(expected, str) and isinstance(got, str):
        return expected != got  # also stops the recursion on single characters
    return describe_difference(expected, got) is not None


def _position_difference(i: int, expected: Any, got: Any) -> str:
    """Short items are shown whole; long ones by what differs inside them."""
    if len(repr(expected)) <= REPR_WIDTH and len(repr(got)) <= REPR_WIDTH:
        return f"position {i}: expected {_short(expected)}, got {_short(got)}"
    noun = "characters" if isinstance(expected, str) else "items"
    inner = describe_difference(expected, got, noun)
    nested = re.match(r"position (\d+|(?:\[\d+\])+): ", inner)  # a list inside the list
    if nested:
        index = nested[1] if nested[1].startswith("[") else f"[{nested[1]}]"
        return f"position [{i}]{index}: {inner[nested.end() :]}"
    return f"position {i}: {inner}"


def _dict_difference(expected: Mapping[Any, Any], got: Mapping[Any, Any]) -> str | None:
    missing = [key for key in expected if key not in got]
    if missing:
        return _first_of(missing, "missing key")
    unexpected = [key for key in got if key not in expected]
    if unexpected:
        return _first_of(unexpected, "unexpected key")
    for key, value in expected.items():
        difference = describe_difference(value, got[key])
        if difference is not None:
            return f"value for key {_short(key)}: {difference}"
    return None


def _array_difference(expected: Any, got: Any) -> str | None:
    if tuple(expected.shape) != tuple(got.shape):
        return f"expected shape {tuple(expected.shape)}, got shape {tuple(got.shape)}"
    if str(expected.dtype) != str(got.dtype):
        return f"expected dtype {expected.dtype}, got dtype {got.dtype}"
    values_expected, values_got = expected.tolist(), got.tolist()
    for index in itertools.product(*(range(n) for n in expected.shape)):
        e = functools.reduce(operator.getitem, index, values_expected)
        g = functools.reduce(operator.getitem, index, values_got)
        if not _close(e, g, rel_tol=1e-5, abs_tol=1e-6):
            message = f"expected {_short(e)}, got {_short(g)}"
            if len(index) == 1:
                return f"position {index[0]}: {message}"
            return f"at index {index}: {message}" if index else message
    return None


def _close(
    expected: Any, got: Any, rel_tol: float = FLOAT_REL_TOL, abs_tol: float = FLOAT_ABS_TOL
) -> bool:
    if isinstance(expected, float) or isinstance(got, float):
        if math.isnan(expected) and math.isnan(got):
            return True
        return math.isclose(expected, got, rel_tol=rel_tol, abs_tol=abs_tol)
    return _equal(expected, got)


def _equal(expected: Any, got: Any) -> bool:
    try:
        return bool(expected == got)
    except Exception:  # e.g. an object whose == is ambiguous
        return False


def _first_of(keys: list[Any], what: str) -> str:
    """``missing key 'a'`` or ``missing key 'a' (and 2 more)``."""
    more = f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""
    return f"{what} {_short(keys[0])}{more}"


def _short(value: Any) -> str:
    """``repr(value)`` shortened to about ``REPR_WIDTH`` characters."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return _shorten(text)


def _shorten(text: str, width: int = REPR_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
