"""The autograd engine: accumulation, grad modes, graph release, hooks, deep graphs,
custom Functions and anomaly detection."""

from __future__ import annotations

import gc
import re

import numpy as np
import pytest

import minidl
import minidl.functional as F
from minidl import Function


def leaf(values, dtype=np.float64) -> minidl.Tensor:
    return minidl.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---------------------------------------------------------------------------- gradients


def test_gradients_accumulate_across_backward_calls() -> None:
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])
    (3 * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 7.0, 9.0])
    x.grad = None
    x.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 1.0])


def test_a_leaf_used_twice_gets_the_sum_of_both_paths() -> None:
    x = leaf([2.0, -1.0])
    y = x * x + x.exp() * x  # x appears four times
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + np.exp(x.data) * (1 + x.data))


def test_diamond_graph_calls_each_backward_once_with_the_total_gradient() -> None:
    calls = []

    class Square(Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, grad):
            calls.append(grad.copy())
            (a,) = ctx.saved_tensors
            return 2 * a * grad

    x = leaf([3.0])
    h = Square.apply(x)
    (h * 2 + h * 5).sum().backward()
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], [7.0])
    np.testing.assert_array_equal(x.grad, [42.0])


def test_broadcast_operand_gradients_are_summed_to_their_shapes() -> None:
    a = leaf(np.ones((2, 3)))
    b = leaf([10.0, 20.0, 30.0])
    c = leaf(2.0)
    d = leaf(np.ones((2, 1)))
    (a * b * c + d).sum().backward()
    assert b.grad.shape == (3,) and c.grad.shape == () and d.grad.shape == (2, 1)
    np.testing.assert_array_equal(a.grad, np.tile([20.0, 40.0, 60.0], (2, 1)))
    np.testing.assert_array_equal(b.grad, [4.0, 4.0, 4.0])
    assert c.grad == 120.0
    np.testing.assert_array_equal(d.grad, [[3.0], [3.0]])


def test_each_leaf_grad_owns_its_memory() -> None:
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    assert a.grad is not b.grad and not np.shares_memory(a.grad, b.grad)
    assert a.grad.flags.writeable and b.grad.flags.writeable
    a.grad += 1  # an optimiser updates gradients in place
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])
    # an explicit gradient argument is copied, not adopted
    g = np.array([5.0, 6.0])
    c = leaf([0.0, 0.0])
    (c + 0).backward(g)
    assert not np.shares_memory(c.grad, g)
    # views (reshape, transpose, slices of a concatenation) are copied too
    p, q = leaf(np.ones((2, 3))), leaf(np.ones(3))
    (minidl.cat([p.T.reshape(-1), q]) * 2).sum().backward()
    assert p.grad.flags.owndata and q.grad.flags.owndata
    assert p.grad.flags.c_contiguous


def test_leaves_that_do_not_require_grad_get_no_grad() -> None:
    x, w = minidl.tensor([1.0, 2.0]), leaf([3.0, 4.0], np.float32)
    (x * w).sum().backward()
    assert x.grad is None and not x.requires_grad
    np.testing.assert_array_equal(w.grad, [1.0, 2.0])


def test_requires_grad_propagates_and_is_leaf() -> None:
    x, c = leaf([1.0]), minidl.tensor([2.0])
    y = x * c
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    assert x.is_leaf and c.is_leaf and not (c * 2).requires_grad
    assert "MulBackward" in repr(y.grad_fn)
    with pytest.raises(RuntimeError, match="requires_grad can only be turned off on leaf"):
        y.requires_grad = False
    assert c.requires_grad_() is c and c.requires_grad


def test_integer_tensors_cannot_require_grad() -> None:
    with pytest.raises(RuntimeError, match="only floating-point tensors can require gradients, "
                                           "got dtype int64"):
        minidl.tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(RuntimeError, match="got dtype bool"):
        minidl.tensor([True]).requires_grad_()


# ---------------------------------------------------------------------------- grad modes


def test_no_grad_as_context_manager_and_decorator() -> None:
    x = leaf([1.0, 2.0])
    with minidl.no_grad():
        assert not minidl.is_grad_enabled()
        y = x * 2
        assert not y.requires_grad and y.grad_fn is None
    assert minidl.is_grad_enabled()
    assert (x * 2).requires_grad

    @minidl.no_grad()
    def evaluate(t):
        return t * 3

    assert not evaluate(x).requires_grad and minidl.is_grad_enabled()
    np.testing.assert_array_equal(evaluate(x).data, [3.0, 6.0])


def test_enable_grad_inside_no_grad_and_set_grad_enabled() -> None:
    x = leaf([1.0])
    with minidl.no_grad():
        with minidl.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad

        @minidl.enable_grad()
        def tracked(t):
            return t * 2

        assert tracked(x).requires_grad
    with minidl.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with minidl.set_grad_enabled(True):
            assert (x * 2).requires_grad

    @minidl.set_grad_enabled(False)
    def untracked(t):
        return t * 2

    assert not untracked(x).requires_grad and minidl.is_grad_enabled()


def test_grad_mode_is_restored_after_an_exception() -> None:
    with pytest.raises(KeyError):
        with minidl.no_grad():
            raise KeyError
    assert minidl.is_grad_enabled()


def test_detach_shares_memory_and_leaves_the_graph() -> None:
    x = leaf([1.0, 2.0])
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and np.shares_memory(d.data, y.data)
    z = d * x
    z.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # no gradient through d


# ---------------------------------------------------------------------------- backward()


def test_retain_graph_allows_a_second_backward() -> None:
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first)


def test_a_second_backward_through_a_released_graph_raises() -> None:
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="a second time: its saved values were freed by the "
                                           "first backward.*retain_graph=True"):
        y.backward()
    # a new graph built on the released part fails the same way
    h = x * 3
    (h * 2).sum().backward()
    with pytest.raises(RuntimeError, match=re.escape("backward through MulBackward a second "
                                                     "time")):
        (h + 1).sum().backward()


def test_backward_releases_saved_arrays() -> None:
    x = leaf(np.ones(4))
    y = x.exp()
    node = y.grad_fn
    assert node.saved_tensors
    y.sum().backward()
    assert node.saved_tensors == () and node.inputs == ()


def test_backward_on_a_non_scalar_needs_a_gradient() -> None:
    x = leaf(np.ones((2, 3)))
    y = x * 2
    with pytest.raises(RuntimeError, match=re.escape(
            "gradient can be implicitly created only for a tensor with one element, but this "
            "one has shape (2, 3)")):
        y.backward()
    y.backward(np.full((2, 3), 0.5))
    np.testing.assert_array_equal(x.grad, np.ones((2, 3)))
    z = leaf([[4.0]]) * 2  # one element of any shape is fine
    z.backward()


def test_backward_with_a_wrongly_shaped_gradient_raises() -> None:
    y = leaf(np.ones((2, 3))) * 2
    with pytest.raises(RuntimeError, match=re.escape(
            "backward: gradient has shape (3, 2) but the tensor has shape (2, 3)")):
        y.backward(np.ones((3, 2)))
    with pytest.raises(RuntimeError, match=re.escape("gradient has shape (3,)")):
        y.backward(minidl.ones(3))


def test_backward_on_a_tensor_outside_the_graph_raises() -> None:
    with pytest.raises(RuntimeError, match="does not require grad and has no grad_fn"):
        minidl.tensor([1.0]).sum().backward()


def test_backward_from_a_leaf_and_gradient_dtype() -> None:
    x = leaf([1.0, 2.0], np.float32)
    x.backward(np.array([3.0, 4.0]))  # float64 gradient for a float32 tensor
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


@pytest.mark.parametrize("depth", [500, 5000])
def test_deep_chains_backward_without_recursion_error(depth: int) -> None:
    x = leaf([1.0, 2.0])
    y = x
    for _ in range(depth):
        y = y * 1.001 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(2, 1.001 ** depth), rtol=1e-9)
    del y
    gc.collect()


def test_deep_mlp_style_graph() -> None:
    rng = np.random.default_rng(0)
    x = minidl.tensor(rng.standard_normal((4, 8)))
    weights = [leaf(rng.standard_normal((8, 8)) / np.sqrt(8)) for _ in range(200)]
    h = x
    for w in weights:
        h = F.tanh(F.linear(h, w)) + h * 0.5
    h.mean().backward()
    assert all(w.grad is not None and np.isfinite(w.grad).all() for w in weights)


# ---------------------------------------------------------------------------- hooks


def test_hook_on_a_leaf_sees_and_can_replace_the_gradient() -> None:
    x = leaf([1.0, 2.0])
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.data.copy()))
    double = x.register_hook(lambda g: g * 2)
    (x * x).sum().backward()
    np.testing.assert_array_equal(seen[0], [2.0, 4.0])
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    handle.remove()
    double.remove()
    double.remove()  # removing twice is harmless
    x.grad = None
    (x * x).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_hook_on_a_non_leaf_changes_what_flows_upstream() -> None:
    x = leaf([1.0, 2.0])
    h = x * 3
    seen = []
    h.register_hook(lambda g: seen.append(g.data.copy()))
    handle = h.register_hook(lambda g: minidl.zeros_like(g) + 1.0)
    (h * h).sum().backward(retain_graph=True)
    np.testing.assert_array_equal(seen[0], [6.0, 12.0])  # dL/dh = 2h
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])  # the hook replaced dL/dh by 1
    assert h.grad is None  # non-leaves keep no grad unless retain_grad
    handle.remove()
    x.grad = None
    (h * h).sum().backward()
    np.testing.assert_array_equal(x.grad, [18.0, 36.0])


def test_hook_requires_grad() -> None:
    with pytest.raises(RuntimeError, match="register_hook: the tensor does not require grad"):
        minidl.tensor([1.0]).register_hook(lambda g: g)


def test_retain_grad_keeps_non_leaf_gradients() -> None:
    x = leaf([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    x.retain_grad()  # a no-op for leaves
    (h * h).sum().backward(retain_graph=True)
    np.testing.assert_array_equal(h.grad, [6.0, 12.0])
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad, [12.0, 24.0])  # accumulates like a leaf
    np.testing.assert_array_equal(x.grad, [36.0, 72.0])


# ---------------------------------------------------------------------------- Function


class Cube(Function):
    """y = x³ (a user-defined op as a student would write it)."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return scale * x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ctx.scale * 3 * x ** 2, None


def test_custom_function() -> None:
    x = leaf([1.0, -2.0])
    y = Cube.apply(x, 2.0)
    np.testing.assert_array_equal(y.data, [2.0, -16.0])
    assert "CubeBackward" in repr(y.grad_fn)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 24.0])
    assert minidl.gradcheck(lambda t: Cube.apply(t, 0.5), [leaf([0.3, -1.2, 2.0])])
    with minidl.no_grad():
        assert not Cube.apply(x, 1.0).requires_grad


def test_custom_function_with_a_wrongly_shaped_gradient_gives_a_clear_error() -> None:
    class Broken(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a @ b

        @staticmethod
        def backward(ctx, grad):
            return grad, grad  # wrong: should be grad @ b.T and a.T @ grad

    a, b = leaf(np.ones((2, 3))), leaf(np.ones((3, 4)))
    with pytest.raises(RuntimeError, match=re.escape(
            "BrokenBackward returned a gradient of shape (2, 4) for an input of shape (2, 3)")):
        Broken.apply(a, b).sum().backward()


def test_function_without_backward_raises_not_implemented() -> None:
    class NoBackward(Function):
        @staticmethod
        def forward(ctx, a):
            return a + 1

    with pytest.raises(NotImplementedError):
        NoBackward.apply(leaf([1.0])).sum().backward()


# ---------------------------------------------------------------------------- anomalies


def test_detect_anomaly_names_the_op_that_made_a_nan_in_forward() -> None:
    x = leaf([1.0, -1.0])
    with minidl.detect_anomaly(), np.errstate(invalid="ignore"):
        with pytest.raises(FloatingPointError, match=re.escape(
                "detect_anomaly: Log produced 1 NaN and 0 Inf values (of 2) in its forward")):
            F.log(x)
        with pytest.raises(FloatingPointError, match="Log produced 1 NaN"):
            F.log(minidl.tensor([-1.0, 1.0]))  # even when no graph is recorded
    with np.errstate(invalid="ignore"):
        assert np.isnan(F.log(x).data[1])  # off again outside the block


def test_detect_anomaly_names_the_op_that_made_an_inf_or_nan_in_backward() -> None:
    x = leaf([0.0, 4.0])
    with minidl.detect_anomaly(), np.errstate(divide="ignore"):
        y = F.sqrt(x).sum()  # finite forward, infinite gradient at 0
        with pytest.raises(FloatingPointError, match=re.escape(
                "detect_anomaly: SqrtBackward produced 0 NaN and 1 Inf values (of 2) in the "
                "gradient of its input 0")):
            y.backward()

    class NanGrad(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1.0

        @staticmethod
        def backward(ctx, grad):
            return grad * np.nan

    @minidl.detect_anomaly()
    def run():
        NanGrad.apply(leaf([1.0])).sum().backward()

    with pytest.raises(FloatingPointError, match="NanGradBackward produced 1 NaN"):
        run()


def test_detect_anomaly_catches_overflow() -> None:
    x = leaf([1.0, 800.0])
    with minidl.detect_anomaly(), np.errstate(over="ignore"):
        with pytest.raises(FloatingPointError, match="Exp produced 0 NaN and 1 Inf"):
            F.exp(x)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_grad_mode_decorators_survive_recursion_and_nesting() -> None:
    @minidl.no_grad()
    def recurse(n: int) -> bool:
        return minidl.is_grad_enabled() if n == 0 else recurse(n - 1)

    assert recurse(3) is False
    assert minidl.is_grad_enabled()
    ng = minidl.no_grad()
    with ng:
        with ng:
            assert not minidl.is_grad_enabled()
        assert not minidl.is_grad_enabled()
    assert minidl.is_grad_enabled()
    anomaly = minidl.detect_anomaly()
    with anomaly:
        with anomaly:
            pass
        with pytest.raises(FloatingPointError):
            minidl.tensor([-1.0]).log()


def test_detect_anomaly_names_the_module_and_the_step() -> None:
    from minidl import nn

    class Log(nn.Module):
        def forward(self, x):
            return x.log()

    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Linear(4, 2), Log()))
    for p in model.parameters():
        p.data[...] = 1.0 if p.ndim == 2 else 0.0
    with minidl.detect_anomaly():
        x = minidl.ones(5, 3) * 0.01
        for _ in range(2):  # steps 1 and 2 are fine ...
            model(x)
        with minidl.no_grad():  # ... step 3 takes the log of negative numbers
            model[1][0].weight.data[...] = -1.0
        with np.errstate(invalid="ignore"), pytest.raises(
                FloatingPointError, match=r"Log produced 10 NaN and 0 Inf values \(of 10\) in "
                r"its forward output in module '1\.1' \(Log\), step 3$"):
            model(x)
        assert minidl.autograd._Anomaly.modules == []  # unwound by the error


def test_detect_anomaly_names_the_module_of_a_backward_error() -> None:
    from minidl import nn

    class Sqrt(nn.Module):
        def forward(self, x):
            return x.sqrt()

    model = nn.Sequential(nn.Identity(), Sqrt())
    x = minidl.tensor([0.0, 4.0], requires_grad=True)
    with minidl.detect_anomaly(), np.errstate(divide="ignore"):
        y = model(x).sum()
        with pytest.raises(FloatingPointError, match=r"SqrtBackward produced 0 NaN and 1 Inf "
                           r"values \(of 2\) in the gradient of its input 0 \(its forward ran "
                           r"in module '1' \(Sqrt\), step 1\)"):
            y.backward()
