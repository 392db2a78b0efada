"""Wall-clock time of every named experiment in quick mode, one after another in this
process (the issue's bound: all eight under 6 minutes on the project's machine).

    OPENBLAS_NUM_THREADS=1 python benchmarks/experiments_quick.py
"""

import time

from minidl import experiments

total = 0.0
for name in experiments.available():
    start = time.perf_counter()
    experiments.run(name, quick=True, seed=0)
    seconds = time.perf_counter() - start
    total += seconds
    print(f"{name}: {seconds:.1f} s", flush=True)
print(f"all eight: {total:.1f} s")
