"""Run claim cases with their experiment jobs spread over Dask workers (a local cluster or an existing scheduler).

Evidence functions keep their contract (``ctx.run(name, config, seed, fn)``); this module never calls them in any
other way than :func:`geomclaims.runner.evaluate_case` does. How the jobs get known without touching them:

1. *Planning.* Every selected case is evaluated with a context whose ``planner`` is set. ``ctx.run`` then returns a
   result that is in memory or in the store; otherwise the planner records the job (study, name, config, seed,
   fn, code version, thread budget), submits it, and raises :class:`JobPending`, which unwinds the evidence function
   (it is a ``BaseException``, so an evidence function's ``except Exception`` cannot swallow it by mistake).
2. *Completion.* Workers run ``fn(config, seed)`` and send the result back; the driver alone writes the store (no
   shared filesystem needed), puts the result in memory, and re-evaluates the cases that waited for it. A case
   whose second job depends on the first one's result simply raises ``JobPending`` again and waits once more.
3. *Decision.* A case is decided when ``evaluate_case`` returns: that last evaluation is the normal one, with every
   result in memory, so its entry is exactly what the serial path produces.

Because an evidence function stops at its first missing result, a case that loops over seeds would reveal one job
at a time. The planner therefore *speculates*: a pending job whose seed is in one of the study's seed lists
(``seeds`` / ``*_seeds`` settings) brings along the same experiment for the later seeds of that list, at a lower
priority, unless the config itself holds that list (then one job covers all seeds). Speculation only ever computes
a job the evidence function would request with the same arguments once it gets there; jobs still running when
every case is decided are cancelled.

Same numbers as serial: every job runs ``fn`` with torch and BLAS limited to the job's thread budget (in a worker
process and in the serial in-process path alike) and the budget is part of the store key.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from geomclaims.jobs import (  # noqa: F401  (re-exported: the executor's names before the split)
    PASS_THROUGH,
    ExperimentFn,
    JobFailed,
    _call_limited,
    config_hash,
    failure,
    job_label,
    limit_threads,
    thread_budget,
)
from geomclaims.store import META_KEY, CacheCorruption, Store, canonical_json

if TYPE_CHECKING:
    from geomclaims.claims import ClaimCase
    from geomclaims.registry import RunContext
    from geomclaims.runner import Session

EXECUTORS = ("dask", "serial")
SCHEDULER_ENV = "GEOMCLAIMS_SCHEDULER"
TIMEOUT_ENV = "GEOMCLAIMS_SCHEDULER_TIMEOUT"
DEFAULT_CONNECT_TIMEOUT_S = 30.0


class SchedulerUnavailable(OSError):
    """The Dask scheduler given by ``--scheduler`` / ``$GEOMCLAIMS_SCHEDULER`` could not be reached in time."""


def connect_timeout() -> float:
    """Seconds to wait for a scheduler's handshake: ``$GEOMCLAIMS_SCHEDULER_TIMEOUT`` (default 30)."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    if not raw.strip():
        return DEFAULT_CONNECT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (0 < value < 3600):  # also false for NaN
        raise ValueError(
            f"environment variable {TIMEOUT_ENV}={raw!r} must be a number of seconds in (0, 3600)"
        )
    return value


class JobPending(BaseException):  # control flow (like StopIteration), not an error
    """Internal: raised by ``ctx.run`` during planning when a result is not computed yet."""

    def __init__(self, job: Job):
        super().__init__(job.label)
        self.job = job


@dataclass(frozen=True)
class Job:
    """One experiment computation: ``fn(config, seed)`` of study ``study``, stored under ``key``."""

    key: str
    study: str
    name: str
    config: Mapping[str, Any]
    seed: int
    fn: ExperimentFn = field(repr=False)
    code_version: str
    threads: int = 1
    device: str = "cpu"

    @property
    def label(self) -> str:
        return job_label(self.study, self.name, self.config, self.seed)

    @property
    def resources(self) -> dict[str, int] | None:
        """Dask resources: a CUDA job runs only on a worker that declares a GPU."""
        return {"GPU": 1} if self.device.startswith("cuda") else None


# ---------------------------------------------------------------------------------------------------------------
# running one job (worker side, and the serial path's in-process call)
# ---------------------------------------------------------------------------------------------------------------


def _detach(obj: Any) -> Any:
    """Torch tensors -> numpy, recursively, so a result pickles without torch's shared-memory tensors."""
    if isinstance(obj, Mapping):
        return {k: _detach(v) for k, v in obj.items()}
    if hasattr(obj, "detach"):
        return obj.detach().cpu().numpy()
    return obj


def run_job(job: Job) -> tuple[dict[str, Any], dict[str, Any]]:
    """Compute one job (on a worker): ``(result, provenance)``. The driver stores it."""
    from geomclaims.store import provenance

    start = time.perf_counter()
    result = _detach(dict(_call_limited(job.fn, job.threads, job.config, job.seed)))
    wall = time.perf_counter() - start
    prov = {
        **provenance(job.device),
        "experiment": f"{job.study}/{job.name}",
        "config": json.loads(canonical_json(job.config)),
        "seed": int(job.seed),
        "wall_s": round(wall, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "job_threads": int(job.threads),
        "worker_pid": os.getpid(),
    }
    return result, prov


def store_result(
    store: Store, key: str, result: Mapping[str, Any], prov: Mapping[str, Any]
) -> dict[str, Any]:
    """What ``Store.get_or_compute`` returns after computing: the stored round trip, or the same shapes unstored."""
    if store.enabled:
        store.save(key, result, prov)
        loaded = store.load(key)
        assert loaded is not None
        return loaded
    from geomclaims.store import _to_arrays

    arrays, plain = _to_arrays(result)
    return {**arrays, **json.loads(canonical_json(plain)), META_KEY: dict(prov)}


# ---------------------------------------------------------------------------------------------------------------
# Dask backend
# ---------------------------------------------------------------------------------------------------------------


class DaskExecutor:
    """Submits jobs to a ``distributed.Client`` and hands back finished ones (results travel to the driver)."""

    def __init__(self, client: Any, cluster: Any = None):
        self.client = client
        self.cluster = cluster
        self._futures: dict[str, tuple[Job, Any]] = {}

    @property
    def outstanding(self) -> int:
        return len(self._futures)

    def submit(self, job: Job, priority: int = 0) -> None:
        if job.key in self._futures:
            return
        fut = self.client.submit(
            run_job,
            job,
            key=f"geomclaims-{job.key}",
            priority=priority,
            resources=job.resources,
            retries=0,
            pure=False,
        )
        self._futures[job.key] = (job, fut)

    def running(self) -> int:
        """Our jobs workers are executing now (a scheduler query; used for the progress bar only).

        The scheduler's ``processing`` also lists the tasks it has queued ON a worker ahead of time (worker saturation
        1.1 gives a one-thread worker two), so the count is capped by the workers' threads."""
        try:
            busy = {k for keys in self.client.processing().values() for k in keys}
            threads = sum(self.client.nthreads().values())
        except Exception:  # the bar must never break a run
            return 0
        return min(threads, sum(1 for _, f in self._futures.values() if f.key in busy))

    def wait_some(self, timeout: float = 1.0) -> list[tuple[Job, Any, BaseException | None]]:
        """Finished jobs (possibly none after ``timeout`` s): ``(job, (result, prov) or None, exception or None)``."""
        from distributed import wait

        futs = [f for _, f in self._futures.values()]
        if not futs:
            return []
        try:
            done = wait(futs, timeout=timeout, return_when="FIRST_COMPLETED").done
        except TimeoutError:
            return []
        out: list[tuple[Job, Any, BaseException | None]] = []
        for key, (job, fut) in list(self._futures.items()):
            if fut not in done:
                continue
            del self._futures[key]
            if fut.status == "finished":
                out.append((job, fut.result(), None))
            else:
                exc = fut.exception()
                out.append(
                    (job, None, exc if exc is not None else JobFailed(f"job {job.label} {fut.status}"))
                )
            fut.release()
        return out

    def cancel_all(self) -> None:
        futs = [f for _, f in self._futures.values()]
        self._futures.clear()
        if futs:
            self.client.cancel(futs)

    def describe(self) -> dict[str, Any]:
        info = self.client.scheduler_info()
        workers = info.get("workers", {})
        return {
            "executor": "dask",
            # a LocalCluster's address is a random port: recording it would only make results files differ
            "scheduler": "local" if self.cluster is not None else info.get("address"),
            "workers": len(workers),
            "threads_per_worker": sorted({w.get("nthreads") for w in workers.values()}),
        }

    def close(self) -> list[str]:
        """Cancel, disconnect and (a local one) shut the cluster down; each step's failure is returned as a line
        instead of raised: the run's judgements are made by then, and a cluster that times out while closing must
        not cost them (Dask's TimeoutError carries no message, so the line names the exception type)."""
        problems = []
        steps = [("cancelling jobs", self.cancel_all), ("closing the Dask client", self.client.close)]
        if self.cluster is not None:
            steps.append(("closing the local Dask cluster", self.cluster.close))
        for what, step in steps:
            try:
                step()
            except Exception as exc:
                problems.append(f"{what} failed: {type(exc).__name__}" + (f": {exc}" if str(exc) else ""))
        return problems


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def start_executor(
    *,
    workers: int | None = None,
    threads_per_worker: int = 1,
    scheduler: str | None = None,
    device: str = "cpu",
) -> DaskExecutor:
    """Connect to ``scheduler`` (or ``$GEOMCLAIMS_SCHEDULER``), else start a LocalCluster of worker processes.

    Local workers: ``workers`` processes (default: one per core) of ``threads_per_worker`` threads each; on a CUDA
    run each declares ``GPU=1`` so GPU jobs can be placed. No memory limit: a job's footprint is what it is, and the
    nanny's kill-at-95% would turn a large but fine job into a mysterious KilledWorker.
    """
    from distributed import Client, LocalCluster

    from geomclaims.worker_env import keep_glibc_trim_default, private_inductor_cache

    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if scheduler:
        timeout = connect_timeout()
        print(
            f"[geomclaims] connecting to the Dask scheduler {scheduler} (timeout {timeout:g} s)",
            file=sys.stderr,
        )
        try:
            _probe_scheduler(scheduler, timeout)
            return DaskExecutor(Client(scheduler, timeout=timeout))
        except (OSError, TimeoutError) as exc:
            # a scheduler that accepts the connection but never answers used to hang the run for minutes, silently
            raise SchedulerUnavailable(
                f"Dask scheduler {scheduler} did not answer within {timeout:g} s ({type(exc).__name__}"
                f"{': ' + str(exc) if str(exc) else ''}); check the address or set {TIMEOUT_ENV}"
            ) from None
    n = workers or default_workers()
    keep_glibc_trim_default()
    private_inductor_cache()
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=threads_per_worker,
        processes=True,
        memory_limit=0,
        dashboard_address=None,
        resources={"GPU": 1} if device.startswith("cuda") else None,
    )
    return DaskExecutor(Client(cluster), cluster)


def _probe_scheduler(address: str, timeout: float) -> None:
    """Open and close one comm to ``address`` (Dask's handshake included) within ``timeout`` s.

    ``Client(address, timeout=...)`` bounds the TCP connect but not the handshake that follows: a server that
    accepts and never answers kept it waiting for minutes. This probe bounds the whole exchange."""
    import asyncio

    from distributed.comm import connect

    async def probe() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        await comm.close()

    asyncio.run(probe())


# ---------------------------------------------------------------------------------------------------------------
# planning and the run loop
# ---------------------------------------------------------------------------------------------------------------


class Planner:
    """Set as ``ctx.planner``: serves stored results, records and submits missing jobs (see the module docstring)."""

    def __init__(
        self, executor: DaskExecutor, speculate: bool = True, on_submit: Callable[[], None] | None = None
    ):
        self.executor = executor
        self.speculate = speculate
        self.submitted: dict[str, Job] = {}
        self.speculative: set[str] = set()  # submitted ahead of a request; cleared when a case asks for it
        self.on_submit = on_submit

    def request(
        self, ctx: RunContext, key: str, name: str, config: Mapping[str, Any], seed: int, fn: ExperimentFn
    ) -> dict[str, Any]:
        cached = _load(ctx.store, key)
        if cached is not None:
            return cached
        self.speculative.discard(key)
        job = self._job(ctx, key, name, config, seed, fn)
        self._submit(job, priority=1)
        if self.speculate:
            for later in _later_seeds(ctx.settings, config, seed):
                k = ctx.job_key(name, config, later)
                if k not in self.submitted and k not in ctx._memo and _load(ctx.store, k) is None:
                    self._submit(self._job(ctx, k, name, config, later, fn), priority=0)
                    self.speculative.add(k)
        raise JobPending(job)

    @staticmethod
    def _job(
        ctx: RunContext, key: str, name: str, config: Mapping[str, Any], seed: int, fn: ExperimentFn
    ) -> Job:
        from geomclaims.registry import study_code_version

        return Job(
            key=key,
            study=ctx.study,
            name=name,
            config=config,  # as the evidence function built it, so fn sees exactly what the serial path passes
            seed=int(seed),
            fn=fn,
            code_version=study_code_version(ctx.study),
            threads=ctx.threads,
            device=ctx.device,
        )

    def _submit(self, job: Job, priority: int) -> None:
        if job.key in self.submitted:
            return
        self.submitted[job.key] = job
        self.executor.submit(job, priority=priority)
        if self.on_submit:
            self.on_submit()


def _load(store: Store, key: str) -> dict[str, Any] | None:
    if not store.enabled:
        return None
    try:
        return store.load(key)
    except CacheCorruption as exc:
        warnings.warn(f"recomputing corrupt cache entry: {exc}", stacklevel=3)
        return None


def _later_seeds(settings: Mapping[str, Any], config: Mapping[str, Any], seed: int) -> list[int]:
    """Seeds after ``seed`` in the settings' seed lists that contain it: what a loop over seeds will ask for next.

    Nothing when the config itself has a seed key: such a job handles its seeds itself (one run per seed list).
    """
    from geomclaims.registry import is_seed_key

    if any(is_seed_key(str(k)) for k in config):
        return []
    out: list[int] = []
    for key, value in settings.items():
        if is_seed_key(key) and isinstance(value, list) and seed in value:
            out += [int(s) for s in value[value.index(seed) + 1 :] if int(s) not in out]
    return out


@dataclass
class RunOutcome:
    entries: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    stopped: str | None = None
    jobs_submitted: int = 0
    jobs_failed: list[str] = field(default_factory=list)
    reused: int = 0  # cases taken from the store's judged cases (an earlier run of the same command)


class _Stop(Exception):
    pass


def run_cases(
    session: Session,
    cases: list[ClaimCase],
    executor: DaskExecutor | None = None,
    *,
    keep_going: bool = False,
    on_entry: Callable[[dict[str, Any]], None] | None = None,
    error_entries: bool = True,
    progress: bool = True,
    speculate: bool = True,
    stop_on: Callable[[BaseException], Any] | None = None,
    journal: bool = True,
) -> RunOutcome:
    """Judge ``cases``; jobs run on ``executor`` (None: in-process, one after another, as ever).

    ``on_entry(entry)`` gets each decided case's entry. A case whose evaluation raises (a failed job, bad evidence):
    with ``error_entries`` an ``error`` entry carrying the message is recorded in the session; without
    ``keep_going`` the run stops there (running jobs are cancelled) and ``RunOutcome.stopped`` holds the message.
    A ``ResourceUnavailable`` is a skip, never an error. ``stop_on(exc)`` truthy stops the run even with
    ``keep_going`` (a full disk: every later case would fail the same way).

    ``journal`` (with an enabled store): each decided entry is written to the store the moment it is decided
    (``Store.save_case`` under :func:`geomclaims.runner.case_key`), and a case already judged there by a run with the
    same claim, code and settings is taken from it instead of re-evaluated: a run that was interrupted, killed or
    lost its cluster resumes where it stopped. Errored cases are never stored (a rerun tries them again).
    """
    from geomclaims.progress import Progress, case_line
    from geomclaims.registry import study_of
    from geomclaims.runner import case_key, error_entry, evaluate_case

    out = RunOutcome()
    # Bars on a terminal only; in a log one plain line per finished job and per judged case (geomclaims.progress).
    shown = Progress(len(cases), session.profile, jobs=executor is not None, enabled=progress)
    waiting: dict[str, list[ClaimCase]] = defaultdict(list)

    planner = Planner(executor, speculate=speculate, on_submit=shown.job_submitted) if executor else None

    def deliver(entry: dict[str, Any]) -> None:
        shown.case_finished(case_line(entry))
        out.entries.append(entry)
        if on_entry:
            on_entry(entry)

    def attempt(case: ClaimCase) -> None:
        ctx = session.context(study_of(case.claim.experiment))
        key = case_key(case, ctx) if journal and ctx.store.enabled else None
        if key is not None and (judged := ctx.store.load_case(key)) is not None:
            out.reused += 1
            deliver(judged)
            return
        ctx.planner = planner
        try:
            entry = evaluate_case(case, ctx)
        except JobPending as pending:
            waiting[pending.job.key].append(case)
            return
        except Exception as exc:
            if type(exc).__name__ == "ResourceUnavailable":
                out.skipped.append((case.case_id, str(exc)))
                shown.case_finished(f"SKIP {case.case_id}: {exc}")
                return
            message = f"{type(exc).__name__}: {exc}"
            out.errors.append((case.case_id, message))
            shown.case_finished(f"ERROR {case.case_id}: {message}")
            if error_entries:
                session.record(error_entry(case, ctx.profile, exc))
            if not keep_going or (stop_on is not None and stop_on(exc)):
                raise _Stop(message) from exc
            return
        finally:
            ctx.planner = None
        if key is not None:
            try:
                ctx.store.save_case(key, entry)
            except OSError as exc:  # the entry is still in this run's results; only a resume would miss it
                shown.write(f"WARNING {case.case_id}: judged case not stored ({exc})")
        deliver(entry)

    try:
        for case in cases:
            attempt(case)
        while waiting:
            assert executor is not None
            if not executor.outstanding:
                stuck = sorted(c.case_id for cs in waiting.values() for c in cs)
                raise RuntimeError(f"cases wait for jobs that were never submitted: {stuck}")
            finished = executor.wait_some(timeout=1.0)
            running = executor.running() if finished else 0  # a scheduler query: once per batch
            for job, payload, exc in finished:
                ctx = session.context(job.study)
                reason = None
                if exc is not None:
                    ctx._failed[job.key] = failure(job.label, exc)
                    # A speculative job no case asked for yet fails silently: if a case asks, it fails there.
                    if job.key not in planner.speculative:  # type: ignore[union-attr]
                        out.jobs_failed.append(job.label)
                        if isinstance(ctx._failed[job.key], JobFailed):  # skips/untestables: the case says
                            reason = str(ctx._failed[job.key])
                else:
                    result, prov = payload
                    try:
                        ctx._memo[job.key] = store_result(ctx.store, job.key, result, prov)
                    except OSError as write_error:  # full disk, read-only cache: the cases needing it say so
                        ctx._failed[job.key] = write_error
                shown.job_finished(
                    job.label,
                    failed=exc is not None,
                    running=running,
                    failures=len(out.jobs_failed),
                    reason=reason,
                )
                for case in waiting.pop(job.key, []):
                    attempt(case)
    except _Stop as stop:
        out.stopped = str(stop)
    finally:
        if executor is not None:
            executor.cancel_all()  # speculative jobs no case needed, or everything after a stop
        out.jobs_submitted = len(planner.submitted) if planner else 0
        shown.close()
    return out


@contextmanager
def executor_for(
    kind: str = "dask",
    *,
    workers: int | None = None,
    threads_per_worker: int = 1,
    scheduler: str | None = None,
    device: str = "cpu",
) -> Iterator[DaskExecutor | None]:
    """The executor a run asked for (None = serial in-process), closed afterwards.

    ``serial``, or ``dask`` with one local worker and no scheduler, is today's in-process path: a one-worker cluster
    would only add a process hop.
    """
    if kind not in EXECUTORS:
        raise ValueError(f"unknown executor {kind!r}; use one of {EXECUTORS}")
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if kind == "serial" or (workers == 1 and not scheduler):
        yield None
        return
    ex = start_executor(
        workers=workers, threads_per_worker=threads_per_worker, scheduler=scheduler, device=device
    )
    try:
        yield ex
    finally:
        for problem in ex.close():
            print(f"geomclaims: warning: {problem} (judged cases are kept)", file=sys.stderr)
