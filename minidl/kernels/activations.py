"""Every activation as plain scalar math: the single source of truth.

Each activation is two small functions of one number:

* ``f(x, *params)``: its value;
* ``df(x, y, *params)``: its derivative with respect to ``x``, which may use the saved
  output ``y = f(x)`` when that is cheaper (``σ' = y (1 - y)``).

An :class:`Activation` record names them and gives the parameters' defaults. From that one
definition minidl builds the fused Numba CPU kernels (``kernels/cpu.py``), the numba.cuda
kernels (``kernels/cuda.py``), the autograd function ``F.<name>``, the module
``nn.<Module>`` and the generated tests. ``docs/adding-an-activation.md`` shows how to add
one.

Rules the scalar functions follow, so that one source compiles for every target:

* plain arithmetic, comparisons and conditional expressions only;
* transcendental functions come from ``fm`` (``fm.exp``, ``fm.expm1``, ``fm.log1p``,
  ``fm.tanh``, ``fm.erf``, ``fm.erfc``). The kernel generator binds ``fm`` to the
  vectorisable approximations of ``kernels/fastmath.py`` in float32 CPU kernels, and to
  Python's ``math`` module in float64 kernels and on the GPU;
* stable for any input: exponents are only taken of non-positive numbers (``e^-|x|``),
  and products like ``x·σ(x)`` are guarded so that ±inf gives the limit, not ``inf·0 = NaN``;
* derivatives at kinks follow PyTorch (``relu'(0) = 0``, ``leaky_relu'(0) = slope``, ...);
* a NaN input gives a NaN output (``0.0 if x <= 0.0 else x``, not ``x if x > 0.0 else
  0.0``, because every comparison with NaN is false).
"""

from __future__ import annotations

import dis
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from minidl.kernels import fastmath as fm

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
GELU_TANH_K = 0.7978845608028654  # √(2/π)
GELU_TANH_C = 0.044715
INV_SQRT_2 = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327
HARDSIGMOID_SLOPE = 0.1666666716337204  # PyTorch's backward uses float32(1/6), also in float64
INF = float("inf")


# ---------------------------------------------------------------------------- rectifiers


def relu(x):
    return 0.0 if x <= 0.0 else x


def relu_grad(x, y):
    # PyTorch zeroes the gradient where the *output* is <= 0, so relu'(0) = 0.
    return 0.0 if y <= 0.0 else 1.0


def leaky_relu(x, negative_slope):
    return x if x > 0.0 else x * negative_slope


def leaky_relu_grad(x, y, negative_slope):
    return 1.0 if x > 0.0 else negative_slope


def leaky_relu_grad_slope(x, y, negative_slope):
    """∂f/∂slope, for PReLU's learnable slope."""
    return 0.0 if x > 0.0 else x


def relu6(x):
    return 0.0 if x <= 0.0 else (6.0 if x >= 6.0 else x)


def relu6_grad(x, y):
    # Written as PyTorch's backward is, so that a NaN input passes the gradient through.
    return 0.0 if (x <= 0.0) | (x >= 6.0) else 1.0


def hardtanh(x, min_val, max_val):
    return min_val if x <= min_val else (max_val if x >= max_val else x)


def hardtanh_grad(x, y, min_val, max_val):
    return 0.0 if (x <= min_val) | (x >= max_val) else 1.0  # NaN passes, as in relu6_grad


# ---------------------------------------------------------------------------- exponential family


def elu(x, alpha):
    return x if x > 0.0 else alpha * fm.expm1(x)


def elu_grad(x, y, alpha):
    # α e^x rather than the equal y + α, which cancels to 0 in float32 once e^x < 1e-7;
    # reading only x also saves the backward pass a stream of memory.
    # Tested as PyTorch's backward does (x <= 0), so that a NaN input passes the gradient.
    return alpha * fm.exp(x) if x <= 0.0 else 1.0


def selu(x):
    return SELU_SCALE * x if x > 0.0 else (SELU_SCALE * SELU_ALPHA) * fm.expm1(x)


def selu_grad(x, y):
    return (SELU_SCALE * SELU_ALPHA) * fm.exp(x) if x <= 0.0 else SELU_SCALE  # as elu_grad


def celu(x, alpha):
    return x if x > 0.0 else alpha * fm.expm1(x / alpha)


def celu_grad(x, y, alpha):
    return fm.exp(x / alpha) if x <= 0.0 else 1.0  # as elu_grad


# ---------------------------------------------------------------------------- sigmoid family


def sigmoid(x):
    # Two branches of one e^-|x|, which never overflows: σ(x) = 1/(1+e^-x) = e^x/(1+e^x).
    e = fm.exp(-abs(x))
    s = 1.0 / (1.0 + e)
    return s if x >= 0.0 else e * s


def sigmoid_grad(x, y):
    return y * (1.0 - y)


def tanh(x):
    return fm.tanh(x)


def tanh_grad(x, y):
    return 1.0 - y * y


def softplus(x, beta, threshold):
    # ln(1 + e^z) = max(z, 0) + ln(1 + e^-|z|); linear once βx exceeds the threshold.
    z = beta * x
    soft = ((z if z > 0.0 else 0.0) + fm.log1p(fm.exp(-abs(z)))) / beta
    return x if z > threshold else soft


def softplus_grad(x, y, beta, threshold):
    z = beta * x
    return 1.0 if z > threshold else sigmoid(z)


def logsigmoid(x):
    # ln σ(x) = min(x, 0) - ln(1 + e^-|x|)
    return (x if x < 0.0 else 0.0) - fm.log1p(fm.exp(-abs(x)))


def logsigmoid_grad(x, y):
    # d/dx ln σ(x) = 1 - σ(x) = σ(-x)
    return sigmoid(-x)


def silu(x):
    # Where σ underflows to 0 the product is 0, also for x = -inf (not -inf·0 = NaN);
    # written with == so that NaN still gives NaN.
    s = sigmoid(x)
    return 0.0 if s == 0.0 else x * s


def silu_grad(x, y):
    s = sigmoid(x)
    k = s * (1.0 - s)
    return s + (x * k if k > 0.0 else 0.0)


def _tanh_softplus(x):
    # tanh(ln(1 + e^x)) = (e^2x + 2e^x) / (e^2x + 2e^x + 2), rewritten in e = e^-|x|.
    e = fm.exp(-abs(x))
    pos = (1.0 + 2.0 * e) / (1.0 + 2.0 * e + 2.0 * e * e)
    neg = (e * e + 2.0 * e) / (e * e + 2.0 * e + 2.0)
    return pos if x >= 0.0 else neg


def mish(x):
    t = _tanh_softplus(x)
    return 0.0 if t == 0.0 else x * t


def mish_grad(x, y):
    t = _tanh_softplus(x)
    k = sigmoid(x) * (1.0 - t * t)
    return t + (x * k if k > 0.0 else 0.0)


def hardsigmoid(x):
    return 0.0 if x <= -3.0 else (1.0 if x >= 3.0 else x / 6.0 + 0.5)


def hardsigmoid_grad(x, y):
    return HARDSIGMOID_SLOPE if (x > -3.0) & (x < 3.0) else 0.0


def hardswish(x):
    return 0.0 if x <= -3.0 else (x if x >= 3.0 else x * (x + 3.0) / 6.0)


def hardswish_grad(x, y):
    return 0.0 if x <= -3.0 else ((2.0 * x + 3.0) / 6.0 if x < 3.0 else 1.0)  # NaN gives 1


def softsign(x):
    # ±1 beyond 3e38 (where 1 - 1/|x| rounds to 1 anyway), so ±inf does not give inf/inf = NaN.
    return (1.0 if x > 0.0 else -1.0) if abs(x) > 3.0e38 else x / (1.0 + abs(x))


def softsign_grad(x, y):
    d = 1.0 + abs(x)
    return 1.0 / (d * d)


# ---------------------------------------------------------------------------- GELU


def gelu(x):
    # x Φ(x) with Φ(x) = erfc(-x/√2) / 2, which stays accurate where Φ is tiny.
    cdf = 0.5 * fm.erfc(-x * INV_SQRT_2)
    return 0.0 if cdf == 0.0 else x * cdf


def gelu_grad(x, y):
    # Φ(x) + x φ(x), reading Φ(x) = y / x back from the saved output rather than paying
    # for a second erfc. Where that fails (y underflows for tiny x; inf / inf) Φ is known:
    # 1/2 for |x| < 1e-20 (to well below float64 precision), 1 or 0 at ±inf. NaN stays NaN.
    # The product is skipped where φ underflows, so that ±inf gives 1 or 0.
    pdf = INV_SQRT_2PI * fm.exp(-0.5 * x * x)
    a = abs(x)
    cdf = y / (x if a >= 1e-20 and a != INF else 1.0)  # never 0/0 or inf/inf; NaN stays NaN
    cdf = 0.5 if a < 1e-20 else cdf
    cdf = (1.0 if x > 0.0 else 0.0) if a == INF else cdf
    return cdf + (x * pdf if pdf > 0.0 else 0.0)


def gelu_tanh(x):
    # ½x(1 + tanh u) = x σ(2u), u = √(2/π)(x + 0.044715x³): no cancellation for x << 0.
    u = GELU_TANH_K * (x + GELU_TANH_C * x * x * x)
    s = sigmoid(2.0 * u)
    return 0.0 if s == 0.0 else x * s


def gelu_tanh_grad(x, y):
    u = GELU_TANH_K * (x + GELU_TANH_C * x * x * x)
    s = sigmoid(2.0 * u)
    du = GELU_TANH_K * (1.0 + 3.0 * GELU_TANH_C * x * x)
    slope = 2.0 * s * (1.0 - s)
    return s + (x * slope * du if slope > 0.0 else 0.0)


# ---------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Activation:
    """One activation: its scalar functions and what the generated forms need to know.

    Parameters
    ----------
    name : str
        The functional name, ``F.<name>`` (``"leaky_relu"``).
    module : str
        The module class name, ``nn.<module>`` (``"LeakyReLU"``).
    f, df : callable
        ``f(x, *params)`` and ``df(x, y, *params)``, plain scalar math (see the module
        docstring for the rules).
    params : dict
        Parameter names, in the order ``f`` takes them, with their defaults.
    formula : str
        The formula, for docstrings and ``available()``.
    dparams : dict
        ``∂f/∂param`` as ``g(x, y, *params)`` for each learnable parameter (PReLU's slope).
    kinks : tuple of float
        Inputs where ``df`` jumps (with default parameters), for the tests and gradcheck.
    inplace : bool
        Whether ``F.<name>`` and ``nn.<module>`` take PyTorch's ``inplace`` argument.
    validate : callable, optional
        ``validate(**params)`` raises ``ValueError`` for values the formula cannot take.
    """

    name: str
    module: str
    f: Callable
    df: Callable
    params: dict[str, float] = field(default_factory=dict)
    formula: str = ""
    dparams: dict[str, Callable] = field(default_factory=dict)
    kinks: tuple[float, ...] = ()
    inplace: bool = False
    validate: Callable | None = None

    def __post_init__(self) -> None:
        names = tuple(self.params)
        for fn, lead in ((self.f, ("x",)), (self.df, ("x", "y"))):
            _check_signature(self.name, fn, len(lead) + len(names))
        for p, g in self.dparams.items():
            if p not in self.params:
                raise ValueError(f"activation {self.name!r}: dparams names unknown parameter "
                                 f"{p!r}; parameters are {list(names)}")
            _check_signature(self.name, g, 2 + len(names))

    @cached_property
    def uses(self) -> tuple[bool, bool]:
        """Whether ``df`` (and every ``dparams`` function) reads ``x`` and ``y``.

        The autograd function saves only what the derivative reads.
        """
        fns = (self.df, *self.dparams.values())
        return (any(_reads_argument(g, 0) for g in fns), any(_reads_argument(g, 1) for g in fns))


def _check_signature(name: str, fn: Callable, nargs: int) -> None:
    code = getattr(fn, "__code__", None)
    if code is None or code.co_argcount != nargs or code.co_flags & 0x0C:
        raise TypeError(f"activation {name!r}: {getattr(fn, '__name__', fn)!r} must be a plain "
                        f"Python function of exactly {nargs} positional arguments")


def _reads_argument(fn: Callable, index: int) -> bool:
    arg = fn.__code__.co_varnames[index]
    for ins in dis.get_instructions(fn):
        if ins.opname.startswith("LOAD_FAST"):
            values = ins.argval if isinstance(ins.argval, tuple) else (ins.argval,)
            if arg in values:
                return True
    return False


def _positive_threshold(min_val: float, max_val: float) -> None:
    if max_val <= min_val:
        raise ValueError(f"hardtanh: max_val ({max_val}) must be greater than min_val "
                         f"({min_val})")


def _celu_alpha(alpha: float) -> None:
    if alpha == 0:
        raise ValueError("celu: alpha cannot be 0 (the formula divides by it)")


def _softplus_beta(beta: float, threshold: float) -> None:
    if beta == 0:
        raise ValueError("softplus: beta cannot be 0 (the formula divides by it)")


REGISTRY: dict[str, Activation] = {}


def register(activation: Activation) -> Activation:
    """Add an activation to the registry (replacing one of the same name)."""
    if not activation.name.isidentifier():
        raise ValueError(f"activation name must be a Python identifier, got {activation.name!r}")
    REGISTRY[activation.name] = activation
    return activation


for _act in (
    Activation("relu", "ReLU", relu, relu_grad, formula="max(0, x)", kinks=(0.0,),
               inplace=True),
    Activation("leaky_relu", "LeakyReLU", leaky_relu, leaky_relu_grad,
               {"negative_slope": 0.01}, "x if x > 0 else negative_slope·x", kinks=(0.0,),
               inplace=True),
    Activation("prelu", "PReLU", leaky_relu, leaky_relu_grad, {"weight": 0.25},
               "x if x > 0 else weight·x (weight learnable, shared or per channel)",
               dparams={"weight": leaky_relu_grad_slope}, kinks=(0.0,)),
    Activation("rrelu", "RReLU", leaky_relu, leaky_relu_grad, {"slope": 11 / 48},
               "x if x > 0 else a·x, a ~ U(lower, upper) per element in training, "
               "(lower+upper)/2 in evaluation", kinks=(0.0,), inplace=True),
    Activation("elu", "ELU", elu, elu_grad, {"alpha": 1.0}, "x if x > 0 else α(eˣ - 1)",
               kinks=(0.0,), inplace=True),
    Activation("selu", "SELU", selu, selu_grad, formula="λx if x > 0 else λα(eˣ - 1), "
               "α = 1.6733, λ = 1.0507", kinks=(0.0,), inplace=True),
    Activation("celu", "CELU", celu, celu_grad, {"alpha": 1.0},
               "x if x > 0 else α(e^(x/α) - 1)", inplace=True, validate=_celu_alpha),
    Activation("gelu", "GELU", gelu, gelu_grad, formula="x·Φ(x) = ½x(1 + erf(x/√2))"),
    Activation("gelu_tanh", "GELU", gelu_tanh, gelu_tanh_grad,
               formula="½x(1 + tanh(√(2/π)(x + 0.044715x³)))"),
    Activation("softplus", "Softplus", softplus, softplus_grad,
               {"beta": 1.0, "threshold": 20.0},
               "ln(1 + e^(βx))/β, or x where βx > threshold", kinks=(20.0,),
               validate=_softplus_beta),
    Activation("relu6", "ReLU6", relu6, relu6_grad, formula="min(max(0, x), 6)",
               kinks=(0.0, 6.0), inplace=True),
    Activation("hardtanh", "Hardtanh", hardtanh, hardtanh_grad,
               {"min_val": -1.0, "max_val": 1.0}, "min(max(min_val, x), max_val)",
               kinks=(-1.0, 1.0), inplace=True, validate=_positive_threshold),
    Activation("sigmoid", "Sigmoid", sigmoid, sigmoid_grad, formula="1 / (1 + e^-x)"),
    Activation("tanh", "Tanh", tanh, tanh_grad, formula="(eˣ - e^-x) / (eˣ + e^-x)"),
    Activation("silu", "SiLU", silu, silu_grad, formula="x·σ(x)", inplace=True),
    Activation("mish", "Mish", mish, mish_grad, formula="x·tanh(ln(1 + eˣ))", inplace=True),
    Activation("hardsigmoid", "Hardsigmoid", hardsigmoid, hardsigmoid_grad,
               formula="0 if x <= -3, 1 if x >= 3, else x/6 + 1/2", kinks=(-3.0, 3.0),
               inplace=True),
    Activation("hardswish", "Hardswish", hardswish, hardswish_grad,
               formula="0 if x <= -3, x if x >= 3, else x(x + 3)/6", kinks=(-3.0, 3.0),
               inplace=True),
    Activation("softsign", "Softsign", softsign, softsign_grad, formula="x / (1 + |x|)"),
    Activation("logsigmoid", "LogSigmoid", logsigmoid, logsigmoid_grad,
               formula="ln σ(x) = -ln(1 + e^-x)"),
):
    register(_act)
del _act
