"""Render worker processes: one BLAS thread each.

A render worker is one of several processes sharing the cores. OpenBLAS starts one thread
per core by default, and those threads only spin against the other workers (measured on 2
cores: a 55 ms full-frame ray-cast took 109 ms of CPU with the default, 44 ms with one
thread; `dms synth` with 2 workers made 213 scanned-head crops/s with the default, 261
with one thread). A BLAS library reads its thread count when it loads, so the setting must
be in the environment of a freshly started (spawned) process.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Processes spawned inside this block start with one BLAS thread; this process's own
    setting is restored on exit."""
    saved = {k: os.environ.get(k) for k in BLAS_THREAD_VARIABLES}
    os.environ.update({k: "1" for k in BLAS_THREAD_VARIABLES})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
