"""The machinery behind ``minidl.homework.check``: exercises, cases, comparisons, the report.

An exercise is a list of cases. A case is a function that receives the student's objects
(by name, as attributes of one namespace), runs them on some inputs and raises
:class:`CaseFailure` when an answer is wrong. The runner turns every outcome into a
:class:`CaseResult`: a case passes, fails (with inputs, expected, got and a hint), is not
implemented yet (the student's function raised ``NotImplementedError`` or returned None),
raises some other error (reported with the line of the student's code it came from), or is
skipped because it builds on cases that have not passed yet.

Messages describe values and formulas, never code, so that a report can be shown to a
student without giving the answer away.
"""

from __future__ import annotations

import html
import inspect
import linecache
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from minidl import random as _random
from minidl.tensor import Tensor

PASSED = "passed"
FAILED = "failed"
NOT_IMPLEMENTED = "not implemented"
ERROR = "error"
SKIPPED = "skipped"
USAGE = "usage"

_MARKS = {PASSED: "✓", FAILED: "✗", NOT_IMPLEMENTED: "…", ERROR: "✗", SKIPPED: "-",
          USAGE: "✗"}
_COLOURS = {PASSED: "#1a7f37", FAILED: "#cf222e", NOT_IMPLEMENTED: "#9a6700",
            ERROR: "#cf222e", SKIPPED: "#6e7781", USAGE: "#cf222e"}
# Long error texts (Numba's typing errors run to pages) are cut to this many characters.
_MAX_ERROR_CHARS = 800


class CaseFailure(Exception):
    """A wrong answer: raised by a case, turned into a failed :class:`CaseResult`.

    Parameters
    ----------
    inputs : str
        What the student's code was run on (the call, in words or values).
    expected, got : str, optional
        The right value and the student's, already formatted.
    hint : str, optional
        Where to look; overrides the case's general hint.
    problem : str, optional
        A one-line diagnosis when ``expected``/``got`` do not say it all.
    """

    def __init__(self, inputs: str, *, expected: str | None = None, got: str | None = None,
                 hint: str | None = None, problem: str | None = None) -> None:
        super().__init__(problem or inputs)
        self.inputs = inputs
        self.expected = expected
        self.got = got
        self.hint = hint
        self.problem = problem


class NotImplementedYet(CaseFailure):
    """The student's function returned None: still the stub, or a missing ``return``."""


@dataclass(frozen=True)
class Case:
    """One check of an exercise.

    Attributes
    ----------
    name : str
        A short title, shown in the report.
    run : callable
        ``run(student)``; ``student`` has the student's objects as attributes, named as in
        the exercise's :class:`FunctionSpec` list. Raises :class:`CaseFailure` when wrong.
    hint : str
        Shown when the case fails or raises and the failure brings no hint of its own.
    needs_previous : bool
        Run only when every earlier case passed (e.g. a registration that needs correct
        values first); otherwise the case is skipped.
    """

    name: str
    run: Callable[[SimpleNamespace], None]
    hint: str = ""
    needs_previous: bool = False


@dataclass(frozen=True)
class FunctionSpec:
    """A function the student passes to ``check``, and how the cases call it.

    Attributes
    ----------
    name : str
        Its name in the exercise notebook.
    signature : str
        How it is called, for messages: ``"(grad_output, y)"``.
    positional : int
        How many positional arguments the cases pass.
    keywords : tuple of str
        The keyword arguments the cases pass (their names must match).
    """

    name: str
    signature: str
    positional: int
    keywords: tuple[str, ...] = ()

    def usage_problem(self, obj: Any) -> str | None:
        """Why ``obj`` cannot stand for this function, or None when it can."""
        if not callable(obj):
            return (f"expected the function {self.name} itself, got {_type_name(obj)}; pass the "
                    f"function without calling it (no parentheses after {self.name})")
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):  # some builtins have no signature: just try them
            return None
        try:
            sig.bind(*[None] * self.positional, **dict.fromkeys(self.keywords))
        except TypeError:
            return (f"{self.name} must accept {self.name}{self.signature}, but "
                    f"{getattr(obj, '__name__', 'the function you passed')}{sig} does not")
        return None


@dataclass(frozen=True)
class Exercise:
    """An exercise: what the student passes to ``check`` and the cases run on it."""

    id: str
    title: str
    functions: tuple[FunctionSpec, ...]
    cases: tuple[Case, ...]

    @property
    def call(self) -> str:
        """How to call the check, for messages."""
        names = ", ".join(spec.name for spec in self.functions)
        return f"minidl.homework.check({self.id!r}, {names})"


@dataclass
class CaseResult:
    """The outcome of one case (see the module docstring for the statuses)."""

    name: str
    status: str
    inputs: str | None = None
    expected: str | None = None
    got: str | None = None
    hint: str | None = None
    problem: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def details(self) -> list[tuple[str, str]]:
        """The labelled lines under the case's title: (label, text)."""
        rows = [("case", self.inputs), ("problem", self.problem), ("expected", self.expected),
                ("got", self.got), ("hint", self.hint)]
        return [(label, text) for label, text in rows if text]

    @property
    def message(self) -> str:
        """The case as text: its title, then one indented line per detail."""
        return self._text(self.details())

    def _text(self, details: list[tuple[str, str]]) -> str:
        lines = [f"{_MARKS[self.status]} {self.name} [{self.status}]"]
        lines += [f"    {label + ':':<9} {_indent(text, 14)}" for label, text in details]
        return "\n".join(lines)


@dataclass
class CheckResult:
    """What ``minidl.homework.check`` returns: a pass/fail verdict and one result per case.

    Shows itself as a report (text with ``print`` or ``repr``, HTML in Jupyter) and is
    truthy exactly when every case passed.

    Attributes
    ----------
    exercise, title : str
        The exercise's id and title.
    cases : list of CaseResult
        One per case, in order.
    """

    exercise: str
    title: str
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when there were cases and all of them passed."""
        return bool(self.cases) and all(case.passed for case in self.cases)

    @property
    def messages(self) -> list[str]:
        """The text of every case that did not pass (empty when the check passed)."""
        return [case.message for case in self.cases if not case.passed]

    def __bool__(self) -> bool:
        return self.passed

    def summary(self) -> str:
        """One line: the verdict and the count of each status."""
        head = f"{self.exercise} ({self.title})"
        if self.passed:
            return f"✓ PASSED {head}: all {len(self.cases)} cases pass."
        counts = {}
        for case in self.cases:
            counts[case.status] = counts.get(case.status, 0) + 1
        if counts.get(USAGE):
            return f"✗ NOT CHECKED {head}: the call to check is not right (see below)."
        passed = counts.pop(PASSED, 0)
        rest = ", ".join(f"{n} {status}" for status, n in counts.items())
        return f"✗ NOT PASSED {head}: {passed} of {len(self.cases)} cases pass ({rest})."

    def _shown(self) -> list[tuple[CaseResult, list[tuple[str, str]]]]:
        """Each case with the details the report shows: a stub makes every case that calls
        it say the same thing, so a detail already shown for an earlier case is left out."""
        seen: set[tuple[str, str]] = set()
        shown = []
        for case in self.cases:
            details = case.details()
            if case.status == NOT_IMPLEMENTED:
                details = [d for d in details if d not in seen]
                seen.update(details)
            shown.append((case, details))
        return shown

    def __str__(self) -> str:
        return "\n".join([self.summary(), *(case._text(details)
                                             for case, details in self._shown())])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = _COLOURS[PASSED if self.passed else FAILED]
        parts = [f'<div style="font-family: sans-serif"><p style="color: {colour}; '
                 f'font-weight: bold">{html.escape(self.summary())}</p><ul style="list-style: '
                 'none; padding-left: 0.5em">']
        for case, details in self._shown():
            parts.append(f'<li><span style="color: {_COLOURS[case.status]}">'
                         f'{_MARKS[case.status]} {html.escape(case.name)} '
                         f'<small>[{case.status}]</small></span>')
            if details:
                parts.append('<table style="margin: 0.2em 0 0.6em 1.5em">')
                for label, text in details:
                    parts.append(f'<tr><td style="vertical-align: top; text-align: left">'
                                 f'<b>{label}</b></td><td style="text-align: left">'
                                 f'<pre style="margin: 0; white-space: pre-wrap">'
                                 f'{html.escape(text)}</pre></td></tr>')
                parts.append("</table>")
            parts.append("</li>")
        parts.append("</ul></div>")
        return "".join(parts)


# ------------------------------------------------------------------ running
def run_exercise(exercise: Exercise, objects: Sequence[Any]) -> CheckResult:
    """Run every case of ``exercise`` on the student's ``objects``; never raises for them.

    Each case starts from the same seeded state of NumPy's and minidl's global random
    generators, so results do not depend on what ran before; both are restored afterwards.
    """
    result = CheckResult(exercise.id, exercise.title)
    usage = _usage_problems(exercise, objects)
    if usage:
        result.cases.append(CaseResult("how check was called", USAGE, problem=usage,
                                       hint=f"call it as {exercise.call}"))
        return result
    student = SimpleNamespace(**{spec.name: obj
                                 for spec, obj in zip(exercise.functions, objects, strict=True)})
    files = {getattr(getattr(obj, "__code__", None), "co_filename", None) for obj in objects}
    numpy_state = np.random.get_state()
    minidl_state = _random.get_rng_state()
    try:
        for index, case in enumerate(exercise.cases):
            if case.needs_previous and not all(r.passed for r in result.cases):
                result.cases.append(CaseResult(case.name, SKIPPED,
                                               problem="runs once every case above passes"))
                continue
            seed = 1000 + index
            np.random.seed(seed)
            _random.set_rng_state(np.random.default_rng(seed).bit_generator.state)
            result.cases.append(_run_case(case, student, files - {None}))
    finally:
        np.random.set_state(numpy_state)
        _random.set_rng_state(minidl_state)
    return result


def _usage_problems(exercise: Exercise, objects: Sequence[Any]) -> str | None:
    specs = exercise.functions
    if len(objects) != len(specs):
        names = ", ".join(spec.name for spec in specs)
        return (f"{exercise.id} checks {len(specs)} function{'s' * (len(specs) > 1)} "
                f"({names}, in this order), but check got {len(objects)}")
    problems = [p for spec, obj in zip(specs, objects, strict=True)
                if (p := spec.usage_problem(obj))]
    return "\n".join(problems) or None


def _run_case(case: Case, student: SimpleNamespace, files: set[str]) -> CaseResult:
    # Overflow and invalid-value warnings from the student's maths would bury the report;
    # the cases look at the values themselves.
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            case.run(student)
    except NotImplementedYet as failure:
        return _from_failure(case, NOT_IMPLEMENTED, failure)
    except CaseFailure as failure:
        return _from_failure(case, FAILED, failure)
    except NotImplementedError as e:
        where = _student_frame(e, files)
        name = where[0] if where else "your code"
        return CaseResult(case.name, NOT_IMPLEMENTED,
                          problem=f"{name} is not implemented yet (it raised "
                                  f"NotImplementedError{f': {e}' if str(e) else ''})")
    except Exception as e:  # noqa: BLE001 (any error of the student's code is reported)
        return CaseResult(case.name, ERROR, problem=_describe_error(e, files),
                          hint=case.hint or None)
    return CaseResult(case.name, PASSED)


def _from_failure(case: Case, status: str, failure: CaseFailure) -> CaseResult:
    return CaseResult(case.name, status, inputs=failure.inputs, expected=failure.expected,
                      got=failure.got, hint=failure.hint or case.hint or None,
                      problem=failure.problem)


def _student_frame(error: BaseException, files: set[str]) -> tuple[str, int, str] | None:
    """(function, line number, source line) of the innermost frame in the student's code."""
    found = None
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename in files:
            source = linecache.getline(frame.f_code.co_filename, lineno).strip()
            found = (frame.f_code.co_name, lineno, source)
    return found


def _describe_error(error: Exception, files: set[str]) -> str:
    text = f"{type(error).__name__}: {error}"
    if len(text) > _MAX_ERROR_CHARS:
        text = text[:_MAX_ERROR_CHARS] + " …"
    where = _student_frame(error, files)
    if where is None:
        return f"raised {text}"
    name, lineno, source = where
    return f"{name} raised {text}\n(line {lineno} of {name}: {source})"


# ------------------------------------------------------------------ comparisons
def _type_name(obj: Any) -> str:
    if isinstance(obj, (np.ndarray, Tensor)):
        return f"{type(obj).__name__} of shape {obj.shape}"
    return f"an object of type {type(obj).__name__}" if obj is not None else "None"


def _indent(text: str, width: int) -> str:
    return text.replace("\n", "\n" + " " * width)


def fmt(value: Any, digits: int = 6) -> str:
    """A short, readable rendering of a number or an array (``digits`` significant)."""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}g}"
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=6, threshold=12, edgeitems=3,
                               separator=", ", max_line_width=88)
    return repr(value)


def _digits(expected: float, got: float) -> int:
    """Enough significant digits to show where two close numbers differ."""
    scale = max(abs(expected), abs(got))
    if not (np.isfinite(expected) and np.isfinite(got)) or expected == got or scale == 0:
        return 6
    return int(min(17, max(6, np.ceil(-np.log10(abs(expected - got) / scale)) + 2)))


def returned(value: Any, who: str, inputs: str) -> Any:
    """``value`` unless it is None, which means the stub is still there."""
    if value is None:
        raise NotImplementedYet(inputs, problem=f"{who} returned None: not implemented yet "
                                                "(or a return statement is missing)")
    return value


def as_number(value: Any, who: str, inputs: str) -> float:
    """``value`` as a float; a failure naming ``who`` if it is not one number."""
    value = returned(value, who, inputs)
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())[()]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise CaseFailure(inputs, problem=f"{who} should return one number",
                          got=_type_name(value))
    return float(value)


def as_array(value: Any, who: str, inputs: str) -> np.ndarray:
    """``value`` as a float64 NumPy array; a failure naming ``who`` if it is not one."""
    value = returned(value, who, inputs)
    if isinstance(value, Tensor):
        value = value.data
    if not isinstance(value, (np.ndarray, np.generic, float, int)) or isinstance(value, bool):
        raise CaseFailure(inputs, problem=f"{who} should return a NumPy array",
                          got=_type_name(value))
    return np.asarray(value, dtype=np.float64)


def expect_close(got: Any, expected: float, who: str, inputs: str, *, rtol: float = 1e-9,
                 atol: float = 1e-12, hint: str | None = None) -> None:
    """Fail unless the number ``got`` is within ``atol + rtol·|expected|`` of ``expected``."""
    value = as_number(got, who, inputs)
    if not abs(value - expected) <= atol + rtol * abs(expected):
        digits = _digits(expected, value)
        raise CaseFailure(inputs, expected=fmt(expected, digits), got=fmt(value, digits),
                          hint=hint)


def expect_array(got: Any, expected: np.ndarray, who: str, inputs: str, *, rtol: float = 1e-9,
                 atol: float = 1e-12, hint: str | None = None,
                 index_names: Callable[[tuple[int, ...]], str] | None = None) -> None:
    """Fail unless ``got`` has ``expected``'s shape and every element is close to it.

    The message gives the worst element: its index (or what ``index_names`` calls it),
    the expected and the got value, and the largest absolute error.
    """
    value = as_array(got, who, inputs)
    expected = np.asarray(expected, dtype=np.float64)
    if value.shape != expected.shape:
        raise CaseFailure(inputs, problem=f"{who} returned an array of the wrong shape",
                          expected=f"shape {expected.shape}", got=f"shape {value.shape}",
                          hint=hint)
    error = np.abs(value - expected)
    bad = ~(error <= atol + rtol * np.abs(expected))  # NaN counts as bad
    if not bad.any():
        return
    # The worst element: a NaN or inf first, then the largest error among the bad ones.
    score = np.where(np.isfinite(error), error, np.inf)
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.where(bad, score, -1.0))),
                                                    value.shape))
    where = index_names(worst) if index_names else f"at index {worst}"
    digits = _digits(float(expected[worst]), float(value[worst]))
    finite = error[np.isfinite(error)]
    largest = f"{finite.max():.3g}" if finite.size else "—"
    raise CaseFailure(
        inputs, hint=hint,
        expected=f"{fmt(expected[worst], digits)} {where}",
        got=f"{fmt(value[worst], digits)} {where}  ({int(bad.sum())} of {bad.size} elements wrong; "
            f"largest absolute error {largest}, tolerance {atol:g} + {rtol:g}·|expected|)")
