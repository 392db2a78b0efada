"""``minidl.gradcheck``: the backbone of the other tests, so it is tested on its own."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minidl
import minidl.functional as F
from minidl import Function, GradcheckError


def leaf(values, requires_grad=True, dtype=np.float64) -> minidl.Tensor:
    return minidl.tensor(np.asarray(values, dtype=dtype), requires_grad=requires_grad)


class WrongSquare(Function):
    """y = x², with a backward that forgets the factor 2 at one place."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        g = 2 * x * grad
        g.reshape(-1)[-1] /= 2  # the bug: the last element's gradient is x, not 2x
        return g


def test_passes_on_correct_functions() -> None:
    x, w = leaf(np.linspace(-1, 1, 6).reshape(2, 3)), leaf(np.arange(12.0).reshape(3, 4) / 10)
    assert minidl.gradcheck(lambda a, b: F.tanh(a @ b), [x, w]) is True
    assert minidl.gradcheck(lambda a: (a.exp() * a).sum(), x) is True  # a single tensor


def test_multiple_outputs_and_constant_inputs() -> None:
    const = leaf([1.0, 2.0, 3.0], requires_grad=False)
    x = leaf([0.5, -0.5, 2.0])
    assert minidl.gradcheck(lambda a, c, k: (a * c, a.sum() * k, minidl.tensor([1, 2])),
                            [x, const, 7])


def test_raises_naming_the_worst_element_and_both_values() -> None:
    x = leaf([[0.5, 1.0], [1.5, 3.0]])
    # the wrong element is x[1, 1] = 3: analytical 3, numerical 6
    msg = ("gradcheck: gradient of input 0 (shape (2, 2)) is wrong at element (1, 1) for "
           "output element 3: analytical 3, numerical 6 (relative error 0.5")
    with pytest.raises(GradcheckError, match=re.escape(msg)):
        minidl.gradcheck(WrongSquare.apply, [x])
    assert issubclass(GradcheckError, AssertionError)


def test_names_the_right_input() -> None:
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0, 5.0])
    with pytest.raises(GradcheckError, match=re.escape("gradient of input 1 (shape (3,)) is "
                                                       "wrong at element (2,)")):
        minidl.gradcheck(lambda p, q: p.sum() * WrongSquare.apply(q), [a, b])


def test_returns_false_instead_of_raising_when_asked() -> None:
    assert minidl.gradcheck(WrongSquare.apply, [leaf([1.0, 2.0])],
                            raise_exception=False) is False
    assert minidl.gradcheck(F.exp, [leaf([1.0, 2.0])], raise_exception=False) is True


def test_tolerances_decide() -> None:
    class Slightly(Function):  # gradient off by 1e-4 (relative)
        @staticmethod
        def forward(ctx, x):
            return 3 * x

        @staticmethod
        def backward(ctx, grad):
            return grad * 3 * (1 + 1e-4)

    x = leaf([1.0, 2.0])
    assert minidl.gradcheck(Slightly.apply, [x])  # within the default rtol 1e-3
    assert not minidl.gradcheck(Slightly.apply, [x], rtol=1e-6, atol=1e-8,
                                raise_exception=False)


def test_non_finite_gradients_fail() -> None:
    class NanAt0(Function):  # right everywhere except a NaN gradient at one element
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            g = grad * 2
            g[0] = np.nan
            return g

    with pytest.raises(GradcheckError, match="analytical nan, numerical 2"):
        minidl.gradcheck(NanAt0.apply, [leaf([1.0, 2.0])])

    class NanElsewhere(Function):  # y = (2 x0, √x1) at x1 = 0: the numerical d√x1 is NaN
        @staticmethod
        def forward(ctx, x):
            with np.errstate(invalid="ignore"):
                return np.stack([2 * x[0], np.sqrt(x[1])])

        @staticmethod
        def backward(ctx, grad):
            return np.array([np.nan, grad[1]])  # NaN at another element than the numerical

    with pytest.raises(GradcheckError, match=re.escape("wrong at element (0,)")):
        minidl.gradcheck(NanElsewhere.apply, [leaf([1.0, 0.0])])


def test_refuses_float32_inputs_that_require_grad() -> None:
    with pytest.raises(TypeError, match=re.escape(
            "gradcheck: input 0 has dtype float32; use float64 inputs (x.double())")):
        minidl.gradcheck(F.exp, [leaf([1.0], dtype=np.float32)])
    # a float32 input that does not require grad is just a constant
    assert minidl.gradcheck(lambda a, c: a * c, [leaf([1.0]), minidl.tensor([2.0])])


def test_needs_at_least_one_input_requiring_grad() -> None:
    with pytest.raises(ValueError, match="no input has requires_grad=True"):
        minidl.gradcheck(F.exp, [leaf([1.0], requires_grad=False)])


def test_inputs_are_not_modified_and_grads_left_clean() -> None:
    x = leaf(np.array([[1.0, 2.0], [3.0, 4.0]]).T)  # non-contiguous data
    before = x.data.copy()
    assert minidl.gradcheck(lambda a: a * a, [x])
    np.testing.assert_array_equal(x.data, before)
    assert x.grad is None


def test_empty_inputs() -> None:
    x = leaf(np.zeros((0, 3)))
    assert minidl.gradcheck(lambda a: a.sum(0), [x])
    assert minidl.gradcheck(lambda a: a * 2, [x])


def test_gradcheck_refuses_functions_that_cut_the_graph() -> None:
    x = minidl.tensor(np.ones(3), requires_grad=True)
    for fn in (lambda x: (x * x).sum().item(), lambda x: (x * x).detach().numpy(),
               lambda x: None):
        with pytest.raises(TypeError, match="must return a floating-point Tensor"):
            minidl.gradcheck(fn, x)
