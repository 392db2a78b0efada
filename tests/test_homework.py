"""Homework: the checks in ``minidl.homework`` and the exercise notebooks that call them.

For every exercise: the reference solution in ``notebooks/solutions/`` passes its check;
the stub, taken from the exercise notebook's own cell, fails with "not implemented"; a
deliberately wrong answer fails with a message that names the case and says what was
expected; and no message quotes the reference solution. Every exercise notebook runs top to
bottom (nbclient, quick mode), and no committed notebook carries outputs.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import math
from pathlib import Path
from types import ModuleType

import nbformat
import numpy as np
import pytest

import minidl
import minidl.homework as hw
from minidl import nn
from minidl.kernels import activations as kernel_activations
from minidl.kernels import fastmath as fm

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXERCISES = NOTEBOOKS / "exercises"
SOLUTIONS = NOTEBOOKS / "solutions"
IDS = sorted(hw.EXERCISES)


@pytest.fixture(autouse=True)
def restore_activation_registry():
    """ex01's check registers QuickGELU; undo it so other tests see the shipped registry."""
    before = set(kernel_activations.REGISTRY)
    yield
    for name in set(kernel_activations.REGISTRY) - before:
        minidl.activations.unregister(name)


# ------------------------------------------------------------------ helpers
def _notebook(exercise_id: str) -> nbformat.NotebookNode:
    return nbformat.read(EXERCISES / f"{exercise_id}.ipynb", as_version=4)


def _tagged(nb: nbformat.NotebookNode, tag: str) -> int:
    found = [k for k, cell in enumerate(nb.cells) if tag in cell.metadata.get("tags", [])]
    assert len(found) == 1, f"expected one cell tagged {tag!r}, found {len(found)}"
    return found[0]


def _stub_namespace(exercise_id: str) -> dict:
    """Run the notebook's code cells up to and including the stub cell, as the student
    would, and return their namespace."""
    nb = _notebook(exercise_id)
    namespace: dict = {"__name__": f"notebook_{exercise_id}"}
    for k, cell in enumerate(nb.cells[: _tagged(nb, "stub") + 1]):
        if cell.cell_type == "code":
            exec(compile(cell.source, f"<{exercise_id} cell {k}>", "exec"), namespace)
    return namespace


def _run_check_cell(exercise_id: str, namespace: dict) -> hw.CheckResult:
    """Evaluate the notebook's own check cell in ``namespace``."""
    nb = _notebook(exercise_id)
    source = nb.cells[_tagged(nb, "check")].source
    result = eval(compile(source, f"<{exercise_id} check>", "eval"), namespace)
    assert isinstance(result, hw.CheckResult)
    return result


def _solution(exercise_id: str) -> ModuleType:
    path = SOLUTIONS / f"{exercise_id}.py"
    spec = importlib.util.spec_from_file_location(f"solution_{exercise_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _solution_objects(exercise_id: str) -> list:
    module = _solution(exercise_id)
    return [getattr(module, spec.name) for spec in hw.EXERCISES[exercise_id].functions]


def _solution_code_lines(exercise_id: str) -> set[str]:
    """The statements of the reference solution (docstrings and comments left out)."""
    source = (SOLUTIONS / f"{exercise_id}.py").read_text()
    lines = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            for statement in body:
                for line in ast.get_source_segment(source, statement).splitlines():
                    line = line.strip()
                    if len(line) >= 12 and not line.startswith("#"):
                        lines.add(line)
    return lines


def _report(result: hw.CheckResult) -> str:
    return "\n".join([str(result), result._repr_html_()])


# ------------------------------------------------------------------ deliberately wrong answers
def _sigmoid(z):
    e = fm.exp(-abs(z))
    return 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)


def _silu(x):  # k = 1 instead of 1.702
    return x * _sigmoid(x)


def _quick_gelu_grad_without_chain_rule(x, y):
    s = _sigmoid(1.702 * x)
    return s * (1.0 + x * (1.0 - s))


def _kaiming_fan_out(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    fan_out = tensor.shape[0] * math.prod(tensor.shape[2:])
    std = nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan_out)
    return nn.init.normal_(tensor, 0.0, std)


def _kaiming_uniform(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    return nn.init.kaiming_uniform_(tensor, a, mode, nonlinearity)


def _clip_without_epsilon(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = math.sqrt(sum(float((g**2).sum()) for g in grads))
    for g in grads:
        g *= min(max_norm / total, 1.0) if total > 0 else 1.0
    return total


def _clip_returning_clipped_norm(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = math.sqrt(sum(float((g**2).sum()) for g in grads))
    for g in grads:
        g *= min(max_norm / (total + 1e-6), 1.0)
    return math.sqrt(sum(float((g**2).sum()) for g in grads))


def _count_strictly_negative(pre_activations):
    z = np.asarray(pre_activations)
    return int((z < 0).reshape(z.shape[0], z.shape[1], -1).all(axis=(0, 2)).sum())


def _selu_moments_second_moment(m, v, alpha=1.6732632423543772, lam=1.0507009873554805):
    mean, variance = _solution("ex06_selu_fixed_point").selu_moments(m, v, alpha, lam)
    return mean, variance + mean**2  # E[y²] instead of the variance


def _linear_backward_missing_transpose(grad_output, x, weight):
    return grad_output @ weight, x.T @ grad_output, grad_output.sum(axis=0)


WRONG = {  # exercise: (description, replacements by function name, the case that must fail)
    "ex01_activation": [
        ("k = 1 (SiLU)", {"quick_gelu": _silu}, "quick_gelu: values on a grid"),
        ("derivative without the chain rule's factor k",
         {"quick_gelu_grad": _quick_gelu_grad_without_chain_rule},
         "quick_gelu_grad: derivative on a grid"),
    ],
    "ex02_sigmoid_tanh_backward": [
        ("sigmoid backward multiplies by y instead of y(1 - y)",
         {"sigmoid_backward": lambda grad_output, y: grad_output * y},
         "sigmoid_backward: values"),
        ("tanh backward ignores grad_output",
         {"tanh_backward": lambda grad_output, y: 1.0 - y**2},
         "tanh_backward: a batch and an upstream gradient"),
    ],
    "ex03_kaiming": [
        ("Kaiming with fan_out instead of fan_in", {"kaiming_normal_": _kaiming_fan_out},
         "kaiming_normal_: Linear weight, default arguments"),
        ("Kaiming from a uniform distribution", {"kaiming_normal_": _kaiming_uniform},
         "kaiming_normal_: normal values with mean 0"),
    ],
    "ex04_clip_grad_norm": [
        ("clip without the 1e-6", {"clip_grad_norm_": _clip_without_epsilon},
         "clipping a small norm: the 1e-6 in the denominator"),
        ("returning the norm after clipping", {"clip_grad_norm_": _clip_returning_clipped_norm},
         "clipping: every gradient scaled by the same factor"),
    ],
    "ex05_dead_units": [
        ("< 0 instead of <= 0", {"count_dead_units": _count_strictly_negative},
         "count_dead_units: a pre-activation of exactly 0 counts as dead"),
    ],
    "ex06_selu_fixed_point": [
        ("second moment instead of the variance",
         {"selu_moments": _selu_moments_second_moment}, "selu_moments: other variances"),
    ],
    "ex07_linear_backward": [
        ("grad_weight without its transpose",
         {"linear_backward": _linear_backward_missing_transpose}, "grad_weight"),
    ],
}


# ------------------------------------------------------------------ (a) solutions pass
@pytest.mark.parametrize("exercise_id", IDS)
def test_reference_solution_passes(exercise_id):
    result = hw.check(exercise_id, *_solution_objects(exercise_id))
    assert result.passed, str(result)
    assert result and result.messages == []
    assert "PASSED" in str(result)


@pytest.mark.parametrize("exercise_id", IDS)
def test_notebook_check_cell_passes_with_the_solution(exercise_id):
    namespace = _stub_namespace(exercise_id)
    module = _solution(exercise_id)
    namespace.update({spec.name: getattr(module, spec.name)
                      for spec in hw.EXERCISES[exercise_id].functions})
    assert _run_check_cell(exercise_id, namespace).passed


# ------------------------------------------------------------------ (b) stubs fail
@pytest.mark.parametrize("exercise_id", IDS)
def test_notebook_stub_is_reported_as_not_implemented(exercise_id):
    result = _run_check_cell(exercise_id, _stub_namespace(exercise_id))
    assert not result.passed
    assert not result
    statuses = {case.status for case in result.cases}
    assert statuses <= {"not implemented", "skipped"}, str(result)
    assert all("not implemented" in message for message in result.messages
               if "[skipped]" not in message)
    assert "NOT PASSED" in str(result)


# ------------------------------------------------------------------ (c) wrong answers fail
@pytest.mark.parametrize(
    ("exercise_id", "description", "replacements", "failing_case"),
    [pytest.param(ex, *wrong, id=f"{ex}-{wrong[0]}") for ex in IDS for wrong in WRONG[ex]])
def test_wrong_answer_fails_naming_the_case(exercise_id, description, replacements,
                                           failing_case):
    specs = hw.EXERCISES[exercise_id].functions
    objects = [replacements.get(spec.name, obj)
               for spec, obj in zip(specs, _solution_objects(exercise_id), strict=True)]
    result = hw.check(exercise_id, *objects)
    assert not result.passed, description
    case = next(c for c in result.cases if c.name == failing_case)
    assert case.status == "failed", str(result)
    assert case.inputs and case.hint
    assert "expected" in case.message and "got" in case.message
    assert failing_case in str(result)


# ------------------------------------------------------------------ (d) no solution in messages
@pytest.mark.parametrize("exercise_id", IDS)
def test_messages_never_quote_the_solution(exercise_id):
    code = _solution_code_lines(exercise_id)
    assert code, "the solution has no statements to look for"
    specs = hw.EXERCISES[exercise_id].functions
    solution = _solution_objects(exercise_id)
    reports = [_report(_run_check_cell(exercise_id, _stub_namespace(exercise_id))),
               _report(hw.check(exercise_id, *solution))]
    for _, replacements, _ in WRONG[exercise_id]:
        objects = [replacements.get(spec.name, obj)
                   for spec, obj in zip(specs, solution, strict=True)]
        reports.append(_report(hw.check(exercise_id, *objects)))
    for report in reports:
        quoted = [line for line in code if line in report]
        assert not quoted, f"a report quotes the solution: {quoted}"


# ------------------------------------------------------------------ (e) misuse
def test_unknown_exercise_raises_listing_the_exercises():
    with pytest.raises(ValueError, match="ex03_kaiming") as info:
        hw.check("ex99_nothing", print)
    assert all(exercise_id in str(info.value) for exercise_id in IDS)
    with pytest.raises(ValueError, match="unknown exercise"):
        hw.check(3)


def test_wrong_number_of_functions_is_reported_not_raised():
    result = hw.check("ex02_sigmoid_tanh_backward", lambda grad_output, y: grad_output)
    assert not result.passed
    assert [case.status for case in result.cases] == ["usage"]
    assert "2 functions (sigmoid_backward, tanh_backward" in result.messages[0]
    assert "check got 1" in result.messages[0]


def test_calling_the_function_instead_of_passing_it_is_reported():
    result = hw.check("ex07_linear_backward", np.zeros(3))
    assert not result.passed
    assert "without calling it" in result.messages[0]
    assert "ndarray of shape (3,)" in result.messages[0]


def test_wrong_parameters_are_reported():
    result = hw.check("ex03_kaiming", lambda tensor: tensor, lambda tensor: tensor)
    assert not result.passed
    assert "mode='fan_in'" in result.messages[0]


def test_errors_in_student_code_are_reported_with_their_line():
    def linear_backward(grad_output, x, weight):
        return grad_output @ x  # shapes do not match

    result = hw.check("ex07_linear_backward", linear_backward)
    assert not result.passed
    error = next(case for case in result.cases if case.status == "error")
    assert "ValueError" in error.message
    assert "linear_backward" in error.message and "grad_output @ x" in error.message


def test_returning_none_counts_as_not_implemented():
    result = hw.check("ex04_clip_grad_norm", lambda parameters, max_norm: None)
    assert not result.passed
    assert any(case.status == "not implemented" and "returned None" in case.message
               for case in result.cases)


def test_check_restores_the_random_generators():
    minidl.manual_seed(123)
    np.random.seed(321)
    expected = (minidl.randn(3).data.copy(), np.random.rand(3))
    minidl.manual_seed(123)
    np.random.seed(321)
    hw.check("ex03_kaiming", *_solution_objects("ex03_kaiming"))
    np.testing.assert_array_equal(minidl.randn(3).data, expected[0])
    np.testing.assert_array_equal(np.random.rand(3), expected[1])


def test_report_renders_as_text_and_html():
    result = hw.check("ex07_linear_backward", _linear_backward_missing_transpose)
    text, page = repr(result), result._repr_html_()
    assert text.startswith("✗ NOT PASSED ex07_linear_backward")
    assert "shape (2, 3)" in text and "shape (2, 3)" in page
    assert "<table" in page


def test_exercises_lists_every_check():
    listing = hw.exercises()
    assert sorted(listing) == IDS
    assert "check('ex03_kaiming', kaiming_normal_, lecun_normal_)" in listing["ex03_kaiming"]


def test_solutions_define_the_stub_names():
    for exercise_id in IDS:
        stub = _stub_namespace(exercise_id)
        module = _solution(exercise_id)
        for spec in hw.EXERCISES[exercise_id].functions:
            assert callable(stub[spec.name]) and callable(getattr(module, spec.name))
            assert (inspect.signature(stub[spec.name]).parameters.keys()
                    == inspect.signature(getattr(module, spec.name)).parameters.keys())


# ------------------------------------------------------------------ (f) notebooks run
@pytest.mark.parametrize("exercise_id", IDS)
def test_exercise_notebook_executes(exercise_id, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("MINIDL_QUICK", "1")
    nb = _notebook(exercise_id)
    client = nbclient.NotebookClient(nb, timeout=60, kernel_name="python3",
                                     resources={"metadata": {"path": str(EXERCISES)}})
    client.execute()  # raises CellExecutionError on any error
    outputs = nb.cells[_tagged(nb, "check")].outputs
    report = "".join(str(out.get("data", {}).get("text/plain", "")) for out in outputs)
    assert "NOT PASSED" in report and "not implemented" in report


# ------------------------------------------------------------------ (g) committed without outputs
ALL_NOTEBOOKS = sorted(NOTEBOOKS.rglob("*.ipynb"))


def test_there_are_exercise_notebooks():
    assert {path.stem for path in EXERCISES.glob("*.ipynb")} == set(IDS)


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [k for k, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (f"{path.relative_to(ROOT)}: cells {dirty} have outputs or execution "
                       "counts; clear them before committing (jupyter nbconvert "
                       "--clear-output --inplace)")
