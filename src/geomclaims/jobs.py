"""One experiment job's identity and thread budget: the layer under the registry (``RunContext.run``) and the
executor (Dask), so neither imports the other for these.

``job_label`` names a job in errors (experiment, config hash, seed); ``limit_threads`` runs ``fn(config, seed)``
under a torch/BLAS thread budget; ``failure`` turns a job's exception into what the case needing it sees.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from geomclaims.store import canonical_json

# Exceptions a job may raise that keep their meaning for the case (a skip, an untestable or deferred case),
# exactly as when the job runs in-process; any other exception becomes a JobFailed naming the job.
PASS_THROUGH = ("Untestable", "ResourceUnavailable", "NotRun")

ExperimentFn = Callable[[Mapping[str, Any], int], Mapping[str, Any]]


class JobFailed(RuntimeError):
    """An experiment job raised on a worker (or the worker died); the message names the job."""


def config_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:12]


def job_label(study: str, name: str, config: Mapping[str, Any], seed: int) -> str:
    return f"{study}/{name} config {config_hash(config)} seed {seed}"


@contextmanager
def thread_budget(threads: int) -> Iterator[None]:
    """torch and every BLAS/OpenMP pool limited to ``threads`` (reductions may differ across thread counts)."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        with threadpool_limits(limits=int(threads)):
            yield
    finally:
        torch.set_num_threads(before)


def _call_limited(fn: ExperimentFn, threads: int, config: Mapping[str, Any], seed: int) -> Mapping[str, Any]:
    with thread_budget(threads):
        return fn(config, seed)


def limit_threads(fn: ExperimentFn, threads: int) -> ExperimentFn:
    """``fn`` run under :func:`thread_budget` (what the serial path hands to ``Store.get_or_compute``)."""
    return functools.partial(_call_limited, fn, int(threads))


def failure(label: str, exc: BaseException) -> BaseException:
    """The exception a case needing job ``label`` sees: the original for skips/untestables, else a JobFailed naming
    the job (experiment, config hash, seed)."""
    # By class name along the MRO (Untestable, ResourceUnavailable, NotRun and subclasses): this module sits below
    # the registry and the resources that define them.
    if any(c.__name__ in PASS_THROUGH for c in type(exc).__mro__) or isinstance(exc, JobFailed):
        return exc
    err = JobFailed(f"job {label} failed: {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err
