"""What ``import minidl`` does to the process environment (in fresh subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CODE = "import os, minidl; print(os.environ['OMP_WAIT_POLICY'])"


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("active", "active")])
def test_import_sets_a_passive_openmp_wait_policy_unless_the_user_chose(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == expected
