"""Tests of ``minidl.optim``: every optimiser and scheduler against PyTorch, parameter
groups, checkpoints, dtype, and the errors (each of which must leave everything unchanged)."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import minidl
from minidl import optim
from minidl.nn import Parameter
from minidl.optim import lr_scheduler

SHAPES = [(3, 4), (5,), (2, 3, 2)]
STEPS = 5
TOL = dict(rtol=1e-10, atol=1e-12)


def oracle() -> ModuleType:
    """PyTorch, or a skip where it is not installed."""
    return pytest.importorskip("torch")


def initial_weights() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s) for s in SHAPES]


def grad_at(w: np.ndarray) -> np.ndarray:
    """The gradient of a fixed non-quadratic loss, so that every step sees a new gradient."""
    return np.cos(3 * w) + 0.3 * w - 0.1


def make_params(dtype: Any = np.float64) -> list[Parameter]:
    return [Parameter(w.astype(dtype)) for w in initial_weights()]


def set_grads(params: list[Parameter]) -> None:
    for p in params:
        p.grad = grad_at(p.data).astype(p.dtype)


def snapshot(opt: optim.Optimizer, params: list[Parameter]) -> tuple:
    """Copies of everything a step may change: weights, grads, state, options."""
    return ([p.data.copy() for p in params], [None if p.grad is None else p.grad.copy()
                                              for p in params],
            opt.state_dict())


def assert_same(a: Any, b: Any) -> None:
    """Deep equality of nested lists/dicts/tuples of arrays and plain values."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    else:
        assert a == b


# ------------------------------------------------------------------ parity with PyTorch
CONFIGS = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("SGD", {"weight_decay": 0.1}),
    ("SGD", {"momentum": 0.8, "weight_decay": 0.1, "maximize": True}),
    ("SGD", {"momentum": 0.8, "nesterov": True, "weight_decay": 0.05, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"weight_decay": 0.1}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"maximize": True}),
    ("Adam", {"betas": (0.8, 0.9), "eps": 1e-3, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {}),
    ("AdamW", {"weight_decay": 0.3, "amsgrad": True}),
    ("AdamW", {"weight_decay": 0, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"momentum": 0.9}),
    ("RMSprop", {"alpha": 0.9, "eps": 1e-3, "weight_decay": 0.1, "maximize": True}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("Adagrad", {}),
    ("Adagrad", {"lr_decay": 0.1}),
    ("Adagrad", {"initial_accumulator_value": 0.5}),
    ("Adagrad", {"weight_decay": 0.1, "maximize": True, "eps": 1e-3}),
]


def run_pair(name: str, build: Callable[[type, list], Any], steps: int = STEPS,
             drop_grad: int | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Run ``steps`` steps of optimiser ``name``, made by ``build(cls, params)``, in both
    libraries from the same weights.

    Each library computes its gradients from its own current weights, so a difference
    in any step shows in the final weights. ``drop_grad`` is the index of a parameter
    whose gradient is None on the second step (it must be skipped, state included).
    """
    torch = oracle()
    ours = make_params()
    theirs = [torch.tensor(w, requires_grad=True) for w in initial_weights()]
    opt_ours = build(getattr(optim, name), ours)
    opt_theirs = build(getattr(torch.optim, name), theirs)
    for step in range(steps):
        set_grads(ours)
        for p in theirs:
            p.grad = torch.from_numpy(grad_at(p.detach().numpy()))
        if step == 1 and drop_grad is not None:
            ours[drop_grad].grad = None
            theirs[drop_grad].grad = None
        opt_ours.step()
        opt_theirs.step()
    return [p.data for p in ours], [p.detach().numpy() for p in theirs]


@pytest.mark.parametrize(("name", "options"), CONFIGS,
                         ids=[f"{n}-{o}" for n, o in CONFIGS])
def test_matches_pytorch(name: str, options: dict) -> None:
    ours, theirs = run_pair(name, lambda cls, params: cls(params, lr=0.05, **options))
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_parameter_without_grad_is_skipped_as_in_pytorch(name: str) -> None:
    ours, theirs = run_pair(name, lambda cls, params: cls(params, lr=0.05), drop_grad=1)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, **TOL)


GROUP_OPTIONS = {
    "SGD": ({"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1},
            {"lr": 0.01, "momentum": 0.5, "nesterov": True, "weight_decay": 0}),
    "Adam": ({"lr": 0.05, "weight_decay": 0.1}, {"betas": (0.5, 0.6), "amsgrad": True}),
    "AdamW": ({"lr": 0.05}, {"weight_decay": 0.5, "maximize": True}),
    "RMSprop": ({"lr": 0.01, "centered": True}, {"momentum": 0.9, "alpha": 0.5}),
    "Adagrad": ({"lr": 0.1, "lr_decay": 0.2}, {"weight_decay": 0.1, "eps": 1e-3}),
}


@pytest.mark.parametrize("name", list(GROUP_OPTIONS))
def test_parameter_groups_with_different_options_match_pytorch(name: str) -> None:
    first, second = GROUP_OPTIONS[name]
    ours, theirs = run_pair(name, lambda cls, params: cls([{"params": params[:2], **first},
                                                           {"params": params[2:], **second}]))
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, **TOL)


def test_adagrad_honours_a_groups_own_initial_accumulator_value() -> None:
    # PyTorch fills every accumulator with the constructor's value, ignoring the group's.
    params = make_params()
    opt = optim.Adagrad([{"params": params[:1]},
                         {"params": params[1:], "initial_accumulator_value": 2.0}])
    set_grads(params)
    opt.step()
    g = grad_at(initial_weights()[1])
    np.testing.assert_allclose(opt.state[params[1]]["sum"], 2.0 + g * g, **TOL)
    np.testing.assert_allclose(opt.state[params[0]]["sum"],
                               grad_at(initial_weights()[0]) ** 2, **TOL)


@pytest.mark.parametrize(("name", "options"), CONFIGS,
                         ids=[f"{n}-{o}" for n, o in CONFIGS])
def test_float32_stays_float32(name: str, options: dict) -> None:
    params = make_params(np.float32)
    opt = getattr(optim, name)(params, lr=0.05, **options)
    for _ in range(2):
        set_grads(params)
        opt.step()
    for p in params:
        assert p.dtype == np.float32
        for value in opt.state[p].values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32


def test_float64_grad_on_float32_parameter_keeps_the_parameter_float32() -> None:
    # A student writing p.grad = np.ones(p.shape) gets float64 (NumPy's default).
    p = Parameter(np.ones(3, dtype=np.float32))
    opt = optim.SGD([p], lr=0.5, momentum=0.9, weight_decay=0.1)
    for _ in range(2):
        p.grad = np.ones(3)
        opt.step()
    assert p.dtype == np.float32
    assert opt.state[p]["momentum_buffer"].dtype == np.float32


# ------------------------------------------------------------------ schedulers
SCHEDULERS = [
    ("StepLR", {"step_size": 4, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [3, 7, 7, 12], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 10}),
    ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.01}),
]


def lr_sequence(lib: ModuleType, name: str, options: dict, epochs: int = 25) -> list:
    """The learning rates of two groups (0.1 and 0.02) over ``epochs`` epochs."""
    w1 = lib.zeros(2, requires_grad=True)
    w2 = lib.zeros(2, requires_grad=True)
    opt = lib.optim.SGD([{"params": [w1]}, {"params": [w2], "lr": 0.02}], lr=0.1)
    sched = getattr(lib.optim.lr_scheduler, name)(opt, **options)
    lrs = [sched.get_last_lr()]
    for _ in range(epochs):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
        assert lrs[-1] == [g["lr"] for g in opt.param_groups]
    return lrs


@pytest.mark.parametrize(("name", "options"), SCHEDULERS,
                         ids=[f"{n}-{o}" for n, o in SCHEDULERS])
def test_scheduler_matches_pytorch(name: str, options: dict) -> None:
    torch = oracle()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's hints about step order
        theirs = lr_sequence(torch, name, options)
    np.testing.assert_allclose(lr_sequence(minidl, name, options), theirs, rtol=1e-12,
                               atol=1e-15)


def test_scheduler_records_initial_lr_and_starts_there() -> None:
    params = make_params()
    opt = optim.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.5}], lr=0.1)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert sched.get_last_lr() == [0.1, 0.5]
    assert sched.last_epoch == 0


@pytest.mark.parametrize(("name", "options"), SCHEDULERS,
                         ids=[f"{n}-{o}" for n, o in SCHEDULERS])
def test_scheduler_state_dict_round_trip_continues_the_sequence(name: str,
                                                               options: dict) -> None:
    def make() -> tuple[optim.Optimizer, lr_scheduler.LRScheduler]:
        opt = optim.SGD(make_params(), lr=0.1)
        return opt, getattr(lr_scheduler, name)(opt, **options)

    opt, sched = make()
    for _ in range(5):
        sched.step()
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    resumed_opt, resumed = make()
    resumed_opt.load_state_dict(saved_opt)
    resumed.load_state_dict(saved_sched)
    for _ in range(8):
        sched.step()
        resumed.step()
        assert resumed.get_last_lr() == sched.get_last_lr()
        assert resumed_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_scheduler_resumed_with_last_epoch_continues_the_sequence() -> None:
    opt = optim.SGD(make_params(), lr=0.1)
    sched = lr_scheduler.StepLR(opt, step_size=3)
    for _ in range(5):
        sched.step()                             # now at epoch 5
    resumed_opt = optim.SGD(make_params(), lr=0.1)
    resumed_opt.load_state_dict(opt.state_dict())
    resumed = lr_scheduler.StepLR(resumed_opt, step_size=3, last_epoch=4)
    assert resumed.last_epoch == 5
    for _ in range(5):
        assert resumed.get_last_lr() == sched.get_last_lr()
        sched.step()
        resumed.step()


def test_scheduler_errors() -> None:
    opt = optim.SGD(make_params(), lr=0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(opt, step_size=2, last_epoch=3)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.ExponentialLR(object(), gamma=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max must be positive"):
        lr_scheduler.CosineAnnealingLR(opt, T_max=0)
    sched = lr_scheduler.StepLR(opt, step_size=2)
    before = sched.state_dict()
    cosine_state = lr_scheduler.CosineAnnealingLR(optim.SGD(make_params()), T_max=3).state_dict()
    with pytest.raises(ValueError, match="StepLR expects the entries"):
        sched.load_state_dict(cosine_state)
    assert_same(sched.state_dict(), before)


# ------------------------------------------------------------------ groups and validation
@pytest.mark.parametrize(("make", "message"), [
    (lambda p: optim.SGD(p, lr=-1), "Invalid learning rate: -1"),
    (lambda p: optim.SGD(p, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda p: optim.SGD(p, weight_decay=-1e-4), "Invalid weight_decay value"),
    (lambda p: optim.SGD(p, nesterov=True), "Nesterov momentum requires a momentum"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True),
     "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: optim.Adam(p, lr=float("nan")), "Invalid learning rate: nan"),
    (lambda p: optim.Adam(p, eps=-1e-8), "Invalid epsilon value"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.AdamW(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1"),
    (lambda p: optim.AdamW(p, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda p: optim.RMSprop(p, alpha=-0.9), "Invalid alpha value: -0.9"),
    (lambda p: optim.RMSprop(p, momentum=-1), "Invalid momentum value"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), "Invalid lr_decay value: -1"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1),
     "Invalid initial_accumulator_value value: -1"),
    (lambda p: optim.Adam([{"params": p[:1]}, {"params": p[1:], "lr": -0.1}]),
     "Invalid learning rate: -0.1"),
])
def test_invalid_options_are_rejected(make: Callable, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(make_params())


def test_invalid_params_are_rejected() -> None:
    params = make_params()
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([])
    with pytest.raises(TypeError, match="single Parameter"):
        optim.SGD(params[0])
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": set(params)}])
    with pytest.raises(TypeError, match="parameter 1 of the group is a ndarray"):
        optim.SGD([params[0], np.zeros(3)])
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([x * 2])


def test_a_parameter_given_twice_is_an_error() -> None:
    params = make_params()
    with pytest.raises(ValueError, match=r"parameter 2 of the group \(shape \(3, 4\)\) appears"):
        optim.SGD([params[0], params[1], params[0]])
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.Adam([{"params": params[:2]}, {"params": params[1:]}])
    opt = optim.Adam(params[:2])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": params[1:]})
    assert len(opt.param_groups) == 1


def test_add_param_group_fills_defaults_and_is_optimised() -> None:
    params = make_params()
    opt = optim.SGD(params[:2], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": params[2], "lr": 0.01})
    group = opt.param_groups[1]
    assert group["params"] == [params[2]]
    assert group["lr"] == 0.01 and group["momentum"] == 0.9 and group["nesterov"] is False
    before = params[2].data.copy()
    set_grads(params)
    opt.step()
    np.testing.assert_allclose(params[2].data, before - 0.01 * grad_at(before), **TOL)


def test_a_parameter_without_grad_is_untouched_and_gets_no_state() -> None:
    params = make_params()
    opt = optim.Adam(params, lr=0.1)
    set_grads(params)
    params[1].grad = None
    before = params[1].data.copy()
    opt.step()
    np.testing.assert_array_equal(params[1].data, before)
    assert params[1] not in opt.state
    assert opt.state[params[0]]["step"] == 1


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none: bool) -> None:
    params = make_params()
    opt = optim.SGD(params, lr=0.1)
    set_grads(params)
    params[1].grad = None
    arrays = [p.grad for p in params]
    opt.zero_grad(set_to_none=set_to_none)
    if set_to_none:
        assert all(p.grad is None for p in params)
    else:
        assert params[1].grad is None
        for p, g in zip([params[0], params[2]], [arrays[0], arrays[2]], strict=True):
            assert p.grad is g  # zeroed in place, not replaced
            np.testing.assert_array_equal(g, 0)


def test_step_calls_the_closure_with_grad_enabled_and_returns_its_loss() -> None:
    w = Parameter(np.array([3.0, -1.0]))
    opt = optim.SGD([w], lr=0.25)

    def closure() -> minidl.Tensor:
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with minidl.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 10.0
    np.testing.assert_array_equal(w.data, [1.5, -0.5])  # w - 0.25 * 2w


def test_training_a_linear_model_with_autograd_reduces_the_loss() -> None:
    minidl.manual_seed(0)
    rng = np.random.default_rng(0)
    x = minidl.tensor(rng.standard_normal((64, 3)).astype(np.float32))
    y = minidl.tensor((x.data @ np.array([[1.0], [-2.0], [0.5]], np.float32)) + 0.3)
    model = minidl.nn.Linear(3, 1)
    opt = optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 1e-2 * losses[0]
    assert all(p.dtype == np.float32 for p in model.parameters())


# ------------------------------------------------------------------ no half-updated state
def trained(name: str = "Adam", **options: Any) -> tuple[optim.Optimizer, list[Parameter]]:
    params = make_params()
    opt = getattr(optim, name)(params, lr=0.1, **options)
    for _ in range(2):
        set_grads(params)
        opt.step()
    return opt, params


@pytest.mark.parametrize("bad", ["shape", "dtype", "type"])
def test_a_bad_gradient_raises_before_anything_changes(bad: str) -> None:
    opt, params = trained("Adam", amsgrad=True)
    set_grads(params)
    # The last parameter is bad, so a step that updated as it checked would have
    # changed the first two already.
    params[2].grad = {"shape": np.zeros((2, 6)), "dtype": np.zeros((2, 3, 2), dtype=np.int64),
                      "type": [[0.0]]}[bad]
    before = snapshot(opt, params)
    error, message = {"shape": (RuntimeError, r"parameter 2 has shape \(2, 6\), but the "
                                              r"parameter has shape \(2, 3, 2\)"),
                      "dtype": (TypeError, "parameter 2 .* is dtype int64"),
                      "type": (TypeError, "parameter 2 .* is list")}[bad]
    with pytest.raises(error, match=message):
        opt.step()
    after = snapshot(opt, params)
    assert_same(after[0], before[0])
    assert_same(after[2], before[2])


def test_state_dict_has_pytorch_format_and_copies_arrays() -> None:
    params = make_params()
    opt = optim.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.5}], lr=0.1,
                    momentum=0.9)
    set_grads(params)
    params[1].grad = None
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"] == [
        {"lr": 0.1, "momentum": 0.9, "dampening": 0, "weight_decay": 0, "nesterov": False,
         "maximize": False, "params": [0]},
        {"lr": 0.5, "momentum": 0.9, "dampening": 0, "weight_decay": 0, "nesterov": False,
         "maximize": False, "params": [1, 2]},
    ]
    assert sorted(sd["state"]) == [0, 2]
    assert list(sd["state"][2]) == ["momentum_buffer"]
    sd["state"][0]["momentum_buffer"] += 1
    sd["param_groups"][0]["lr"] = 7
    assert not np.array_equal(opt.state[params[0]]["momentum_buffer"],
                              sd["state"][0]["momentum_buffer"])
    assert opt.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize(("name", "options"), CONFIGS,
                         ids=[f"{n}-{o}" for n, o in CONFIGS])
def test_state_dict_round_trip_continues_training_identically(name: str,
                                                              options: dict) -> None:
    opt, params = trained(name, **options)
    saved = copy.deepcopy(opt.state_dict())
    twins = [Parameter(p.data.copy()) for p in params]
    twin_opt = getattr(optim, name)(twins, lr=1.0)  # lr comes from the state dict
    twin_opt.load_state_dict(saved)
    assert twin_opt.param_groups[0]["params"] == twins
    for state in saved["state"].values():  # load must have copied these
        for value in state.values():
            if isinstance(value, np.ndarray):
                value += 1
    for _ in range(3):
        set_grads(params)
        set_grads(twins)
        opt.step()
        twin_opt.step()
    for p, q in zip(params, twins, strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    assert_same(twin_opt.state_dict(), opt.state_dict())


def test_load_state_dict_casts_arrays_to_the_parameters_dtype() -> None:
    opt, _ = trained("Adam")
    params32 = make_params(np.float32)
    opt32 = optim.Adam(params32)
    opt32.load_state_dict(opt.state_dict())
    assert opt32.state[params32[0]]["exp_avg"].dtype == np.float32


def corrupt(saved: dict, how: str) -> dict:
    saved = copy.deepcopy(saved)
    if how == "groups":
        saved["param_groups"].append({**saved["param_groups"][0], "params": []})
    elif how == "params":
        saved["param_groups"][0]["params"].pop()
    elif how == "shape":
        saved["state"][1]["exp_avg"] = np.zeros((5, 1))
    elif how == "entries":
        saved["state"][1] = {"momentum_buffer": np.zeros(5)}
    elif how == "options":
        del saved["param_groups"][0]["betas"]
    elif how == "invalid":
        saved["param_groups"][0]["lr"] = -1.0
    elif how == "index":
        saved["state"][7] = saved["state"].pop(1)
    return saved


@pytest.mark.parametrize(("how", "message"), [
    ("groups", "the state dict has 2 parameter groups, but this optimizer has 1"),
    ("params", "parameter group 0 has 2 parameters in the state dict, but 3 in this"),
    ("shape", r"state 'exp_avg' of parameter 1 has shape \(5, 1\), but the parameter has "
              r"shape \(5,\)"),
    ("entries", r"state of parameter 1 has the entries \['momentum_buffer'\], but Adam"),
    ("options", r"parameter group 0 lacks the options \['betas'\]"),
    ("invalid", "Invalid learning rate: -1.0"),
    ("index", "state for parameter 7, which is in none of its parameter groups"),
])
def test_load_state_dict_mismatch_raises_and_changes_nothing(how: str, message: str) -> None:
    opt, params = trained("Adam")
    saved = corrupt(opt.state_dict(), how)
    other, other_params = trained("Adam", weight_decay=0.5)
    other.param_groups[0]["lr"] = 0.3
    before = snapshot(other, other_params)
    with pytest.raises(ValueError, match=message):
        other.load_state_dict(saved)
    assert_same(snapshot(other, other_params), before)


def test_repr_lists_the_groups_options() -> None:
    text = repr(optim.SGD(make_params(), lr=0.1, momentum=0.9))
    assert text.startswith("SGD (\nParameter Group 0\n")
    assert "    momentum: 0.9" in text and "    lr: 0.1" in text


@pytest.mark.parametrize("cls, option, value, entry", [
    (optim.Adam, "amsgrad", True, "max_exp_avg_sq"),
    (optim.RMSprop, "centered", True, "grad_avg"),
    (optim.RMSprop, "momentum", 0.9, "momentum_buffer"),
    (optim.SGD, "momentum", 0.9, "momentum_buffer"),
])
def test_option_switched_on_mid_training_gets_fresh_state(cls, option, value, entry) -> None:
    minidl.manual_seed(0)
    layer = minidl.nn.Linear(3, 2)
    opt = cls(layer.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        layer(minidl.randn(4, 3)).sum().backward()
        opt.step()
    before = layer.weight.data.copy()
    opt.param_groups[0][option] = value
    opt.zero_grad()
    layer(minidl.randn(4, 3)).sum().backward()
    opt.step()
    assert entry in opt.state[layer.weight]
    assert not np.array_equal(layer.weight.data, before)


def test_step_hooks_run_around_the_update_and_can_be_removed() -> None:
    w = minidl.nn.Parameter(np.array([1.0, -2.0], dtype=np.float32))
    opt = optim.SGD([w], lr=1.0)
    seen = []
    pre = opt.register_step_pre_hook(lambda o, args, kwargs: seen.append(("pre", w.data.copy())))
    post = opt.register_step_post_hook(lambda o, a, k: seen.append(("post", w.data.copy())))
    clip = opt.register_step_pre_hook(lambda o, a, k: minidl.nn.utils.clip_grad_value_([w], 0.5))
    w.grad = np.array([3.0, -0.25], dtype=np.float32)
    opt.step()
    np.testing.assert_array_equal(w.data, [0.5, -1.75])  # the clip ran before the update
    assert [k for k, _ in seen] == ["pre", "post"]
    np.testing.assert_array_equal(seen[0][1], [1.0, -2.0])
    np.testing.assert_array_equal(seen[1][1], [0.5, -1.75])
    for handle in (pre, post, clip):
        handle.remove()
    w.grad = np.array([1.0, 1.0], dtype=np.float32)
    opt.step()
    assert len(seen) == 2
    np.testing.assert_array_equal(w.data, [-0.5, -2.75])
