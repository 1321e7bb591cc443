"""Checked exercises: run a learner's function on reference cases and say what differs.

A notebook cell asks the learner to write a function, then checks it::

    from lmcourse.exercises import check, describe

    describe("01.encode")          # the task and one example call

    def encode(text, vocab):
        return [vocab.index(char) for char in text]

    check("01.encode", encode)  # ✓ 01.encode: all 7 cases pass.

How the feedback is shown: ``check`` prints nothing and returns a ``CheckResult`` whose
``repr`` is the feedback, so a notebook shows it exactly once when ``check(...)`` is the last
line of a cell (elsewhere, write ``print(check(...))``). ``bool(result)`` is ``result.passed``,
so ``assert check(...)`` works in scripts and tests.

Promises to the learner:

- ``check`` never raises because of the learner's function: an exception, a wrong number of
  parameters, an untouched stub (``...`` or ``raise NotImplementedError``) or a missing
  ``return`` each become one line of feedback. (A misspelt exercise name is the notebook
  author's mistake and raises ``ValueError`` listing the known names.)
- The feedback shows inputs and expected outputs, never the reference solution's code.
  ``show_solution(name)`` prints that code, but only when someone asks for it explicitly.
- Every call gets a fresh deep copy of its arguments, so a function that changes its input
  cannot change the cases that follow.

What differs between an expected and a returned value is worked out by
``lmcourse.exercises.difference``.
"""

import ast
import copy
import difflib
import inspect
import re
import textwrap
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lmcourse.exercises.difference import _a, _kind, _short, _shorten, describe_difference

#: At most this many failing cases are described; the rest are counted.
MAX_REPORTED = 3

_NOT_IMPLEMENTED = (
    "not implemented yet: replace the `...`/`raise NotImplementedError` with your code"
)
_NO_RESULT = "(is a `return` missing?)"
_NONE_EVERYWHERE = (
    "your function returned None in every case: is a `return` missing? (print shows a value; "
    "only `return` hands it back)"
)
_RAISED_NOT_IMPLEMENTED = "your function raised NotImplementedError"
_NAME_PATTERN = re.compile(r"^\d\d\.[A-Za-z_]\w*$")  # 01.encode


class Text(str):
    """A string that a notebook shows as plain text: real line breaks and no quotes."""

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Exercise:
    """One checked exercise: a task, a reference solution and the cases it is checked on.

    Args:
        name: ``"NN.function"``, the notebook number and the function the learner writes,
            e.g. ``"01.encode"``.
        prompt: the task in one paragraph, shown by ``describe(name)``.
        solution: the reference function; its outputs are the expected outputs.
        cases: the argument tuples to call both functions with, or a function returning
            them (for example cases generated from a seeded ``random.Random``).
        noun: what the items of the output are called in feedback: "expected 3 tokens, got 4".
        compare: ``compare(expected, got)`` returns ``None`` when ``got`` is right, otherwise a
            message; the default is ``describe_difference`` with ``noun``.
        signature: how the call is shown, e.g. ``"split(data, val_fraction)"``; by default
            the reference solution's name and signature.
    """

    name: str
    prompt: str
    solution: Callable[..., Any]
    cases: tuple[tuple[Any, ...], ...] | Callable[[], Iterable[tuple[Any, ...]]]
    noun: str = "items"
    compare: Callable[[Any, Any], str | None] | None = None
    signature: str | None = None

    def __post_init__(self) -> None:
        if not _NAME_PATTERN.match(self.name):
            raise ValueError(f"Exercise name must look like '01.encode', got {self.name!r}.")
        if not callable(self.solution):
            raise ValueError(f"Exercise solution must be callable, got {self.solution!r}.")
        if not self.noun:
            raise ValueError(f"Exercise noun must be a non-empty word, got {self.noun!r}.")

    def case_list(self) -> list[tuple[Any, ...]]:
        """The cases as a list of argument tuples (calling ``cases`` when it is a function)."""
        cases = self.cases() if callable(self.cases) else self.cases
        cases = [tuple(args) for args in cases]
        if not cases:
            raise ValueError(f"Exercise {self.name!r} has no cases.")
        return cases

    def call_signature(self) -> str:
        """The call the learner's function must take: ``vocabulary(text: str) -> list[str]``."""
        if self.signature is not None:
            return self.signature
        try:
            parameters = inspect.signature(self.solution, eval_str=True)
        except NameError:  # an annotation names a module imported for type checkers only
            parameters = _unquoted(inspect.signature(self.solution))
        except (TypeError, ValueError):
            return f"{self.solution.__name__}(...)"
        return f"{self.solution.__name__}{parameters}"


def _unquoted(signature: inspect.Signature) -> inspect.Signature:
    """``signature`` with its string annotations shown as written: ``x: torch.Tensor``."""

    def shown(annotation: Any) -> Any:
        return Text(annotation) if isinstance(annotation, str) else annotation

    parameters = [p.replace(annotation=shown(p.annotation)) for p in signature.parameters.values()]
    return signature.replace(
        parameters=parameters, return_annotation=shown(signature.return_annotation)
    )


@dataclass(frozen=True, repr=False)
class CheckResult:
    """What ``check`` found: its ``repr`` is the feedback and ``bool(result)`` is ``passed``.

    Args:
        name: the exercise's name.
        passed: whether every case passed.
        messages: the feedback, one line each; the first line is the verdict.
    """

    name: str
    passed: bool
    messages: list[str]

    def __repr__(self) -> str:
        return "\n".join(self.messages)

    __str__ = __repr__

    def __bool__(self) -> bool:
        return self.passed


# --------------------------------------------------------------------------- registry

_EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Add ``exercise`` to the registry (re-importing its module replaces it) and return it."""
    old = _EXERCISES.get(exercise.name)
    if old is not None and old.solution.__module__ != exercise.solution.__module__:
        raise ValueError(
            f"Exercise {exercise.name!r} is already registered by {old.solution.__module__}."
        )
    _EXERCISES[exercise.name] = exercise
    return exercise


def names() -> list[str]:
    """The names of all registered exercises, sorted."""
    return sorted(_EXERCISES)


def get(name: str) -> Exercise:
    """The registered exercise called ``name``; an unknown name raises ``ValueError``.

    The error lists the known exercises of the same notebook (``01.`` for ``01.vocab``), or all
    of them when that notebook has none, and suggests the closest name.
    """
    if name in _EXERCISES:
        return _EXERCISES[name]
    prefix = str(name).split(".")[0] + "."
    known = [known for known in names() if known.startswith(prefix)] or names()
    close = difflib.get_close_matches(str(name), names(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"No exercise named {name!r}.{hint} Known exercises: {', '.join(known)}.")


# --------------------------------------------------------------------------- check


def check(name: str, fn: Callable[..., Any]) -> CheckResult:
    """Run ``fn`` on the cases of exercise ``name`` and compare with the reference solution.

    Prints nothing: the returned ``CheckResult`` shows the feedback when it is the last
    expression of a notebook cell. At most ``MAX_REPORTED`` failing cases are described.

    Example::

        >>> check("01.encode", lambda text, vocab: [vocab.index(char) for char in text])
        ✓ 01.encode: all 7 cases pass.
    """
    exercise = get(name)
    if not callable(fn):
        call = exercise.solution.__name__
        message = f"expected your function, got {_a(fn)}. Pass the function itself, without "
        return _failed(name, message + f"calling it: check({name!r}, {call})")
    cases = exercise.case_list()
    problem = _signature_problem(exercise, fn, cases[0])
    if problem is not None:
        return _failed(name, problem)
    messages = [_run_case(exercise, fn, args) for args in cases]
    if all(m is not None and m.startswith(_RAISED_NOT_IMPLEMENTED) for m in messages):
        return _failed(name, _NOT_IMPLEMENTED)  # raising it in some cases only is feedback
    if all(m is not None and m.endswith(_NO_RESULT) for m in messages):
        # None (or `...`) everywhere: a stub whose body is still `...`, or a forgotten `return`
        stub = all("`...`" in m for m in messages) or _is_stub(fn)
        if stub:
            return _failed(name, _NOT_IMPLEMENTED)
        unknown = " Or is its body still `...`?" if stub is None else ""  # no source to read
        return _failed(name, _NONE_EVERYWHERE + unknown)
    failures = [f"  ✗ for {_describe_input(args)}: {message}"
                for args, message in zip(cases, messages) if message is not None]  # fmt: skip
    return _summarise(name, failures, len(cases))


def _is_stub(fn: Callable[..., Any]) -> bool | None:
    """Whether ``fn`` is a ``def`` whose body is still a stub: only a docstring, ``...``,
    ``pass`` or ``raise NotImplementedError``; False for a lambda, None when its source
    cannot be read."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return False

    def stub(statement: ast.stmt) -> bool:
        if isinstance(statement, ast.Pass):
            return True
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            return statement.value.value is Ellipsis or isinstance(statement.value.value, str)
        if isinstance(statement, ast.Raise) and statement.exc is not None:
            raised = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
            return isinstance(raised, ast.Name) and raised.id == "NotImplementedError"
        return False

    return all(stub(statement) for statement in node.body)


def _summarise(name: str, failures: list[str], n_cases: int) -> CheckResult:
    """The verdict line, the first ``MAX_REPORTED`` failures and how many more there are."""
    if not failures:
        verdict = f"all {n_cases} cases pass" if n_cases > 1 else "the 1 case passes"
        return CheckResult(name, True, [f"✓ {name}: {verdict}."])
    verb = "fail" if len(failures) > 1 else "fails"
    lines = [f"✗ {name}: {len(failures)} of {n_cases} cases {verb}."]
    lines += failures[:MAX_REPORTED]
    if len(failures) > MAX_REPORTED:
        more = len(failures) - MAX_REPORTED
        lines.append(f"  (and {more} more failing case{'s' if more > 1 else ''})")
    return CheckResult(name, False, lines)


def _run_case(exercise: Exercise, fn: Callable[..., Any], args: tuple[Any, ...]) -> str | None:
    """The feedback for one case, ``None`` when it passes."""
    try:
        got = fn(*copy.deepcopy(args))  # a fresh copy: the learner may change the arguments
    except (Exception, SystemExit) as error:  # anything the learner's code raises is feedback
        return f"your function raised {_describe_error(error, fn)}"
    expected = exercise.solution(*copy.deepcopy(args))
    if got is Ellipsis or (got is None and expected is not None):
        return f"your function returned {'`...`' if got is Ellipsis else 'None'} {_NO_RESULT}"
    compare = exercise.compare or (lambda e, g: describe_difference(e, g, exercise.noun))
    try:
        return compare(expected, got)
    except Exception as error:  # e.g. `==` on an array: the values, and what went wrong
        raised = type(error).__name__
        return f"expected {_short(expected)}, got {_short(got)} (comparing them raised {raised})"


def _signature_problem(
    exercise: Exercise, fn: Callable[..., Any], args: tuple[Any, ...]
) -> str | None:
    """A message when ``fn`` cannot take the exercise's arguments (a TypeError), else None."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no signature: just call them
        return None
    try:
        signature.bind(*args)
    except TypeError as error:
        return (
            f"your function {getattr(fn, '__name__', '')}{signature} cannot be called as "
            f"{exercise.call_signature()} "
            f"(TypeError: {error})"
        )
    return None


def _failed(name: str, message: str) -> CheckResult:
    return CheckResult(name, False, [f"✗ {name}: {message}"])


def _describe_input(args: tuple[Any, ...]) -> str:
    """``input 'abc'`` for one argument, ``inputs 'abc', ['a', 'b', 'c']`` for several."""
    shown = ", ".join(_short_input(arg) for arg in args)
    return f"input {shown}" if len(args) == 1 else f"inputs {shown}"


def _short_input(arg: Any) -> str:
    """An input in a line: a tensor whose repr spans lines by its shape and dtype (its values
    are in ``describe``'s example), anything else by its shortened repr."""
    if _kind(arg) in ("tensor", "numpy array") and "\n" in repr(arg):
        return f"a {tuple(arg.shape)} {_kind(arg)} of {arg.dtype}"
    text = _short(arg)
    return _shorten(" ".join(repr(arg).split())) if "\n" in text else text  # e.g. a module


def _describe_error(error: BaseException, fn: Callable[..., Any]) -> str:
    """``KeyError: 'x'``, plus the learner's line that raised it when its source is known."""
    try:
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    except Exception:
        text = ""
    message = f"{type(error).__name__}: {_shorten(text)}" if text else type(error).__name__
    code = getattr(fn, "__code__", None)
    if code is None:
        return message
    frames = traceback.extract_tb(error.__traceback__)
    lines = [frame.line for frame in frames if frame.filename == code.co_filename and frame.line]
    return f"{message} in `{_shorten(lines[-1].strip())}`" if lines else message


# --------------------------------------------------------------------------- describe


def describe(name: str) -> Text:
    """The task of exercise ``name`` with one example call and its expected output."""
    exercise = get(name)
    args = exercise.case_list()[0]
    expected = exercise.solution(*copy.deepcopy(args))
    function = exercise.solution.__name__
    prompt = " ".join(exercise.prompt.split())  # one paragraph; the notebook wraps long lines
    return Text(
        f"{name}: write {exercise.call_signature()}\n\n{prompt}\n\n"
        f"Example:\n{_example(exercise.solution, args, expected)}\n\n"
        f"Check it with: check({name!r}, {function})"
    )


def _example(solution: Callable[..., Any], args: tuple[Any, ...], expected: Any) -> str:
    """The example call, indented by four spaces: first ``name = repr`` for each argument
    whose repr spans lines (a tensor), then the call with those names, then the expected value.
    """
    reprs = [repr(arg) for arg in args]
    names = _parameter_names(solution, len(args))
    # a module's repr hides its weights: they are shown too
    weights = [dict(getattr(arg, "named_parameters", dict)()) for arg in args]
    lines = []
    if names and (any("\n" in text for text in reprs) or any(weights)):
        for i, (name, text) in enumerate(zip(names, reprs)):
            lines.append(f"{name} = " + text.replace("\n", "\n" + " " * (len(name) + 3)))
            for key, value in weights[i].items():
                left = f"{name}.{key} = "
                shown = repr(value.detach()).replace("\n", "\n" + " " * len(left))
                lines.append(left + shown)
            reprs[i] = name
    lines.append(f">>> {solution.__name__}({', '.join(reprs)})")
    lines.append(repr(expected))
    return "\n".join("    " + line.replace("\n", "\n    ") for line in lines)


def _parameter_names(solution: Callable[..., Any], count: int) -> list[str] | None:
    """The names of the first ``count`` parameters of ``solution``, or None if unknown."""
    try:
        names = list(inspect.signature(solution).parameters)
    except (TypeError, ValueError):
        return None
    return names[:count] if len(names) >= count else None


def show_solution(name: str) -> Text:
    """The reference solution's source code of exercise ``name``.

    A deliberate opt-in for teachers and self-learners: nothing else in this module ever shows
    the solution's code. Try the exercise (and ``check``) first.
    """
    return Text(inspect.getsource(get(name).solution))
