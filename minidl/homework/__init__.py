"""Homework checks: run a student's answer to an exercise and report pass or fail.

Each exercise notebook in ``notebooks/exercises/`` ends with a check cell::

    import minidl.homework
    minidl.homework.check("ex03_kaiming", kaiming_normal_, lecun_normal_)

``check`` runs the exercise's cases on the functions and returns a :class:`CheckResult`
that Jupyter shows as a report: one line per case, and for each case that did not pass,
what it ran, the expected and the got value (for arrays, the worst element and the largest
error) and a hint. It never raises because an answer is wrong or unfinished: a function
that still raises ``NotImplementedError`` (the stub) is reported as "not implemented yet".

The exercises (``exercises()`` lists them):

=============================  =============================================================
``ex01_activation``            an activation (QuickGELU) as two scalar functions, registered
``ex02_sigmoid_tanh_backward`` the backward passes of sigmoid and tanh
``ex03_kaiming``               Kaiming (He) and LeCun normal initialisation
``ex04_clip_grad_norm``        ``clip_grad_norm_``
``ex05_dead_units``            counting dead ReLU units
``ex06_selu_fixed_point``      the SELU mean/variance map and the constants of its fixed point
``ex07_linear_backward``       the backward pass of a Linear layer
=============================  =============================================================
"""

from __future__ import annotations

from typing import Any

from minidl.homework import (
    ex01_activation,
    ex02_sigmoid_tanh_backward,
    ex03_kaiming,
    ex04_clip_grad_norm,
    ex05_dead_units,
    ex06_selu_fixed_point,
    ex07_linear_backward,
)
from minidl.homework._check import CaseResult, CheckResult, Exercise, run_exercise

__all__ = ["CaseResult", "CheckResult", "EXERCISES", "check", "exercises"]

#: Every exercise by id.
EXERCISES: dict[str, Exercise] = {
    module.EXERCISE.id: module.EXERCISE
    for module in (ex01_activation, ex02_sigmoid_tanh_backward, ex03_kaiming,
                   ex04_clip_grad_norm, ex05_dead_units, ex06_selu_fixed_point,
                   ex07_linear_backward)
}


def exercises() -> dict[str, str]:
    """``{exercise id: what it asks for}``, and how each check is called."""
    return {ex.id: f"{ex.title}: {ex.call}" for ex in EXERCISES.values()}


def check(exercise_id: str, *student_objects: Any) -> CheckResult:
    """Check a student's answer to an exercise.

    Parameters
    ----------
    exercise_id : str
        The exercise, e.g. ``'ex03_kaiming'`` (see :func:`exercises`).
    *student_objects
        The functions the exercise asks for, in the order its notebook names them.

    Returns
    -------
    CheckResult
        ``.passed`` is True when every case passes; ``.cases`` holds one result per case
        and ``.messages`` the text of those that did not pass. Shown as a report in
        Jupyter (the last line of a cell) or with ``print``. A wrong number of functions,
        or something that is not a function with the right parameters, gives a failed
        result that says how to call the check.

    Raises
    ------
    ValueError
        For an unknown ``exercise_id``; the message lists the exercises.
    """
    exercise = EXERCISES.get(exercise_id) if isinstance(exercise_id, str) else None
    if exercise is None:
        raise ValueError(f"check: unknown exercise {exercise_id!r}; the exercises are "
                         f"{', '.join(repr(name) for name in EXERCISES)}")
    return run_exercise(exercise, student_objects)
