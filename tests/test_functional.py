"""The op library: every op's forward against NumPy, its backward with ``gradcheck``
(float64), dtype preservation, non-contiguous inputs, broadcasting, edge shapes, error
messages, and parity with PyTorch where it is installed.

Most ops are described once in ``CASES`` and every check runs over the whole table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

import minidl
import minidl.functional as F

try:
    import torch
except ImportError:  # PyTorch is only a test oracle
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (the test oracle) not installed")

MD = SimpleNamespace(F=F, cat=minidl.cat, stack=minidl.stack, where=minidl.where,
                     asarray=minidl.tensor)
TORCH = None if torch is None else SimpleNamespace(
    F=torch.nn.functional, cat=torch.cat, stack=torch.stack, where=torch.where,
    asarray=torch.as_tensor)


# ---------------------------------------------------------------------------- test data


def sample(shape: tuple, domain: str, rng: np.random.Generator) -> np.ndarray:
    """Float64 test values, kept away from the kinks of the op under test.

    real: N(0, 1); pos: [0.5, 2]; nonzero: |x| in [0.3, 1.5] (relu, abs, divisors);
    distinct: no two values within 0.3 of each other (max/min without ties);
    clamp: |x| at least 0.1 away from the clamp bounds ±0.5.
    """
    if domain == "real":
        return rng.standard_normal(shape)
    if domain == "pos":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "nonzero":
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 1.5, shape)
    if domain == "distinct":
        n = int(np.prod(shape))
        return (rng.permutation(n) * 0.3 - 0.15 * n + rng.uniform(0, 0.05, n)).reshape(shape)
    if domain == "clamp":
        x = rng.uniform(-1.5, 1.5, shape)
        return np.where(np.abs(np.abs(x) - 0.5) < 0.1, x + 0.25, x)
    raise ValueError(domain)


@dataclass
class Case:
    name: str
    fn: Callable  # fn(lib, *tensors): the op, written once for minidl and torch
    ref: Callable  # ref(*arrays): the same op in NumPy
    inputs: list  # [(shape, domain), ...]

    def arrays(self, seed: int = 0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        return [sample(shape, domain, rng) for shape, domain in self.inputs]


COND = np.array([[True, False, True], [False, False, True]])
MASK = np.array([True, False, True])


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    return np.log(_softmax(x, axis))


R, P, NZ, D, CL = "real", "pos", "nonzero", "distinct", "clamp"

CASES = [
    # arithmetic
    Case("add", lambda L, a, b: a + b, np.add, [((2, 3), R), ((2, 3), R)]),
    Case("add_broadcast", lambda L, a, b: a + b, np.add, [((2, 1, 3), R), ((4, 1), R)]),
    Case("add_scalar", lambda L, a: 2.5 + a, lambda a: 2.5 + a, [((3,), R)]),
    Case("sub", lambda L, a, b: a - b, np.subtract, [((3, 1), R), ((1, 4), R)]),
    Case("rsub_scalar", lambda L, a: 3 - a, lambda a: 3 - a, [((2, 2), R)]),
    Case("mul", lambda L, a, b: a * b, np.multiply, [((2, 3), R), ((3,), R)]),
    Case("mul_scalar", lambda L, a: a * -0.5, lambda a: a * -0.5, [((4,), R)]),
    Case("div", lambda L, a, b: a / b, np.divide, [((2, 3), R), ((2, 1), NZ)]),
    Case("rdiv_scalar", lambda L, a: 2 / a, lambda a: 2 / a, [((3,), NZ)]),
    Case("neg", lambda L, a: -a, np.negative, [((2, 3), R)]),
    Case("pow_int", lambda L, a: a ** 3, lambda a: a ** 3, [((2, 3), R)]),
    Case("pow_float", lambda L, a: a ** 2.5, lambda a: a ** 2.5, [((4,), P)]),
    Case("pow_negative", lambda L, a: a ** -1.5, lambda a: a ** -1.5, [((4,), P)]),
    Case("pow_tensor", lambda L, a, b: a ** b, np.power, [((2, 3), P), ((3,), R)]),
    Case("rpow", lambda L, a: 2 ** a, lambda a: 2.0 ** a, [((3,), R)]),
    # matmul and linear
    Case("matmul_2d", lambda L, a, b: a @ b, np.matmul, [((3, 4), R), ((4, 2), R)]),
    Case("matmul_mv", lambda L, a, b: a @ b, np.matmul, [((3, 4), R), ((4,), R)]),
    Case("matmul_vm", lambda L, a, b: a @ b, np.matmul, [((4,), R), ((4, 2), R)]),
    Case("matmul_dot", lambda L, a, b: a @ b, np.matmul, [((4,), R), ((4,), R)]),
    Case("matmul_batched", lambda L, a, b: a @ b, np.matmul, [((2, 3, 4), R), ((2, 4, 2), R)]),
    Case("matmul_batch_broadcast", lambda L, a, b: a @ b, np.matmul,
         [((2, 1, 3, 2), R), ((3, 2, 2), R)]),
    Case("matmul_2d_3d", lambda L, a, b: a @ b, np.matmul, [((3, 4), R), ((2, 4, 2), R)]),
    Case("matmul_vec_batched", lambda L, a, b: a @ b, np.matmul, [((4,), R), ((2, 4, 3), R)]),
    Case("linear", lambda L, x, w, b: L.F.linear(x, w, b), lambda x, w, b: x @ w.T + b,
         [((5, 3), R), ((4, 3), R), ((4,), R)]),
    Case("linear_no_bias", lambda L, x, w: L.F.linear(x, w), lambda x, w: x @ w.T,
         [((5, 3), R), ((4, 3), R)]),
    Case("linear_batched", lambda L, x, w, b: L.F.linear(x, w, b), lambda x, w, b: x @ w.T + b,
         [((2, 3, 3), R), ((2, 3), R), ((2,), R)]),
    Case("linear_1d", lambda L, x, w, b: L.F.linear(x, w, b), lambda x, w, b: x @ w.T + b,
         [((3,), R), ((2, 3), R), ((2,), R)]),
    # reductions
    Case("sum_all", lambda L, a: a.sum(), np.sum, [((2, 3, 2), R)]),
    Case("sum_dim", lambda L, a: a.sum(1), lambda a: a.sum(1), [((2, 3, 2), R)]),
    Case("sum_dims_keepdim", lambda L, a: a.sum(dim=(0, 2), keepdim=True),
         lambda a: a.sum((0, 2), keepdims=True), [((2, 3, 2), R)]),
    Case("sum_neg_dim", lambda L, a: a.sum(-1), lambda a: a.sum(-1), [((2, 3), R)]),
    Case("sum_0d", lambda L, a: a.sum(), np.sum, [((), R)]),
    Case("mean_all", lambda L, a: a.mean(), np.mean, [((3, 4), R)]),
    Case("mean_dim_keepdim", lambda L, a: a.mean(0, keepdim=True),
         lambda a: a.mean(0, keepdims=True), [((3, 4), R)]),
    Case("var_all", lambda L, a: a.var(), lambda a: a.var(ddof=1), [((3, 4), R)]),
    Case("var_dim", lambda L, a: a.var(1), lambda a: a.var(1, ddof=1), [((3, 4), R)]),
    Case("var_correction0_keepdim", lambda L, a: a.var(dim=-1, correction=0, keepdim=True),
         lambda a: a.var(-1, keepdims=True), [((2, 3, 4), R)]),
    Case("var_correction2", lambda L, a: a.var(dim=(0, 1), correction=2),
         lambda a: a.var((0, 1), ddof=2), [((2, 3, 2), R)]),
    Case("std", lambda L, a: a.std(0), lambda a: a.std(0, ddof=1), [((4, 3), R)]),
    Case("std_correction0", lambda L, a: a.std(correction=0), np.std, [((4, 3), R)]),
    Case("max_all", lambda L, a: a.max(), np.max, [((3, 4), D)]),
    Case("min_all", lambda L, a: a.min(), np.min, [((3, 4), D)]),
    Case("max_dim", lambda L, a: a.max(1).values, lambda a: a.max(1), [((3, 4), D)]),
    Case("max_neg_dim_keepdim", lambda L, a: a.max(-1, keepdim=True).values,
         lambda a: a.max(-1, keepdims=True), [((2, 3, 4), D)]),
    Case("min_dim", lambda L, a: a.min(0).values, lambda a: a.min(0), [((3, 4), D)]),
    Case("min_dim_keepdim", lambda L, a: a.min(dim=1, keepdim=True).values,
         lambda a: a.min(1, keepdims=True), [((2, 3, 4), D)]),
    # shapes
    Case("reshape", lambda L, a: a.reshape(6, 4), lambda a: a.reshape(6, 4), [((2, 3, 4), R)]),
    Case("reshape_tuple_minus1", lambda L, a: a.reshape((4, -1)),
         lambda a: a.reshape(4, -1), [((2, 3, 4), R)]),
    Case("view", lambda L, a: a.view(-1), lambda a: a.reshape(-1), [((2, 3), R)]),
    Case("flatten", lambda L, a: a.flatten(), lambda a: a.reshape(-1), [((2, 3, 2), R)]),
    Case("flatten_1", lambda L, a: a.flatten(1), lambda a: a.reshape(2, -1), [((2, 3, 2), R)]),
    Case("flatten_0_1", lambda L, a: a.flatten(0, 1), lambda a: a.reshape(6, 2),
         [((2, 3, 2), R)]),
    Case("permute", lambda L, a: a.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1),
         [((2, 3, 4), R)]),
    Case("transpose", lambda L, a: a.transpose(0, 2), lambda a: a.swapaxes(0, 2),
         [((2, 3, 4), R)]),
    Case("transpose_neg", lambda L, a: a.transpose(-1, -2), lambda a: a.swapaxes(-1, -2),
         [((2, 3, 4), R)]),
    Case("T", lambda L, a: a.T, lambda a: a.T, [((2, 3), R)]),
    Case("unsqueeze", lambda L, a: a.unsqueeze(1), lambda a: a[:, None], [((2, 3), R)]),
    Case("unsqueeze_neg", lambda L, a: a.unsqueeze(-1), lambda a: a[..., None], [((2, 3), R)]),
    Case("squeeze_all", lambda L, a: a.squeeze(), np.squeeze, [((1, 3, 1), R)]),
    Case("squeeze_dim", lambda L, a: a.squeeze(0), lambda a: a[0], [((1, 3, 1), R)]),
    Case("squeeze_non1_dim", lambda L, a: a.squeeze(1), lambda a: a, [((1, 3, 1), R)]),
    # indexing
    Case("index_int", lambda L, a: a[1], lambda a: a[1], [((3, 4), R)]),
    Case("index_neg_int", lambda L, a: a[-1, 2], lambda a: a[-1, 2], [((3, 4), R)]),
    Case("index_slice", lambda L, a: a[:, 1:3], lambda a: a[:, 1:3], [((3, 4), R)]),
    Case("index_step", lambda L, a: a[::2, 1::2], lambda a: a[::2, 1::2], [((3, 4), R)]),
    Case("index_repeated_list", lambda L, a: a[[0, 2, 0, 0]], lambda a: a[[0, 2, 0, 0]],
         [((3, 4), R)]),
    Case("index_int_arrays", lambda L, a: a[L.asarray(np.array([1, 0, 1])),
                                            L.asarray(np.array([2, 2, 2]))],
         lambda a: a[[1, 0, 1], [2, 2, 2]], [((3, 4), R)]),
    Case("index_bool_mask", lambda L, a: a[L.asarray(MASK)], lambda a: a[MASK], [((3, 4), R)]),
    Case("index_none_ellipsis", lambda L, a: a[None, ..., 1], lambda a: a[None, ..., 1],
         [((2, 3, 4), R)]),
    Case("index_mixed", lambda L, a: a[L.asarray(np.array([2, 0, 2])), 1:],
         lambda a: a[[2, 0, 2], 1:], [((3, 4), R)]),
    # joining
    Case("cat0", lambda L, a, b: L.cat([a, b]), lambda a, b: np.concatenate([a, b]),
         [((2, 3), R), ((1, 3), R)]),
    Case("cat1", lambda L, a, b: L.cat([a, b], dim=1), lambda a, b: np.concatenate([a, b], 1),
         [((2, 3), R), ((2, 1), R)]),
    Case("cat_neg3", lambda L, a, b, c: L.cat([a, b, c], dim=-1),
         lambda a, b, c: np.concatenate([a, b, c], -1), [((2, 2), R), ((2, 3), R), ((2, 1), R)]),
    Case("stack0", lambda L, a, b: L.stack([a, b]), lambda a, b: np.stack([a, b]),
         [((2, 3), R), ((2, 3), R)]),
    Case("stack_neg", lambda L, a, b, c: L.stack([a, b, c], dim=-1),
         lambda a, b, c: np.stack([a, b, c], -1), [((2, 3), R)] * 3),
    # elementwise
    Case("exp", lambda L, a: a.exp(), np.exp, [((2, 3), R)]),
    Case("log", lambda L, a: a.log(), np.log, [((2, 3), P)]),
    Case("sqrt", lambda L, a: a.sqrt(), np.sqrt, [((2, 3), P)]),
    Case("abs", lambda L, a: a.abs(), np.abs, [((2, 3), NZ)]),
    Case("clamp", lambda L, a: a.clamp(-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5),
         [((3, 4), CL)]),
    Case("clamp_min", lambda L, a: a.clamp(min=0.5), lambda a: np.maximum(a, 0.5),
         [((3, 4), CL)]),
    Case("clamp_max", lambda L, a: a.clamp(max=-0.5), lambda a: np.minimum(a, -0.5),
         [((3, 4), CL)]),
    Case("where", lambda L, a, b: L.where(L.asarray(COND), a, b),
         lambda a, b: np.where(COND, a, b), [((2, 3), R), ((2, 3), R)]),
    Case("where_broadcast", lambda L, a, b: L.where(L.asarray(COND), a, b),
         lambda a, b: np.where(COND, a, b), [((3,), R), ((2, 1), R)]),
    Case("where_scalar", lambda L, a: L.where(L.asarray(COND), a, 0.0),
         lambda a: np.where(COND, a, 0.0), [((2, 3), R)]),
    Case("clone", lambda L, a: a.clone() * 1.0, lambda a: a.copy(), [((2, 3), R)]),
    # activations
    Case("sigmoid", lambda L, a: a.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), [((3, 4), R)]),
    Case("tanh", lambda L, a: a.tanh(), np.tanh, [((3, 4), R)]),
    Case("relu", lambda L, a: a.relu(), lambda a: np.maximum(a, 0), [((3, 4), NZ)]),
    Case("softmax_dim1", lambda L, a: L.F.softmax(a, 1), lambda a: _softmax(a, 1),
         [((3, 4), R)]),
    Case("softmax_dim0", lambda L, a: a.softmax(0), lambda a: _softmax(a, 0), [((3, 4), R)]),
    Case("log_softmax", lambda L, a: L.F.log_softmax(a, -1), lambda a: _log_softmax(a, -1),
         [((3, 4), R)]),
    Case("log_softmax_3d", lambda L, a: a.log_softmax(1), lambda a: _log_softmax(a, 1),
         [((2, 3, 2), R)]),
    # compositions: a small network layer and a normalisation
    Case("mlp_layer", lambda L, x, w, b: L.F.linear(x, w, b).tanh().sum(1),
         lambda x, w, b: np.tanh(x @ w.T + b).sum(1), [((4, 3), R), ((2, 3), R), ((2,), R)]),
    Case("layernorm", lambda L, x: (x - x.mean(-1, keepdim=True))
         / (x.var(-1, keepdim=True, correction=0) + 1e-5).sqrt(),
         lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5),
         [((3, 5), R)]),
]
IDS = [c.name for c in CASES]


def leaves(arrays: list[np.ndarray], dtype=np.float64) -> list[minidl.Tensor]:
    return [minidl.tensor(a.astype(dtype), requires_grad=True) for a in arrays]


# ---------------------------------------------------------------------------- the table


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_matches_numpy(case: Case) -> None:
    arrays = case.arrays()
    out = case.fn(MD, *leaves(arrays))
    expected = np.asarray(case.ref(*arrays))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_gradcheck(case: Case) -> None:
    assert minidl.gradcheck(lambda *xs: case.fn(MD, *xs), leaves(case.arrays(1)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dtype_is_preserved(case: Case, dtype) -> None:
    arrays = case.arrays(2)
    xs = leaves(arrays, dtype)
    out = case.fn(MD, *xs)
    assert out.dtype == dtype
    out.backward(np.ones(out.shape, dtype))
    for x in xs:
        assert x.grad is not None and x.grad.dtype == dtype and x.grad.shape == x.shape
    # float32 agrees with float64 to float32 precision
    np.testing.assert_allclose(out.data, np.asarray(case.ref(*arrays)), rtol=1e-4, atol=1e-5)


def _non_contiguous(arrays: list[np.ndarray]) -> tuple[list[np.ndarray], Callable]:
    """Bases whose transposed, strided views have the original shapes, and the viewing op."""
    bases = []
    for a in arrays:
        if a.ndim == 0:
            bases.append(a)
            continue
        wide = np.repeat(a, 2, axis=-1)  # the view [..., ::2] picks the original values
        bases.append(np.ascontiguousarray(wide.transpose(*reversed(range(a.ndim)))))

    def view(x: minidl.Tensor) -> minidl.Tensor:
        return x if x.ndim == 0 else x.permute(*reversed(range(x.ndim)))[..., ::2]

    return bases, view


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_non_contiguous_inputs(case: Case) -> None:
    arrays = case.arrays(3)
    bases, view = _non_contiguous(arrays)
    xs = leaves(bases)
    views = [view(x) for x in xs]
    for v, a in zip(views, arrays, strict=True):
        np.testing.assert_array_equal(v.data, a)
        if v.ndim and min(v.shape) > 1:  # (with a size-1 dim NumPy may call it contiguous)
            assert not v.data.flags.c_contiguous
    out = case.fn(MD, *views)
    np.testing.assert_allclose(out.data, np.asarray(case.ref(*arrays)), rtol=1e-12, atol=1e-12)
    assert minidl.gradcheck(lambda *bs: case.fn(MD, *[view(b) for b in bs]), leaves(bases))


@needs_torch
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_parity_with_torch(case: Case) -> None:
    arrays = case.arrays(4)
    ours = leaves(arrays)
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = case.fn(MD, *ours), case.fn(TORCH, *theirs)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    upstream = np.random.default_rng(5).standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    for x, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------- broadcasting

BINARY = {
    "add": (lambda a, b: a + b, np.add, R, R),
    "sub": (lambda a, b: a - b, np.subtract, R, R),
    "mul": (lambda a, b: a * b, np.multiply, R, R),
    "div": (lambda a, b: a / b, np.divide, R, NZ),
    "pow": (lambda a, b: a ** b, np.power, P, R),
    "where": (lambda a, b: minidl.where(a > b, a, b), np.maximum, D, D),
}
pairs_of_broadcastable_shapes = hnp.mutually_broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3)


@given(shapes=pairs_of_broadcastable_shapes, op=st.sampled_from(sorted(BINARY)),
       seed=st.integers(0, 2**16))
def test_broadcasting_binary_ops(shapes, op: str, seed: int) -> None:
    (sa, sb), out_shape = shapes
    fn, ref, da, db = BINARY[op]
    rng = np.random.default_rng(seed)
    a, b = sample(sa, da, rng), sample(sb, db, rng)
    if op == "where":  # distinct values across both operands: no ties at a > b
        both = sample((a.size + b.size,), D, rng)
        a, b = both[:a.size].reshape(sa), both[a.size:].reshape(sb)
    x, y = leaves([a, b])
    out = fn(x, y)
    assert out.shape == out_shape
    np.testing.assert_allclose(out.data, ref(a, b), rtol=1e-12)
    out.sum().backward()
    assert x.grad.shape == sa and y.grad.shape == sb  # summed back to each operand's shape
    assert minidl.gradcheck(fn, leaves([a, b]))


@given(shapes=pairs_of_broadcastable_shapes, seed=st.integers(0, 2**16))
def test_broadcast_gradient_is_the_sum_over_broadcast_dims(shapes, seed: int) -> None:
    (sa, sb), out_shape = shapes
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    g = rng.standard_normal(out_shape)
    x, y = leaves([a, b])
    (x * y).backward(g)
    # d/da Σ g (a * b) = Σ over the broadcast dims of g * b
    full_b = np.broadcast_to(b, out_shape)
    lead = len(out_shape) - len(sa)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(sa) if n == 1 and out_shape[lead + i] != 1)
    np.testing.assert_allclose(x.grad, (g * full_b).sum(axis=axes).reshape(sa), rtol=1e-10)


@given(batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3),
       n=st.integers(1, 3), k=st.integers(1, 3), m=st.integers(1, 3), seed=st.integers(0, 99))
def test_matmul_batch_broadcasting(batch, n: int, k: int, m: int, seed: int) -> None:
    (ba, bb), out_batch = batch
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(ba + (n, k)), rng.standard_normal(bb + (k, m))
    x, y = leaves([a, b])
    out = x @ y
    assert out.shape == out_batch + (n, m)
    np.testing.assert_allclose(out.data, a @ b, rtol=1e-12, atol=1e-12)
    assert minidl.gradcheck(lambda p, q: p @ q, leaves([a, b]))


@needs_torch
@given(shapes=pairs_of_broadcastable_shapes, op=st.sampled_from(["add", "sub", "mul", "div"]),
       seed=st.integers(0, 2**16))
def test_broadcasting_parity_with_torch(shapes, op: str, seed: int) -> None:
    (sa, sb), _ = shapes
    fn, _, da, db = BINARY[op]
    rng = np.random.default_rng(seed)
    a, b = sample(sa, da, rng), sample(sb, db, rng)
    x, y = leaves([a, b])
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (fn(x, y) ** 2).sum().backward()
    (fn(tx, ty) ** 2).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y.grad, ty.grad.numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------- reductions


@st.composite
def reduction_args(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    nd = len(shape)
    dim = draw(st.one_of(
        st.none(),
        st.integers(-nd, nd - 1),
        st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True).map(tuple),
    ))
    return shape, dim, draw(st.booleans()), draw(st.integers(0, 2**16))


@given(args=reduction_args(), op=st.sampled_from(["sum", "mean", "var0", "var1"]))
def test_reductions_any_dim(args, op: str) -> None:
    shape, dim, keepdim, seed = args
    a = np.random.default_rng(seed).standard_normal(shape)
    axis = None if dim is None else dim
    n = a.size if dim is None else int(np.prod([shape[d] for d in np.atleast_1d(dim)]))
    if op == "var1" and n < 2:
        return  # N - 1 = 0: NaN (tested on its own below)

    def fn(x):
        if op.startswith("var"):
            return x.var(dim, correction=int(op[-1]), keepdim=keepdim)
        return getattr(x, op)(dim, keepdim=keepdim)

    if op.startswith("var"):
        expected = a.var(axis=axis, ddof=int(op[-1]), keepdims=keepdim)
    else:
        expected = getattr(a, op)(axis=axis, keepdims=keepdim)
    (x,) = leaves([a])
    out = fn(x)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)
    assert minidl.gradcheck(fn, leaves([a]))


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
       data=st.data(), largest=st.booleans(), keepdim=st.booleans())
def test_max_min_with_dim_return_values_and_indices(shape, data, largest: bool,
                                                    keepdim: bool) -> None:
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    a = sample(shape, D, np.random.default_rng(data.draw(st.integers(0, 99))))
    (x,) = leaves([a])
    result = x.max(dim, keepdim) if largest else x.min(dim, keepdim)
    values, indices = result  # a named tuple (values, indices), as in PyTorch
    assert result.values is values and result.indices is indices
    pick = np.argmax if largest else np.argmin
    expected_idx = pick(a, axis=dim)
    if keepdim:
        expected_idx = np.expand_dims(expected_idx, dim)
    np.testing.assert_array_equal(indices.data, expected_idx)
    assert indices.dtype == np.int64 and not indices.requires_grad
    expected = a.max(dim, keepdims=keepdim) if largest else a.min(dim, keepdims=keepdim)
    np.testing.assert_array_equal(values.data, expected)
    values.sum().backward()
    # the gradient is 1 exactly at the selected element of each slice
    onehot = np.zeros_like(a)
    np.put_along_axis(onehot, np.expand_dims(pick(a, axis=dim), dim), 1.0, axis=dim)
    np.testing.assert_array_equal(x.grad, onehot)


def test_argmax_argmin() -> None:
    a = sample((3, 4, 2), D, np.random.default_rng(0))
    x = minidl.tensor(a)
    assert F.argmax(x).item() == np.argmax(a) and x.argmin().item() == np.argmin(a)
    np.testing.assert_array_equal(x.argmax(1).data, a.argmax(1))
    np.testing.assert_array_equal(x.argmin(-1, keepdim=True).data, a.argmin(-1, keepdims=True))
    assert x.argmax(0).dtype == np.int64


def test_max_over_all_elements_splits_the_gradient_between_ties() -> None:
    x = minidl.tensor([[1.0, 3.0, 3.0], [0.0, 2.0, 3.0]], requires_grad=True)
    y = x.max()
    assert y.item() == 3.0
    y.backward()
    np.testing.assert_allclose(x.grad, [[0, 1 / 3, 1 / 3], [0, 0, 1 / 3]])
    z = minidl.tensor([[2.0, 1.0], [1.0, 5.0]], requires_grad=True)
    z.min().backward()
    np.testing.assert_allclose(z.grad, [[0, 0.5], [0.5, 0]])


def test_max_with_dim_on_a_0d_tensor() -> None:
    values, indices = minidl.tensor(3.0).max(0, keepdim=True)
    assert values.shape == () and indices.shape == () and values.item() == 3.0


def test_var_with_too_few_elements_is_nan_with_nan_gradient() -> None:
    x = minidl.tensor(np.array([2.0]), requires_grad=True)
    with np.errstate(all="ignore"):
        v = x.var()
        assert np.isnan(v.item())
        v.backward()
    assert np.isnan(x.grad).all()


@needs_torch
@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("dim", [None, 0, (0, 2), -1])
def test_var_std_with_correction_match_torch(correction: int, dim, rng) -> None:
    a = rng.standard_normal((3, 4, 5))
    for name in ("var", "std"):
        x, t = leaves([a])[0], torch.tensor(a, requires_grad=True)
        ours = getattr(x, name)(dim, correction=correction, keepdim=True)
        theirs = getattr(t, name)(dim, correction=correction, keepdim=True)
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)
        ours.sum().backward()
        theirs.sum().backward()
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-10)


@needs_torch
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("keepdim", [True, False])
def test_max_min_with_dim_match_torch(largest: bool, keepdim: bool) -> None:
    a = sample((3, 5, 4), D, np.random.default_rng(7))
    x, t = leaves([a])[0], torch.tensor(a, requires_grad=True)
    name = "max" if largest else "min"
    values, indices = getattr(x, name)(1, keepdim=keepdim)
    tv, ti = getattr(t, name)(1, keepdim=keepdim)
    np.testing.assert_array_equal(values.data, tv.detach().numpy())
    np.testing.assert_array_equal(indices.data, ti.numpy())
    (values * values).sum().backward()
    (tv * tv).sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12)
    # over all elements, with a tie: the gradient is shared in both libraries
    b = np.array([[1.0, 4.0], [4.0, -2.0]]) * (1 if largest else -1)
    x, t = leaves([b])[0], torch.tensor(b, requires_grad=True)
    getattr(x, name)().backward()
    getattr(t, name)().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy())


# ---------------------------------------------------------------------------- softmax


def test_softmax_and_log_softmax_are_stable_for_huge_inputs() -> None:
    a = np.array([[1000.0, 1001.0, 999.0], [-1e4, 0.0, 1e4]])
    x = minidl.tensor(a, requires_grad=True)
    p, logp = F.softmax(x, 1), F.log_softmax(x, 1)
    np.testing.assert_allclose(p.data[0], _softmax(np.array([1.0, 2.0, 0.0]), 0))
    np.testing.assert_allclose(p.data[1], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(logp.data[0], _log_softmax(np.array([1.0, 2.0, 0.0]), 0))
    np.testing.assert_allclose(logp.data[1], [-2e4, -1e4, 0.0])
    (p * x).sum().backward()
    logp.sum().backward()
    assert np.isfinite(x.grad).all()


def test_softmax_rows_sum_to_one_and_log_softmax_is_its_log(rng) -> None:
    x = minidl.tensor(rng.standard_normal((4, 5, 3)).astype(np.float32))
    for dim in (0, 1, -1):
        p = F.softmax(x, dim)
        assert p.dtype == np.float32
        np.testing.assert_allclose(p.data.sum(dim), 1.0, rtol=1e-6)
        np.testing.assert_allclose(np.log(p.data), F.log_softmax(x, dim).data, atol=1e-5)


@needs_torch
@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_softmax_log_softmax_match_torch_with_large_values(dim: int, rng) -> None:
    a = rng.standard_normal((3, 4, 5)) * 50
    g = rng.standard_normal(a.shape)
    for ours_fn, torch_fn in ((F.softmax, torch.softmax), (F.log_softmax, torch.log_softmax)):
        x, t = leaves([a])[0], torch.tensor(a, requires_grad=True)
        ours, theirs = ours_fn(x, dim), torch_fn(t, dim)
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-300)
        ours.backward(g)
        theirs.backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-8, atol=1e-12)


# ---------------------------------------------------------------------------- indexing


def test_repeated_integer_indices_accumulate_gradients() -> None:
    x = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x[[0, 0, 2, 0]]
    np.testing.assert_array_equal(y.data, [1, 1, 3, 1])
    (y * minidl.tensor([1.0, 10.0, 100.0, 1000.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [1011.0, 0.0, 100.0])


def test_index_with_tensors_and_boolean_masks() -> None:
    x = minidl.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    mask = x.detach() > 6.5
    y = x[mask]
    np.testing.assert_array_equal(y.data, [7, 8, 9, 10, 11])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, mask.data.astype(float))
    x.grad = None
    rows = minidl.tensor([2, 0])
    x[rows, minidl.tensor([1, 3])].sum().backward()
    expected = np.zeros((3, 4))
    expected[2, 1] = expected[0, 3] = 1
    np.testing.assert_array_equal(x.grad, expected)


def test_index_with_an_empty_list_selects_nothing() -> None:
    x = minidl.tensor(np.ones((2, 3)), requires_grad=True)
    y = x[[]]
    assert y.shape == (0, 3)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros((2, 3)))


# ---------------------------------------------------------------------------- edge shapes


def test_size_one_and_0d_tensors() -> None:
    s = minidl.tensor(np.array(2.0), requires_grad=True)
    v = minidl.tensor(np.array([[3.0]]), requires_grad=True)
    out = s * v + s.exp()
    assert out.shape == (1, 1)
    out.backward()
    np.testing.assert_allclose(s.grad, 3.0 + np.exp(2.0))
    np.testing.assert_allclose(v.grad, [[2.0]])
    assert s.grad.shape == () and v.grad.shape == (1, 1)
    assert minidl.gradcheck(lambda a, b: (a * b).squeeze().sum(0), leaves(
        [np.array(1.5), np.ones((1, 1, 1))]))


@pytest.mark.parametrize("fn, shape, fill", [
    (lambda x: x * 2 + 1, (0, 3), None),
    (lambda x: x.exp(), (0, 3), None),
    (lambda x: x.sum(0), (3,), 0.0),
    (lambda x: x.mean(1), (0,), None),
    (lambda x: x.reshape(3, 0), (3, 0), None),
    (lambda x: x.T, (3, 0), None),
    (lambda x: F.softmax(x, 1), (0, 3), None),
    (lambda x: x @ minidl.tensor(np.ones((3, 2)), requires_grad=True), (0, 2), None),
    (lambda x: x.T @ minidl.tensor(np.ones((0, 2))), (3, 2), 0.0),
    (lambda x: minidl.cat([x, minidl.tensor(np.ones((2, 3)))]), (2, 3), 1.0),
    (lambda x: minidl.stack([x, x], dim=1), (0, 2, 3), None),
    (lambda x: x[1:], (0, 3), None),
    (lambda x: x.unsqueeze(0).squeeze(0), (0, 3), None),
], ids=["arith", "exp", "sum0", "mean1", "reshape", "T", "softmax", "matmul", "matmul_inner0",
        "cat", "stack", "slice", "unsqueeze"])
def test_empty_dims(fn, shape, fill) -> None:
    x = minidl.tensor(np.zeros((0, 3)), requires_grad=True)
    out = fn(x)
    assert out.shape == shape and out.dtype == np.float64
    if fill is not None:
        np.testing.assert_array_equal(out.data, np.full(shape, fill))
    out.sum().backward()
    assert x.grad.shape == (0, 3)
    assert minidl.gradcheck(fn, [minidl.tensor(np.zeros((0, 3)), requires_grad=True)])


def test_max_of_an_empty_tensor_raises() -> None:
    with pytest.raises(ValueError, match=re.escape("max: the tensor is empty (shape (0, 3))")):
        minidl.zeros(0, 3).max()


# ---------------------------------------------------------------------------- dtypes


def test_python_and_numpy_scalars_do_not_upcast_float32() -> None:
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    assert x.dtype == np.float32
    results = [x + 2.5, 2.5 + x, x - 1, 1 - x, x * 3.0, 0.5 * x, x / 3.0, 3.0 / x, x ** 2.0,
               2.0 ** x, x * np.float64(2.0), np.float64(2.0) * x, x + np.int64(1),
               x.clamp(0.5, 1.5), minidl.where(x.detach() > 1, x, 0.0), F.dropout(x, 0.3),
               x.mean() * 0.1, minidl.tensor(1.0) + 1e-3]
    for r in results:
        assert r.dtype == np.float32, r
    sum(r.sum() for r in results[:-1]).backward()
    assert x.grad.dtype == np.float32


def test_mixed_float_dtypes_promote_and_gradients_keep_each_input_dtype() -> None:
    a = minidl.tensor(np.ones(3, np.float32), requires_grad=True)
    b = minidl.tensor(np.ones(3, np.float64), requires_grad=True)
    out = a * b
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_cast_is_differentiable_and_keeps_the_input_dtype_for_gradients() -> None:
    x = minidl.tensor([1.5, -2.0], requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [3.0, -4.0])
    i = x.long()  # an integer result is outside the graph
    assert i.dtype == np.int64 and not i.requires_grad and i.tolist() == [1, -2]
    z = minidl.tensor(np.array([0.5, 1.0]), requires_grad=True)
    (F.cast(z, np.float32) * minidl.tensor([2.0, 3.0])).sum().backward()
    assert z.grad.dtype == np.float64 and z.grad.tolist() == [2.0, 3.0]


def test_integer_ops_stay_integer() -> None:
    i = minidl.tensor([[1, 2], [3, 4]])
    assert (i + 1).dtype == np.int64 and (i * i).dtype == np.int64
    assert i.sum().item() == 10 and i.sum().dtype == np.int64
    assert (i @ i).tolist() == [[7, 10], [15, 22]]
    assert F.relu(minidl.tensor([-1, 2])).tolist() == [0, 2]


# ---------------------------------------------------------------------------- dropout


def test_dropout_masks_are_reproducible_with_manual_seed() -> None:
    x = minidl.ones(50, 40)
    minidl.manual_seed(3)
    a = F.dropout(x, 0.4)
    minidl.manual_seed(3)
    b = F.dropout(x, 0.4)
    c = F.dropout(x, 0.4)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(b.data, c.data)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_and_scaling(p: float) -> None:
    minidl.manual_seed(0)
    x = minidl.tensor(np.full((400, 500), 2.0, np.float32), requires_grad=True)
    y = F.dropout(x, p)
    assert y.dtype == np.float32
    zeroed = y.data == 0
    assert abs(zeroed.mean() - p) < 0.01
    np.testing.assert_allclose(y.data[~zeroed], 2.0 / (1 - p), rtol=1e-6)
    np.testing.assert_allclose(y.data.mean(), 2.0, rtol=0.03)  # expectation is preserved
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.where(zeroed, 0.0, 1 / (1 - p)), rtol=1e-6)


def test_dropout_in_eval_mode_and_with_p_0_is_the_identity_and_p_1_zeroes() -> None:
    x = minidl.tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False).data, x.data)
    np.testing.assert_array_equal(F.dropout(x, 0.0).data, x.data)
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y.data, np.zeros((2, 3)))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="dropout: probability p must be in"):
        F.dropout(x, 1.5)


def test_dropout_gradcheck_with_a_fixed_mask() -> None:
    def fn(t):
        minidl.manual_seed(11)  # the same mask for every evaluation
        return F.dropout(t, 0.3) * t

    assert minidl.gradcheck(fn, leaves([np.random.default_rng(0).standard_normal((4, 5))]))


# ---------------------------------------------------------------------------- errors


def test_matmul_error_names_both_shapes_and_the_inner_dimensions() -> None:
    msg = "matmul: (128, 784) @ (100, 10): inner dimensions 784 and 100 differ"
    with pytest.raises(ValueError, match=re.escape(msg)):
        minidl.zeros(128, 784) @ minidl.zeros(100, 10)
    with pytest.raises(ValueError, match=re.escape("matmul: (3,) @ (4,): inner dimensions 3 "
                                                   "and 4 differ")):
        F.matmul(minidl.zeros(3), minidl.zeros(4))
    with pytest.raises(ValueError, match=re.escape("matmul: (2, 5) @ (4,): inner dimensions")):
        minidl.zeros(2, 5) @ minidl.zeros(4)
    with pytest.raises(ValueError, match=re.escape(
            "matmul: (2, 3, 4) @ (3, 4, 5): batch dimensions (2,) and (3,) cannot be "
            "broadcast")):
        minidl.zeros(2, 3, 4) @ minidl.zeros(3, 4, 5)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        minidl.tensor(2.0) @ minidl.zeros(3)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow"])
def test_broadcast_errors_name_both_shapes(op: str) -> None:
    a, b = minidl.zeros(2, 3, requires_grad=True), minidl.ones(4, 1, 2)
    with pytest.raises(ValueError, match=re.escape(
            f"{op}: shapes (2, 3) and (4, 1, 2) cannot be broadcast together")):
        getattr(F, op)(a, b)


def test_other_shape_errors() -> None:
    x = minidl.zeros(2, 3)
    with pytest.raises(ValueError, match=re.escape(
            "reshape: cannot reshape a tensor of shape (2, 3) (6 elements) into shape (4, 2)")):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=re.escape("reshape: cannot reshape a tensor of shape "
                                                   "(2, 3)")):
        x.view(-1, 4)
    with pytest.raises(ValueError, match=re.escape(
            "cat: tensors must match in every dimension except 0; got shapes (2, 3), (2, 4)")):
        minidl.cat([x, minidl.zeros(2, 4)])
    with pytest.raises(ValueError, match=re.escape("got shapes (2, 3), (3,)")):
        minidl.cat([x, minidl.zeros(3)], dim=1)
    with pytest.raises(ValueError, match=re.escape(
            "stack: tensors must match in all dimensions; got shapes (2, 3), (3, 2)")):
        minidl.stack([x, minidl.zeros(3, 2)])
    with pytest.raises(ValueError, match="non-empty"):
        minidl.cat([])
    with pytest.raises(ValueError, match=re.escape(
            "linear: expected input with 5 features in its last dimension (weight (4, 5)), "
            "got shape (2, 3)")):
        F.linear(x, minidl.zeros(4, 5))
    with pytest.raises(TypeError, match="input dtype float64 differs from weight dtype float32"):
        F.linear(x.double(), minidl.zeros(4, 3))
    with pytest.raises(TypeError, match="input must be a minidl Tensor, got list"):
        F.linear([[1.0, 2.0, 3.0]], minidl.zeros(4, 3))
    with pytest.raises(ValueError, match=re.escape(
            "where: condition (2, 3), input (4,) and other () cannot be broadcast together")):
        minidl.where(x > 0, minidl.zeros(4), 0.0)
    with pytest.raises(ValueError, match="permute: dims \\(0,\\) must name each of the 2"):
        x.permute(0)


@pytest.mark.parametrize("call, name", [
    (lambda x: x.sum(2), "sum: dim 2"),
    (lambda x: x.mean(-3), "mean: dim -3"),
    (lambda x: x.var((0, 5)), "var: dim 5"),
    (lambda x: x.max(2), "max: dim 2"),
    (lambda x: x.argmin(3), "argmin: dim 3"),
    (lambda x: F.softmax(x, 2), "softmax: dim 2"),
    (lambda x: F.log_softmax(x, -3), "log_softmax: dim -3"),
    (lambda x: x.transpose(0, 2), "transpose: dim 2"),
    (lambda x: x.squeeze(4), "squeeze: dim 4"),
    (lambda x: x.flatten(0, 2), "flatten: dim 2"),
    (lambda x: minidl.cat([x, x], dim=2), "cat: dim 2"),
])
def test_dim_out_of_range(call, name: str) -> None:
    x = minidl.zeros(2, 3)
    with pytest.raises(IndexError, match=re.escape(
            f"{name} is out of range for a tensor with 2 dimensions (expected -2..1)")):
        call(x)


def test_dim_errors_of_ops_that_add_a_dimension_and_repeated_dims() -> None:
    x = minidl.zeros(2, 3)
    with pytest.raises(IndexError, match=re.escape("unsqueeze: dim 3 is out of range "
                                                   "(expected -3..2)")):
        x.unsqueeze(3)
    with pytest.raises(IndexError, match=re.escape("stack: dim -4 is out of range")):
        minidl.stack([x, x], dim=-4)
    with pytest.raises(ValueError, match="sum: dim \\(0, -2\\) names a dimension twice"):
        x.sum((0, -2))


def test_index_errors_name_the_tensor_shape() -> None:
    x = minidl.zeros(2, 3)
    with pytest.raises(IndexError, match=re.escape("(tensor shape (2, 3))")):
        x[5]
    with pytest.raises(IndexError, match="index arrays must be integer or boolean, got float"):
        x[np.array([0.5])]


def test_argument_errors() -> None:
    x = minidl.zeros(3)
    with pytest.raises(ValueError, match="clamp: at least one of min and max"):
        x.clamp()
    with pytest.raises(ValueError, match="clamp: min 1 is greater than max 0"):
        x.clamp(1, 0)
    with pytest.raises(TypeError, match="where: condition must be a boolean tensor, got dtype"):
        minidl.where(minidl.tensor([1, 0, 1]), x, x)
    with pytest.raises(ValueError, match="pow: Integers to negative integer powers"):
        minidl.tensor([2, 3]) ** -1


def test_a_failing_op_leaves_its_inputs_untouched() -> None:
    a = minidl.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError):
        a @ minidl.tensor(np.ones((2, 3)))
    (a * 2).sum().backward()  # the graph is unaffected by the failed op
    np.testing.assert_array_equal(a.grad, np.full((2, 3), 2.0))


def test_std_of_constant_input_has_zero_gradient_like_torch() -> None:
    x = minidl.tensor([1.0, 1.0, 1.0], requires_grad=True)
    x.std().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])
    y = minidl.tensor([[2.0, 2.0], [1.0, 3.0]], requires_grad=True)
    y.std(dim=1).sum().backward()
    np.testing.assert_allclose(y.grad, [[0.0, 0.0], [-1 / np.sqrt(2), 1 / np.sqrt(2)]],
                               rtol=1e-6)


def test_pow_zero_exponent_at_zero_base_has_zero_gradient() -> None:
    x = minidl.tensor([0.0, 2.0], requires_grad=True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_integer_tensors_promote_to_the_default_float_dtype() -> None:
    i = minidl.tensor([1, 2])
    assert (i / 2).dtype == np.float32
    assert (i + 1.5).dtype == np.float32
    assert (i / minidl.tensor([2, 2])).dtype == np.float32
    assert (i + 1).dtype == np.int64
    np.testing.assert_allclose((i / 2).data, [0.5, 1.0])


def test_float_class_labels_get_a_hint() -> None:
    with pytest.raises(TypeError, match=r"looks like class indices stored as floats.*long\(\)"):
        F.cross_entropy(minidl.zeros(4, 3), minidl.tensor([0.0, 1.0, 2.0, 1.0]))
