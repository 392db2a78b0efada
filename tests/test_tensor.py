"""The Tensor class, tensor creation and seeding."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

import minidl
from minidl import Tensor

# ---------------------------------------------------------------------------- construction


@pytest.mark.parametrize("data, dtype", [
    (1.5, np.float32),
    ([1.0, 2.0], np.float32),
    ([[1, 2.5], [3, 4]], np.float32),  # mixed ints and floats: floats win
    (3, np.int64),
    ([1, 2, 3], np.int64),
    (True, np.bool_),
    ([True, False], np.bool_),
    (np.array([1.0, 2.0]), np.float64),  # arrays keep their dtype
    (np.array([1.0], np.float32), np.float32),
    (np.float64(2.0), np.float64),
    (np.array([1, 2], np.int32), np.int32),  # integer arrays keep their dtype too
    (np.array([1, 2], np.uint8), np.uint8),
])
def test_construction_dtype_rules(data, dtype) -> None:
    t = minidl.tensor(data)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.data, np.asarray(data))


def test_explicit_dtype_and_default_dtype() -> None:
    assert minidl.tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert minidl.tensor([1.7], dtype=minidl.int64).tolist() == [1]
    assert minidl.get_default_dtype() == np.float32
    minidl.set_default_dtype(minidl.float64)
    assert minidl.tensor([1.0]).dtype == np.float64
    assert minidl.zeros(2).dtype == np.float64 and minidl.randn(2).dtype == np.float64
    minidl.set_default_dtype(np.float32)
    assert minidl.tensor([1.0]).dtype == np.float32
    with pytest.raises(TypeError, match="set_default_dtype: expected float32 or float64"):
        minidl.set_default_dtype(np.int64)


def test_construction_copies_and_rejects_strange_data() -> None:
    a = np.array([1.0, 2.0])
    t = minidl.tensor(a)
    a[0] = 99
    assert t.data[0] == 1.0
    u = Tensor(t)
    assert u.data is not t.data and u.tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match="cannot make a tensor from data of dtype"):
        minidl.tensor(["a", "b"])
    with pytest.raises(TypeError, match="complex"):
        minidl.tensor([1j])


def test_shape_facts() -> None:
    t = minidl.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.dim() == 3
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.numel() == 24 and len(t) == 2 and t.device == "cpu"
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(minidl.tensor(1.0))


# ---------------------------------------------------------------------------- conversions


def test_item_numpy_tolist() -> None:
    t = minidl.tensor([[1.5, 2.0]])
    assert t.tolist() == [[1.5, 2.0]]
    assert minidl.tensor([[2.5]]).item() == 2.5 and isinstance(minidl.tensor(3).item(), int)
    with pytest.raises(ValueError, match=r"only one-element tensors .* got shape \(1, 2\)"):
        t.item()
    arr = t.numpy()
    assert isinstance(arr, np.ndarray) and np.shares_memory(arr, t.data)
    assert float(minidl.tensor([4.5])) == 4.5 and int(minidl.tensor(7)) == 7
    np.testing.assert_array_equal(np.asarray(t), t.data)
    assert np.asarray(t, dtype=np.float64).dtype == np.float64


def test_numpy_refuses_tensors_that_require_grad() -> None:
    t = minidl.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"numpy\(\) on a tensor that requires grad; use "
                                           r"tensor.detach\(\).numpy\(\)"):
        t.numpy()
    with pytest.raises(RuntimeError, match="requires grad"):
        np.asarray(t)
    assert t.detach().numpy().tolist() == [1.0]
    assert t.item() == 1.0  # item is fine


def test_bool_of_tensors() -> None:
    assert bool(minidl.tensor([1.0])) and not bool(minidl.tensor(0))
    with pytest.raises(RuntimeError, match="truth value of a tensor with 2 elements is ambiguous"):
        bool(minidl.tensor([1, 2]))


def test_dtype_conversions() -> None:
    t = minidl.tensor([1.7, -2.2])
    assert t.double().dtype == np.float64 and t.float().dtype == np.float32
    assert t.long().tolist() == [1, -2] and t.to(np.float64).dtype == np.float64
    c = t.clone()
    c.data[0] = 0
    assert t.data[0] == np.float32(1.7)


def test_repr() -> None:
    assert repr(minidl.tensor([1.0, 2.5])) == "tensor([1. , 2.5])"
    assert repr(minidl.tensor([1, 2])) == "tensor([1, 2])"
    x = minidl.tensor([1.0], requires_grad=True)
    assert repr(x) == "tensor([1.], requires_grad=True)"
    assert repr(x * 2) == "tensor([2.], grad_fn=<MulBackward>)"
    assert repr(minidl.tensor(np.array([0.5]))) == "tensor([0.5], dtype=minidl.float64)"
    assert repr(minidl.tensor([[1.0, 2.0], [3.0, 4.0]])) == (
        "tensor([[1., 2.],\n        [3., 4.]])")


# ---------------------------------------------------------------------------- operators


def test_comparisons_return_bool_tensors() -> None:
    a = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = minidl.tensor([3.0, 2.0, 1.0])
    cases = {
        "lt": (a < b, [True, False, False]),
        "le": (a <= b, [True, True, False]),
        "gt": (a > 2, [False, False, True]),
        "ge": (a >= 2.0, [False, True, True]),
        "eq": (a == b, [False, True, False]),
        "ne": (a != np.array([1.0, 0.0, 3.0]), [False, True, False]),
    }
    for name, (result, expected) in cases.items():
        assert isinstance(result, Tensor) and result.dtype == np.bool_, name
        assert result.tolist() == expected and not result.requires_grad, name
    assert (minidl.tensor(2.0) == 2).item() is True
    assert hash(a) != hash(b) and len({a, b}) == 2  # usable in sets despite __eq__


def test_operators_with_numpy_arrays_on_either_side() -> None:
    t = minidl.tensor([1.0, 2.0])
    for result in (np.array([1.0, 1.0]) + t, t + np.array([1.0, 1.0])):
        assert isinstance(result, Tensor)
        assert result.tolist() == [2.0, 3.0]
    assert isinstance(np.ones((2, 2)) @ t, Tensor)
    assert (np.ones((2, 2)) @ t).tolist() == [3.0, 3.0]
    assert (10 - t).tolist() == [9.0, 8.0] and (1 / t).tolist() == [1.0, 0.5]
    assert (2 ** t).tolist() == [2.0, 4.0] and (-t).tolist() == [-1.0, -2.0]


def test_method_aliases_match_the_functional_ops() -> None:
    t = minidl.tensor(np.arange(6.0).reshape(2, 3))
    assert t.t().shape == (3, 2) and t.T.shape == (3, 2)
    assert minidl.tensor([1.0, 2.0]).t().shape == (2,)
    with pytest.raises(RuntimeError, match="t: expects a tensor with <= 2 dimensions, got 3"):
        minidl.zeros(1, 2, 3).t()
    assert t.reshape((3, 2)).shape == (3, 2) and t.view(6).shape == (6,)
    assert t.permute((1, 0)).tolist() == t.T.tolist()
    assert minidl.zeros(2, 3, 4).T.shape == (4, 3, 2)
    np.testing.assert_allclose(t.std(1).data, np.std(t.data, axis=1, ddof=1))
    np.testing.assert_allclose(t.var(1, 0).data, np.var(t.data, axis=1))


# ---------------------------------------------------------------------------- indexing


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5), data=st.data())
def test_basic_indexing_matches_numpy(shape, data) -> None:
    a = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    t = minidl.tensor(a, requires_grad=True)
    out = t[index]
    np.testing.assert_array_equal(out.data, a[index])
    out.sum().backward()
    expected = np.zeros_like(a)
    expected[index] = 1.0
    np.testing.assert_array_equal(t.grad, expected)


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), data=st.data())
def test_integer_array_indexing_matches_numpy_and_accumulates(shape, data) -> None:
    a = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    index = data.draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(
        min_dims=1, max_dims=2, max_side=4)))
    t = minidl.tensor(a, requires_grad=True)
    out = t[tuple(minidl.tensor(i) for i in index)]
    np.testing.assert_array_equal(out.data, a[index])
    out.sum().backward()
    expected = np.zeros_like(a)
    np.add.at(expected, index, 1.0)  # repeated indices count once per occurrence
    np.testing.assert_array_equal(t.grad, expected)


def test_boolean_mask_indexing() -> None:
    a = np.arange(6.0).reshape(2, 3)
    t = minidl.tensor(a)
    mask = t > 2
    np.testing.assert_array_equal(t[mask].data, [3.0, 4.0, 5.0])
    np.testing.assert_array_equal(t[np.array([False, True])].data, [[3.0, 4.0, 5.0]])
    np.testing.assert_array_equal(t[:, [True, False, True]].data, a[:, [0, 2]])


def test_indexing_returns_views_of_basic_slices() -> None:
    t = minidl.tensor(np.arange(6.0).reshape(2, 3))
    row = t[1]
    assert np.shares_memory(row.data, t.data) and row.tolist() == [3.0, 4.0, 5.0]


def test_setitem() -> None:
    t = minidl.zeros(2, 3)
    t[0, 1] = 5.0
    t[1] = minidl.tensor([1.0, 2.0, 3.0])
    t[minidl.tensor([0, 1]), 0] = -1.0
    t[t > 2.5] = 9.0
    assert t.tolist() == [[-1.0, 9.0, 0.0], [-1.0, 2.0, 9.0]]


def test_setitem_refused_on_a_tensor_requiring_grad_while_grad_mode_is_on() -> None:
    w = minidl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="__setitem__: in-place change of a tensor that "
                                           "requires grad"):
        w[0] = 3.0
    assert w.tolist() == [1.0, 2.0]  # unchanged
    with pytest.raises(RuntimeError, match="zero_: in-place change"):
        w.zero_()
    with minidl.no_grad():
        w[0] = 3.0
        w.zero_()
        w[1] = 4.0
    assert w.tolist() == [0.0, 4.0]
    d = w.detach()
    d[0] = 7.0  # detach shares memory, so this writes into w
    assert w.tolist() == [7.0, 4.0]


# ---------------------------------------------------------------------------- creation


def test_constant_creation_functions() -> None:
    assert minidl.zeros(2, 3).tolist() == [[0.0] * 3] * 2
    assert minidl.zeros((2, 3)).shape == (2, 3) and minidl.zeros(2).dtype == np.float32
    assert minidl.ones(2, dtype=np.float64).dtype == np.float64
    assert minidl.full((2,), 7.5).tolist() == [7.5, 7.5]
    z = minidl.zeros(3, requires_grad=True)
    assert z.requires_grad and z.is_leaf
    like = minidl.ones_like(minidl.tensor(np.zeros((2, 2))))
    assert like.dtype == np.float64 and like.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert minidl.zeros_like(minidl.tensor([1, 2])).dtype == np.int64
    assert minidl.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]] and minidl.eye(2, 3).shape == (2, 3)


def test_ranges() -> None:
    r = minidl.arange(5)
    assert r.dtype == np.int64 and r.tolist() == [0, 1, 2, 3, 4]
    assert minidl.arange(1, 7, 2).tolist() == [1, 3, 5]
    f = minidl.arange(0.0, 1.0, 0.25)
    assert f.dtype == np.float32 and f.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert minidl.arange(3, dtype=np.float64).dtype == np.float64
    lin = minidl.linspace(0, 1, 5)
    assert lin.dtype == np.float32 and lin.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]


# ---------------------------------------------------------------------------- seeding


@pytest.mark.parametrize("draw", [
    lambda: minidl.randn(3, 4),
    lambda: minidl.rand(5, dtype=np.float64),
    lambda: minidl.randint(0, 10, (20,)),
    lambda: minidl.randperm(10),
], ids=["randn", "rand", "randint", "randperm"])
def test_manual_seed_makes_draws_reproducible(draw) -> None:
    minidl.manual_seed(42)
    a, b = draw(), draw()
    minidl.manual_seed(42)
    c, d = draw(), draw()
    np.testing.assert_array_equal(a.data, c.data)
    np.testing.assert_array_equal(b.data, d.data)
    assert not np.array_equal(a.data, b.data)
    minidl.manual_seed(43)
    assert not np.array_equal(draw().data, a.data)


def test_random_draws_have_the_right_distributions() -> None:
    minidl.manual_seed(0)
    n = minidl.randn(100_000)
    assert n.dtype == np.float32 and abs(n.data.mean()) < 0.02 and abs(n.data.std() - 1) < 0.02
    u = minidl.rand(100_000)
    assert u.dtype == np.float32 and u.data.min() >= 0 and u.data.max() < 1
    assert abs(u.data.mean() - 0.5) < 0.01
    i = minidl.randint(-3, 3, (1000,))
    assert i.dtype == np.int64 and set(i.tolist()) == {-3, -2, -1, 0, 1, 2}
    p = minidl.randperm(50)
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(50))
    assert minidl.randn(2, 3, requires_grad=True).requires_grad


def test_seed_state_can_be_saved_and_restored() -> None:
    minidl.manual_seed(5)
    assert minidl.initial_seed() == 5
    state = minidl.get_rng_state()
    a = minidl.randn(4)
    minidl.set_rng_state(state)
    np.testing.assert_array_equal(minidl.randn(4).data, a.data)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        minidl.manual_seed(-1)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        minidl.manual_seed(1.5)
