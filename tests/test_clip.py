"""Tests of gradient clipping (``minidl.nn.utils``): against PyTorch, the clipped norm, and
the errors."""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.nn import Parameter
from minidl.nn.utils import clip_grad_norm_, clip_grad_value_

SHAPES = [(4, 3), (7,), (2, 2, 3)]


def oracle() -> ModuleType:
    """PyTorch, or a skip where it is not installed."""
    return pytest.importorskip("torch")


def grads(scale: float = 1.0, dtype: type = np.float64) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [(scale * rng.standard_normal(s)).astype(dtype) for s in SHAPES]


def params_with(gs: list[np.ndarray | None]) -> list[Parameter]:
    params = []
    for g in gs:
        p = Parameter(np.zeros(SHAPES[len(params)]))
        p.grad = None if g is None else g.copy()
        params.append(p)
    return params


def torch_params_with(torch: ModuleType, gs: list[np.ndarray | None]) -> list:
    params = []
    for g in gs:
        p = torch.zeros(SHAPES[len(params)], dtype=torch.float64, requires_grad=True)
        p.grad = None if g is None else torch.from_numpy(g.copy())
        params.append(p)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])  # clips, and leaves alone
def test_clip_grad_norm_matches_pytorch(norm_type: float, max_norm: float) -> None:
    torch = oracle()
    gs = [*grads()[:2], None]  # a parameter without a gradient takes no part
    ours, theirs = params_with(gs), torch_params_with(torch, gs)
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(expected.item(), rel=1e-12)
    for p, q in zip(ours[:2], theirs[:2], strict=True):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-12, atol=0)
    assert ours[2].grad is None


def test_clip_grad_norm_norm_is_over_all_gradients_and_just_under_max_norm() -> None:
    gs = grads(scale=10.0)
    params = params_with(gs)
    total = clip_grad_norm_(params, 1.0)
    assert total == pytest.approx(np.sqrt(sum((g * g).sum() for g in gs)), rel=1e-12)
    clipped = np.sqrt(sum((p.grad * p.grad).sum() for p in params))
    assert clipped == pytest.approx(total / (total + 1e-6), rel=1e-12)
    for p, g in zip(params, gs, strict=True):  # the direction is kept
        np.testing.assert_allclose(p.grad * total, g * clipped, rtol=1e-10)


@given(scale=st.floats(1e-3, 1e3), max_norm=st.floats(1e-2, 1e2),
       norm_type=st.sampled_from([1.0, 2.0, math.inf]))
def test_clip_grad_norm_never_leaves_a_norm_above_max_norm(scale: float, max_norm: float,
                                                           norm_type: float) -> None:
    params = params_with(grads(scale))
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    after = np.linalg.norm(np.concatenate([p.grad.ravel() for p in params]), ord=norm_type)
    assert after <= max_norm * (1 + 1e-12)
    assert after == pytest.approx(total * min(max_norm / (total + 1e-6), 1.0), rel=1e-12)


def test_clip_grad_norm_accepts_a_single_tensor_and_a_generator() -> None:
    (p,) = params_with(grads(scale=10.0)[:1])
    total = clip_grad_norm_(p, 1.0)
    assert total > 1.0 and np.linalg.norm(p.grad) == pytest.approx(1.0, rel=1e-5)
    params = params_with(grads(scale=10.0))
    clip_grad_norm_((q for q in params), 1.0)
    assert np.sqrt(sum((q.grad ** 2).sum() for q in params)) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_keeps_float32() -> None:
    params = params_with(grads(scale=10.0, dtype=np.float32))
    clip_grad_norm_(params, 1.0)
    assert all(p.grad.dtype == np.float32 for p in params)


def test_clip_grad_norm_without_gradients_returns_zero_and_warns_when_empty() -> None:
    assert clip_grad_norm_(params_with([None, None]), 1.0) == 0.0
    with pytest.warns(UserWarning, match="is empty"):
        assert clip_grad_norm_(iter([]), 1.0) == 0.0


def test_non_finite_norm_raises_when_asked_and_changes_nothing() -> None:
    gs = grads()
    gs[1][3] = np.nan
    params = params_with(gs)
    with pytest.raises(RuntimeError, match="total norm of order 2.0 .* is non-finite"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    for p, g in zip(params, gs, strict=True):
        np.testing.assert_array_equal(p.grad, g)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf * 0
def test_non_finite_norm_poisons_the_gradients_as_in_pytorch() -> None:
    torch = oracle()
    gs = grads()
    gs[0][0, 0] = np.inf
    ours, theirs = params_with(gs), torch_params_with(torch, gs)
    assert clip_grad_norm_(ours, 1.0) == math.inf
    torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    for p, q in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(p.grad, q.grad.numpy())


def test_clip_grad_value_matches_pytorch() -> None:
    torch = oracle()
    gs = [*grads(scale=2.0)[:2], None]
    ours, theirs = params_with(gs), torch_params_with(torch, gs)
    assert clip_grad_value_(ours, 0.7) is None
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q in zip(ours[:2], theirs[:2], strict=True):
        np.testing.assert_array_equal(p.grad, q.grad.numpy())
    assert ours[0].grad.max() == 0.7 and ours[0].grad.min() == -0.7


def test_clip_grad_value_clamps_in_place_and_keeps_float32() -> None:
    (p,) = params_with(grads(scale=5.0, dtype=np.float32)[:1])
    g = p.grad
    clip_grad_value_(p, 1)
    assert p.grad is g and g.dtype == np.float32
    assert np.abs(g).max() == 1.0


def test_negative_limits_are_rejected() -> None:
    params = params_with(grads())
    with pytest.raises(ValueError, match="max_norm must be >= 0, got -1"):
        clip_grad_norm_(params, -1)
    with pytest.raises(ValueError, match="clip_value must be >= 0, got -0.5"):
        clip_grad_value_(params, -0.5)
