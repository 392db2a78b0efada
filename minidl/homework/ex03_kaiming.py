"""ex03_kaiming: Kaiming (He) and LeCun normal initialisation.

The student writes ``kaiming_normal_(tensor, a=0.0, mode='fan_in',
nonlinearity='leaky_relu')`` and ``lecun_normal_(tensor)``, which fill a weight in place
with draws from ``N(0, std²)``, ``std = gain / √fan`` (PyTorch's and minidl's interface).
The checks are statistical: each fills a large weight (about 10⁵ values) and compares the
sample standard deviation with the formula within 2% (the sampling error is about 0.3%),
for Linear ``(out, in)`` and convolution ``(out, in, kh, kw)`` shapes, both modes and
several nonlinearities; they also check the mean, the normal shape (excess kurtosis) and
that the tensor is filled in place and returned.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from minidl.homework._check import Case, CaseFailure, Exercise, FunctionSpec, fmt
from minidl.nn.init import calculate_fan_in_and_fan_out, calculate_gain
from minidl.nn.parameter import Parameter

LINEAR = (256, 512)  # nn.Linear(512, 256).weight: 512 inputs, 256 outputs
CONV = (128, 64, 3, 3)  # nn.Conv2d(64, 128, 3).weight
STD_RTOL = 0.02

FAN_HINT = ("The weight of a Linear layer has shape (out, in) and that of a convolution "
            "(out, in, kh, kw). fan_in = in·kh·kw is the number of inputs that feed one output; "
            "fan_out = out·kh·kw the number of outputs one input feeds.")
GAIN_HINT = ("std = gain / √fan with gain = √(2 / (1 + a²)) for nonlinearity='leaky_relu' "
             "(√2 for the default a = 0, the same as 'relu'), 1 for 'linear', 5/3 for 'tanh'; "
             "nn.init.calculate_gain(nonlinearity, a) knows the table.")
LECUN_HINT = "LeCun normal has std = 1 / √fan_in: Kaiming's formula with gain 1 ('linear')."


def _describe(shape: tuple[int, ...]) -> str:
    if len(shape) == 2:
        return f"a Linear weight of shape {shape} ({shape[1]} inputs, {shape[0]} outputs)"
    return (f"a convolution weight of shape {shape} ({shape[1]} input channels, {shape[0]} "
            f"output channels, {shape[2]}×{shape[3]} kernel)")


def _call(name: str, kwargs: dict[str, Any]) -> str:
    args = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    return f"{name}(w{args})"


def _fill(fn: Callable, name: str, shape: tuple[int, ...], kwargs: dict[str, Any]) -> tuple:
    """Run the student's initialiser on a NaN-filled float32 weight; (weight, returned)."""
    weight = Parameter(np.full(shape, np.nan, dtype=np.float32))
    out = fn(weight, **kwargs)
    inputs = f"{_call(name, kwargs)} with w {_describe(shape)}"
    if np.isnan(weight.data).all():
        raise CaseFailure(inputs, problem=f"{name} did not write into w",
                          hint="Fill the tensor you are given in place (its .data array, e.g. "
                               "with nn.init.normal_ or an assignment to w.data[...]) and "
                               "return it.")
    if not np.isfinite(weight.data).all():
        raise CaseFailure(inputs, problem="some values of w are NaN or infinite after the call",
                          hint="Write a value into every element of w.")
    return weight, out, inputs


def _std_case(name: str, shape: tuple[int, ...], kwargs: dict[str, Any],
              hint: str) -> Callable[[SimpleNamespace], None]:
    def run(s: SimpleNamespace) -> None:
        weight, _, inputs = _fill(getattr(s, name), name, shape, kwargs)
        expected = _expected_std(name, weight, kwargs)
        got = float(weight.data.astype(np.float64).std())
        if not abs(got - expected) <= STD_RTOL * expected:
            raise CaseFailure(inputs, hint=hint,
                              expected=f"sample std ≈ {fmt(expected)} (within 2%)",
                              got=f"sample std {fmt(got)}")
    return run


def _expected_std(name: str, weight: Parameter, kwargs: dict[str, Any]) -> float:
    fan_in, fan_out = calculate_fan_in_and_fan_out(weight)
    if name == "lecun_normal_":
        return 1.0 / math.sqrt(fan_in)
    fan = fan_out if kwargs.get("mode", "fan_in") == "fan_out" else fan_in
    gain = calculate_gain(kwargs.get("nonlinearity", "leaky_relu"), kwargs.get("a", 0.0))
    return gain / math.sqrt(fan)


def _normal_shape(s: SimpleNamespace) -> None:
    weight, _, inputs = _fill(s.kaiming_normal_, "kaiming_normal_", LINEAR, {})
    w = weight.data.astype(np.float64).ravel()
    std = w.std()
    # With n ≈ 1.3e5 draws the mean has standard error std/√n and the excess kurtosis
    # √(24/n) ≈ 0.014; a uniform distribution has excess kurtosis -1.2.
    limit = 5.0 * std / math.sqrt(w.size)
    if abs(w.mean()) > limit:
        raise CaseFailure(inputs, expected=f"sample mean ≈ 0 (within ±{fmt(limit)})",
                          got=f"sample mean {fmt(w.mean())}",
                          hint="Draw from a normal distribution centred on 0.")
    kurtosis = float(np.mean((w - w.mean()) ** 4) / std**4 - 3.0)
    if abs(kurtosis) > 0.15:
        raise CaseFailure(inputs, expected="excess kurtosis ≈ 0 (a normal distribution)",
                          got=f"excess kurtosis {kurtosis:.3f}",
                          hint="Draw from a normal distribution (a uniform one has excess "
                               "kurtosis −1.2), e.g. with nn.init.normal_ or a NumPy generator's "
                               "normal method.")


def _in_place(s: SimpleNamespace) -> None:
    weight, out, inputs = _fill(s.kaiming_normal_, "kaiming_normal_", CONV, {})
    if out is not weight:
        raise CaseFailure(inputs, expected="the same tensor w, filled in place",
                          got=f"{'None' if out is None else type(out).__name__}",
                          hint="End with 'return' and the tensor you were given, as "
                               "PyTorch's initialisers do.")
    if weight.dtype != np.float32 or weight.shape != CONV:
        raise CaseFailure(inputs, expected=f"float32 values of shape {CONV}",
                          got=f"{weight.dtype} values of shape {weight.shape}",
                          hint="Write into the existing array instead of replacing it.")


def _kaiming(label: str, shape: tuple[int, ...], hint: str, **kwargs: Any) -> Case:
    return Case(f"kaiming_normal_: {label}", _std_case("kaiming_normal_", shape, kwargs, hint),
                hint)


EXERCISE = Exercise(
    id="ex03_kaiming",
    title="Kaiming and LeCun normal initialisation",
    functions=(FunctionSpec("kaiming_normal_", "(tensor, a=0.0, mode='fan_in', "
                            "nonlinearity='leaky_relu')", 1, ("a", "mode", "nonlinearity")),
               FunctionSpec("lecun_normal_", "(tensor)", 1)),
    cases=(
        _kaiming("Linear weight, default arguments", LINEAR, FAN_HINT),
        _kaiming("Linear weight, mode='fan_out'", LINEAR, FAN_HINT, mode="fan_out"),
        _kaiming("convolution weight, default arguments", CONV, FAN_HINT),
        _kaiming("convolution weight, mode='fan_out'", CONV, FAN_HINT, mode="fan_out"),
        _kaiming("nonlinearity='relu'", LINEAR, GAIN_HINT, nonlinearity="relu"),
        _kaiming("leaky ReLU with a=0.5", LINEAR, GAIN_HINT, a=0.5),
        _kaiming("nonlinearity='tanh'", LINEAR, GAIN_HINT, nonlinearity="tanh"),
        _kaiming("nonlinearity='linear', mode='fan_out'", CONV, GAIN_HINT,
                 nonlinearity="linear", mode="fan_out"),
        Case("kaiming_normal_: normal values with mean 0", _normal_shape),
        Case("kaiming_normal_: fills the tensor in place and returns it", _in_place),
        Case("lecun_normal_: Linear weight", _std_case("lecun_normal_", LINEAR, {}, LECUN_HINT),
             LECUN_HINT),
        Case("lecun_normal_: convolution weight",
             _std_case("lecun_normal_", CONV, {}, LECUN_HINT), LECUN_HINT),
    ),
)
