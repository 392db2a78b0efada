"""Losses: cross_entropy, nll_loss, mse_loss, binary_cross_entropy_with_logits.

Each against a plain NumPy reference written as a loop (the textbook definition), its
backward with ``gradcheck``, dtype preservation, every option against PyTorch where it is
installed, and the error messages.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

import minidl
import minidl.functional as F

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # PyTorch is only a test oracle
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (the test oracle) not installed")

N, C = 6, 4
REDUCTIONS = ["none", "sum", "mean"]


def leaf(a: np.ndarray, dtype=np.float64) -> minidl.Tensor:
    return minidl.tensor(np.asarray(a, dtype=dtype), requires_grad=True)


def logits(seed: int = 0, scale: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((N, C)) * scale


LABELS = np.array([0, 3, 1, 1, 2, 3])
LABELS_IGNORED = np.array([0, -100, 1, 3, -100, 2])
CLASS_WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])


def probabilities(seed: int = 1) -> np.ndarray:
    p = np.random.default_rng(seed).uniform(0.1, 1.0, (N, C))
    return p / p.sum(1, keepdims=True)


def _log_softmax_row(row: np.ndarray) -> np.ndarray:
    m = row.max()
    return row - m - np.log(np.exp(row - m).sum())


def _reduce(per_sample: np.ndarray, reduction: str, denom: float) -> np.ndarray:
    if reduction == "none":
        return per_sample
    return per_sample.sum() / (denom if reduction == "mean" else 1.0)


def cross_entropy_ref(x, target, weight=None, ignore_index=-100, reduction="mean",
                      label_smoothing=0.0, log_probs=False):
    """The definitions in PyTorch's documentation, one sample at a time."""
    n, c = x.shape
    w = np.ones(c) if weight is None else weight
    per_sample, denom = np.zeros(n), 0.0
    for i in range(n):
        logp = x[i] if log_probs else _log_softmax_row(x[i])
        if target.dtype.kind == "f":  # class probabilities
            q = target[i] * (1 - label_smoothing) + label_smoothing / c
            per_sample[i] = -(w * q * logp).sum()
            denom += 1
        elif target[i] != ignore_index:
            k = target[i]
            smooth = -(w * logp).sum() / c
            per_sample[i] = (1 - label_smoothing) * -w[k] * logp[k] + label_smoothing * smooth
            denom += w[k]
    return _reduce(per_sample, reduction, denom)


def bce_ref(x, t, weight=None, reduction="mean", pos_weight=None):
    p = 1 if pos_weight is None else pos_weight
    w = 1 if weight is None else weight
    sig = 1 / (1 + np.exp(-x))
    loss = -w * (p * t * np.log(sig) + (1 - t) * np.log(1 - sig))
    return _reduce(loss, reduction, loss.size)


# ---------------------------------------------------------------------------- cross_entropy

CE_OPTIONS = list(itertools.product(REDUCTIONS, [None, CLASS_WEIGHT], [0.0, 0.2], [False, True]))
CE_IDS = [f"{r}-{'w' if w is not None else 'now'}-ls{s}-{'ign' if i else 'all'}"
          for r, w, s, i in CE_OPTIONS]


@pytest.mark.parametrize("reduction, weight, smoothing, ignore", CE_OPTIONS, ids=CE_IDS)
def test_cross_entropy_with_class_indices(reduction, weight, smoothing, ignore) -> None:
    x = logits()
    target = LABELS_IGNORED if ignore else LABELS
    kwargs = dict(weight=weight, reduction=reduction, label_smoothing=smoothing)
    out = F.cross_entropy(leaf(x), minidl.tensor(target), **kwargs)
    expected = cross_entropy_ref(x, target, **kwargs)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-14)
    assert minidl.gradcheck(lambda z: F.cross_entropy(z, target, **kwargs), [leaf(x)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, CLASS_WEIGHT])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_with_class_probabilities(reduction, weight, smoothing) -> None:
    x, q = logits(2), probabilities()
    kwargs = dict(weight=weight, reduction=reduction, label_smoothing=smoothing)
    out = F.cross_entropy(leaf(x), minidl.tensor(q), **kwargs)
    np.testing.assert_allclose(out.data, cross_entropy_ref(x, q, **kwargs), rtol=1e-12)
    assert minidl.gradcheck(lambda z: F.cross_entropy(z, q, **kwargs), [leaf(x)])


def test_cross_entropy_with_a_custom_ignore_index_and_one_hot_probabilities() -> None:
    x = logits(3)
    out = F.cross_entropy(leaf(x), LABELS, ignore_index=1)
    np.testing.assert_allclose(out.data, cross_entropy_ref(x, LABELS, ignore_index=1))
    # one-hot probability targets give the same loss as the class indices
    one_hot = np.eye(C)[LABELS]
    np.testing.assert_allclose(F.cross_entropy(leaf(x), one_hot).data,
                               F.cross_entropy(leaf(x), LABELS).data, rtol=1e-12)


def test_cross_entropy_gradient_is_softmax_minus_one_hot_over_n() -> None:
    x = leaf(logits(4))
    F.cross_entropy(x, LABELS).backward()
    e = np.exp(x.data - x.data.max(1, keepdims=True))
    expected = (e / e.sum(1, keepdims=True) - np.eye(C)[LABELS]) / N
    np.testing.assert_allclose(x.grad, expected, rtol=1e-12, atol=1e-15)


def test_cross_entropy_is_stable_for_huge_logits() -> None:
    x = leaf(np.array([[1e4, -1e4, 0.0], [0.0, 0.0, 3e4]]))
    out = F.cross_entropy(x, np.array([1, 2]))
    np.testing.assert_allclose(out.item(), 2e4 / 2)
    out.backward()
    assert np.isfinite(x.grad).all()


def test_cross_entropy_where_every_target_is_ignored_is_nan_like_pytorch() -> None:
    with np.errstate(invalid="ignore"):
        out = F.cross_entropy(leaf(logits()), np.full(N, -100))
    assert np.isnan(out.item())


@needs_torch
@pytest.mark.parametrize("reduction, weight, smoothing, ignore", CE_OPTIONS, ids=CE_IDS)
def test_cross_entropy_matches_torch(reduction, weight, smoothing, ignore) -> None:
    x = logits(5)
    target = LABELS_IGNORED if ignore else LABELS
    ours = leaf(x)
    theirs = torch.tensor(x, requires_grad=True)
    out = F.cross_entropy(ours, target, weight=weight, reduction=reduction,
                          label_smoothing=smoothing)
    ref = TF.cross_entropy(theirs, torch.tensor(target),
                           weight=None if weight is None else torch.tensor(weight),
                           reduction=reduction, label_smoothing=smoothing)
    _compare_with_torch(out, ref, ours, theirs)


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, CLASS_WEIGHT])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_with_probabilities_matches_torch(reduction, weight, smoothing) -> None:
    x, q = logits(6), probabilities(7)
    ours, theirs = leaf(x), torch.tensor(x, requires_grad=True)
    out = F.cross_entropy(ours, q, weight=weight, reduction=reduction, label_smoothing=smoothing)
    ref = TF.cross_entropy(theirs, torch.tensor(q),
                           weight=None if weight is None else torch.tensor(weight),
                           reduction=reduction, label_smoothing=smoothing)
    _compare_with_torch(out, ref, ours, theirs)


@needs_torch
def test_cross_entropy_with_custom_ignore_index_matches_torch() -> None:
    x = logits(8)
    ours, theirs = leaf(x), torch.tensor(x, requires_grad=True)
    out = F.cross_entropy(ours, LABELS, weight=CLASS_WEIGHT, ignore_index=3,
                          label_smoothing=0.1)
    ref = TF.cross_entropy(theirs, torch.tensor(LABELS), weight=torch.tensor(CLASS_WEIGHT),
                           ignore_index=3, label_smoothing=0.1)
    _compare_with_torch(out, ref, ours, theirs)


def _compare_with_torch(out, ref, ours, theirs, rtol=1e-10) -> None:
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=rtol, atol=1e-12)
    g = np.random.default_rng(9).uniform(0.5, 1.5, out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g, dtype=ref.dtype))
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=rtol, atol=1e-12)


# ---------------------------------------------------------------------------- nll_loss

NLL_OPTIONS = list(itertools.product(REDUCTIONS, [None, CLASS_WEIGHT], [False, True]))


@pytest.mark.parametrize("reduction, weight, ignore", NLL_OPTIONS)
def test_nll_loss(reduction, weight, ignore) -> None:
    logp = np.log(probabilities(10))
    target = LABELS_IGNORED if ignore else LABELS
    out = F.nll_loss(leaf(logp), target, weight=weight, reduction=reduction)
    expected = cross_entropy_ref(logp, target, weight=weight, reduction=reduction,
                                 log_probs=True)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    assert minidl.gradcheck(lambda z: F.nll_loss(z, target, weight=weight, reduction=reduction),
                            [leaf(logp)])


def test_nll_loss_of_log_softmax_is_cross_entropy() -> None:
    x = leaf(logits(11))
    a = F.nll_loss(F.log_softmax(x, 1), LABELS, weight=CLASS_WEIGHT)
    b = F.cross_entropy(x, LABELS, weight=CLASS_WEIGHT)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)


@needs_torch
@pytest.mark.parametrize("reduction, weight, ignore", NLL_OPTIONS)
def test_nll_loss_matches_torch(reduction, weight, ignore) -> None:
    logp = np.log(probabilities(12))
    target = LABELS_IGNORED if ignore else LABELS
    ours, theirs = leaf(logp), torch.tensor(logp, requires_grad=True)
    out = F.nll_loss(ours, minidl.tensor(target), weight=weight, reduction=reduction)
    ref = TF.nll_loss(theirs, torch.tensor(target),
                      weight=None if weight is None else torch.tensor(weight),
                      reduction=reduction)
    _compare_with_torch(out, ref, ours, theirs)
    ours, theirs = leaf(logp), torch.tensor(logp, requires_grad=True)
    out = F.nll_loss(ours, LABELS, ignore_index=0, reduction=reduction)
    ref = TF.nll_loss(theirs, torch.tensor(LABELS), ignore_index=0, reduction=reduction)
    _compare_with_torch(out, ref, ours, theirs)


# ---------------------------------------------------------------------------- mse_loss


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss(reduction) -> None:
    rng = np.random.default_rng(13)
    x, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    out = F.mse_loss(leaf(x), minidl.tensor(t), reduction=reduction)
    np.testing.assert_allclose(out.data, _reduce((x - t) ** 2, reduction, x.size), rtol=1e-12)
    # gradients for both the input and a target that requires grad
    assert minidl.gradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction),
                            [leaf(x), leaf(t)])


def test_mse_loss_accepts_array_targets_and_keeps_float32() -> None:
    x = leaf([1.0, 2.0, 4.0], np.float32)
    out = F.mse_loss(x, np.array([1.0, 0.0, 2.0]))  # a float64 array target
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.item(), 8 / 3, rtol=1e-6)
    out.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, [0.0, 4 / 3, 4 / 3], rtol=1e-6)


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_matches_torch(reduction) -> None:
    rng = np.random.default_rng(14)
    x, t = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    ours, theirs = leaf(x), torch.tensor(x, requires_grad=True)
    tgt, ttgt = leaf(t), torch.tensor(t, requires_grad=True)
    out = F.mse_loss(ours, tgt, reduction=reduction)
    ref = TF.mse_loss(theirs, ttgt, reduction=reduction)
    _compare_with_torch(out, ref, ours, theirs)
    np.testing.assert_allclose(tgt.grad, ttgt.grad.numpy(), rtol=1e-10)


# ---------------------------------------------------------------------------- BCE with logits

BCE_OPTIONS = list(itertools.product(REDUCTIONS, [False, True], [False, True]))


def _bce_data(seed: int = 15):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((5, 3)) * 3
    t = rng.uniform(0, 1, (5, 3))
    t[0] = [0.0, 1.0, 1.0]
    weight = rng.uniform(0.5, 2.0, (5, 1))  # broadcast over the columns
    pos_weight = np.array([0.5, 2.0, 4.0])  # one per column (class)
    return x, t, weight, pos_weight


@pytest.mark.parametrize("reduction, use_weight, use_pos_weight", BCE_OPTIONS)
def test_binary_cross_entropy_with_logits(reduction, use_weight, use_pos_weight) -> None:
    x, t, w, pw = _bce_data()
    kwargs = dict(weight=w if use_weight else None, reduction=reduction,
                  pos_weight=pw if use_pos_weight else None)
    out = F.binary_cross_entropy_with_logits(leaf(x), minidl.tensor(t), **kwargs)
    np.testing.assert_allclose(out.data, bce_ref(x, t, **kwargs), rtol=1e-12)
    assert minidl.gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, **kwargs),
                            [leaf(x), leaf(t)])


@needs_torch
@pytest.mark.parametrize("reduction, use_weight, use_pos_weight", BCE_OPTIONS)
def test_binary_cross_entropy_with_logits_matches_torch(reduction, use_weight,
                                                        use_pos_weight) -> None:
    x, t, w, pw = _bce_data(16)
    ours, theirs = leaf(x), torch.tensor(x, requires_grad=True)
    tgt, ttgt = leaf(t), torch.tensor(t, requires_grad=True)
    out = F.binary_cross_entropy_with_logits(
        ours, tgt, weight=w if use_weight else None, reduction=reduction,
        pos_weight=pw if use_pos_weight else None)
    ref = TF.binary_cross_entropy_with_logits(
        theirs, ttgt, weight=torch.tensor(w) if use_weight else None, reduction=reduction,
        pos_weight=torch.tensor(pw) if use_pos_weight else None)
    _compare_with_torch(out, ref, ours, theirs)
    np.testing.assert_allclose(tgt.grad, ttgt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_with_extreme_logits_stays_finite(dtype) -> None:
    x = leaf([1e4, -1e4, 1e4, -1e4, 0.0], dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    out = F.binary_cross_entropy_with_logits(x, t, reduction="none",
                                             pos_weight=np.array(3.0))
    assert out.dtype == dtype and np.isfinite(out.data).all()
    # right answers: 0 where confident and right, |x| (times pos_weight) where wrong
    np.testing.assert_allclose(out.data, [0.0, 0.0, 1e4, 3e4, 3 * np.log(2)], rtol=1e-6)
    out.sum().backward()
    assert x.grad.dtype == dtype
    np.testing.assert_allclose(x.grad, [0.0, 0.0, 1.0, -3.0, -1.5], rtol=1e-6, atol=1e-7)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_with_extreme_logits_matches_torch(dtype) -> None:
    x = np.array([[1e4, -1e4, 50.0], [-1e4, 1e4, -50.0]], dtype=dtype)
    t = np.array([[1.0, 1.0, 0.0], [0.0, 0.5, 1.0]], dtype=dtype)
    pw = np.array([1.0, 2.0, 0.5], dtype=dtype)
    ours, theirs = leaf(x, dtype), torch.tensor(x, requires_grad=True)
    out = F.binary_cross_entropy_with_logits(ours, t, pos_weight=pw, reduction="sum")
    ref = TF.binary_cross_entropy_with_logits(theirs, torch.tensor(t),
                                              pos_weight=torch.tensor(pw), reduction="sum")
    assert np.isfinite(out.item())
    _compare_with_torch(out, ref, ours, theirs, rtol=1e-5 if dtype == np.float32 else 1e-10)


# ---------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("loss", [
    lambda x: F.cross_entropy(x, LABELS),
    lambda x: F.cross_entropy(x, LABELS_IGNORED, weight=CLASS_WEIGHT, label_smoothing=0.1),
    lambda x: F.cross_entropy(x, probabilities().astype(np.float32), reduction="none"),
    lambda x: F.nll_loss(F.log_softmax(x, 1), LABELS, reduction="sum"),
    lambda x: F.mse_loss(x, np.zeros((N, C))),
    lambda x: F.binary_cross_entropy_with_logits(x, np.ones((N, C)), weight=np.ones(C),
                                                 pos_weight=np.full(C, 2.0)),
], ids=["ce", "ce_options", "ce_probs", "nll", "mse", "bce"])
def test_losses_keep_float32(loss) -> None:
    x = leaf(logits(), np.float32)
    out = loss(x)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, np.float32))
    assert x.grad.dtype == np.float32
    ref = loss(leaf(logits()))
    np.testing.assert_allclose(out.data, ref.data, rtol=1e-5)


# ---------------------------------------------------------------------------- errors


def test_cross_entropy_errors() -> None:
    x = leaf(logits())
    with pytest.raises(ValueError, match=re.escape(
            "cross_entropy: class-probability target of shape (6, 3) must match input (6, 4)")):
        F.cross_entropy(x, np.ones((N, 3)) / 3)
    with pytest.raises(IndexError, match=re.escape(
            "cross_entropy: target contains class index 4, but input has 4 classes "
            "(valid indices are 0..3)")):
        F.cross_entropy(x, np.array([0, 1, 4, 2, 9, 0]))
    with pytest.raises(IndexError, match="target contains class index -1, but input has 4"):
        F.cross_entropy(x, np.array([0, 1, -1, 2, 3, 0]))
    with pytest.raises(ValueError, match=re.escape(
            "cross_entropy: input must have shape (N, C) (a batch of class scores), got "
            "(2, 3, 4)")):
        F.cross_entropy(leaf(np.zeros((2, 3, 4))), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=re.escape("got (4,)")):
        F.cross_entropy(leaf(np.zeros(4)), np.array(1))
    with pytest.raises(ValueError, match=re.escape(
            "cross_entropy: target of shape (5,) does not match input (6, 4): expected (6,)")):
        F.cross_entropy(x, np.zeros(5, np.int64))
    with pytest.raises(TypeError, match="target must hold integer class indices .* got dtype "
                                        "bool"):
        F.cross_entropy(x, np.ones(N, bool))
    with pytest.raises(ValueError, match=re.escape(
            "cross_entropy: weight must have shape (4,) (one per class), got (3,)")):
        F.cross_entropy(x, LABELS, weight=np.ones(3))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        F.cross_entropy(x, LABELS, reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing must be in \\[0, 1\\], got 1.5"):
        F.cross_entropy(x, LABELS, label_smoothing=1.5)


def test_nll_mse_and_bce_errors() -> None:
    x = leaf(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="nll_loss: target must hold integer class indices, "
                                        "got dtype float64"):
        F.nll_loss(x, np.zeros(2))
    with pytest.raises(IndexError, match="nll_loss: target contains class index 3, but input "
                                         "has 3 classes"):
        F.nll_loss(x, np.array([0, 3]))
    with pytest.raises(ValueError, match=re.escape(
            "mse_loss: input shape (2, 3) and target shape (3,) differ")):
        F.mse_loss(x, minidl.zeros(3))
    with pytest.raises(ValueError, match=re.escape(
            "mse_loss: input shape (2, 3) and target shape (2, 1) differ")):
        F.mse_loss(x, np.zeros((2, 1)))
    with pytest.raises(ValueError, match=re.escape(
            "binary_cross_entropy_with_logits: input shape (2, 3) and target shape (6,)")):
        F.binary_cross_entropy_with_logits(x, np.zeros(6))
    int_target = minidl.tensor([[0, 1, 1], [1, 0, 0]])
    as_float = minidl.tensor([[0.0, 1, 1], [1, 0, 0]], dtype=x.dtype)
    assert F.binary_cross_entropy_with_logits(x, int_target).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(x, as_float).item())
    with pytest.raises(ValueError, match=re.escape(
            "binary_cross_entropy_with_logits pos_weight: shapes (2,) and (2, 3) cannot be "
            "broadcast together")):
        F.binary_cross_entropy_with_logits(x, np.zeros((2, 3)), pos_weight=np.ones(2))
    with pytest.raises(ValueError, match="mse_loss: reduction must be"):
        F.mse_loss(x, np.zeros((2, 3)), reduction="mean ")
