"""The registry that connects a claim's ``experiment`` key to the study code producing its evidence.

A study registers, for each experiment key it owns (``"<study>/<experiment>"``, e.g. ``"demo/coin"``), an *evidence function*
``(case: ClaimCase, ctx: RunContext) -> Evidence``. The function reads ``case.claim.metric`` and ``case.params``,
obtains (cached) experiment results through ``ctx.run(...)``, and returns the measured samples (one per seed,
usually) and the null samples. ``geomclaims.runner`` turns that into a verdict; pytest and the CLI both go through
the runner, so a claim is judged the same way everywhere.

A study also registers its profile settings (``smoke`` / ``ci`` / ``full``) and, optionally, a report-section
renderer that draws figures from the ``details`` its evidence functions put in results.json.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from geomclaims import plugin
from geomclaims.plugin import StudySpec

if TYPE_CHECKING:
    from geomclaims.claims import ClaimCase
    from geomclaims.store import Store


def register_study(study: str, module: str, paper_id: str | None = None, **spec: Any) -> StudySpec:
    """Register a study by hand (the spine's fixture studies): the same :class:`~geomclaims.plugin.StudySpec` an
    entry point exposes, built from the arguments (``paper_id`` defaults to the study name)."""
    return plugin.register_study(StudySpec(name=study, module=module, paper_id=paper_id or study, **spec))


class _Reasoned(Exception):
    """An exception whose message is the reason shown in the report; an empty reason is a bug, not a verdict."""

    def __init__(self, reason: str, *args: Any) -> None:
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"{type(self).__name__} needs a non-empty reason, got {reason!r}")
        super().__init__(reason, *args)


class Untestable(_Reasoned):
    """Raised by an evidence function when the evidence cannot be produced as published (give the reason)."""


class NotRun(_Reasoned):
    """A budget deferral: this profile does not run the case (the reason names the profile that does)."""


@dataclass
class Evidence:
    """What an evidence function hands back for one claim case.

    measured: samples of the claim's metric (one per seed; or one value with ``aggregate: single``).
    null: samples of the same metric under the claim's null/control, or None when the claim has no null or uses a
        ``ci_above``/``ci_below`` rule.
    details: small JSON-serialisable extras (lists of floats, strings) kept in results.json for the report's
        figures and tables: curves, per-seed tables, accuracies. Keep it small (a few thousand numbers at most).
    notes: one-line remarks for the report (e.g. "variant paper-sgd learned nothing in the ci budget").
    preconditions: validity measurements ``{name: value}`` that the claim's ``requires`` are checked against
        (e.g. ``{"final_acc_m_le_2": 0.97}``); the runner records them and their met flags in results.json.
    replicates: optional, one row per measured sample (same order), each row the metric recomputed on R >= 2
        resamples of that seed's data with the fitted model held fixed (e.g. texts drawn with replacement). With
        them the CI is a two-stage bootstrap (seeds, then one replicate per drawn seed; :mod:`geomclaims.decision`),
        so a data sample that the seeds share does not make the CI narrower than its sampling noise.
    """

    measured: np.ndarray | list[float]
    null: np.ndarray | list[float] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    preconditions: dict[str, float] = field(default_factory=dict)
    replicates: np.ndarray | list[list[float]] | None = None


EvidenceFn = Callable[["ClaimCase", "RunContext"], Evidence]
SectionFn = Callable[[list[dict[str, Any]], Path], str]

_EVIDENCE: dict[str, EvidenceFn] = {}
_PROFILES: dict[str, dict[str, dict[str, Any]]] = {}
_SECTIONS: dict[str, SectionFn] = {}


def evidence(experiment_key: str) -> Callable[[EvidenceFn], EvidenceFn]:
    """Decorator: register the evidence function for a claim ``experiment`` key ``"study/name"``."""

    def wrap(fn: EvidenceFn) -> EvidenceFn:
        prev = _EVIDENCE.get(experiment_key)
        # Re-importing the same module re-registers the same function: fine. Two different functions: a bug.
        if prev is not None and (prev.__module__, prev.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(
                f"experiment key {experiment_key!r} registered twice ({prev.__module__}.{prev.__qualname__}, "
                f"{fn.__module__}.{fn.__qualname__})"
            )
        _EVIDENCE[experiment_key] = fn
        return fn

    return wrap


def register_profiles(study: str, settings: Mapping[str, Mapping[str, Any]]) -> None:
    """Register a study's settings per profile; all of smoke, ci and full are required."""
    from geomclaims.claims import PROFILES

    missing = [p for p in PROFILES if p not in settings]
    if missing:
        raise ValueError(f"study {study!r} profiles lack {missing}")
    _PROFILES[study] = {p: dict(v) for p, v in settings.items()}


def profiles_of(study: str) -> list[str]:
    """The profiles a (loaded) study registered settings for."""
    return list(_PROFILES.get(study, {}))


def report_section(study: str) -> Callable[[SectionFn], SectionFn]:
    """Decorator: register ``fn(claim_results, figure_dir) -> markdown`` for a study's report section.

    ``claim_results`` are this study's entries of results.json (dicts, with ``details``). The function writes PNGs
    into ``figure_dir`` and returns markdown that links them relative to the report (``figures/<name>.png``). It must
    depend only on its arguments, so a report is deterministic given results.json.
    """

    def wrap(fn: SectionFn) -> SectionFn:
        _SECTIONS[study] = fn
        return fn

    return wrap


def load_study(study: str) -> None:
    """Import the study's module (from its spec), which registers its profiles, evidence and report section."""
    importlib.import_module(plugin.get_spec(study).module)


def study_names() -> list[str]:
    """Every registered study (discovered through entry points or registered by hand)."""
    return [spec.name for spec in plugin.all_specs()]


def study_of(experiment_key: str) -> str:
    return experiment_key.split("/", 1)[0]


def get_evidence_fn(experiment_key: str) -> EvidenceFn:
    load_study(study_of(experiment_key))
    try:
        return _EVIDENCE[experiment_key]
    except KeyError:
        known = sorted(k for k in _EVIDENCE if study_of(k) == study_of(experiment_key))
        raise KeyError(
            f"no evidence function registered for experiment {experiment_key!r}; known: {known}"
        ) from None


def study_settings(study: str, profile: str, seed_offset: int = 0) -> dict[str, Any]:
    """A study's settings for a profile, with every seed shifted by ``seed_offset`` (see :func:`shift_seeds`)."""
    load_study(study)
    try:
        settings = dict(_PROFILES[study][profile])
    except KeyError:
        raise KeyError(f"study {study!r} has no settings for profile {profile!r}") from None
    return shift_seeds(settings, seed_offset, where=f"{study}/{profile}") if seed_offset else settings


def is_seed_key(key: str) -> bool:
    """Settings keys that hold seeds (Contract v2 "Seeds"): ``seeds``/``*_seeds`` lists, ``seed``/``*_seed`` ints."""
    return key in ("seed", "seeds") or key.endswith(("_seed", "_seeds"))


def shift_seeds(settings: Mapping[str, Any], offset: int, where: str = "settings") -> dict[str, Any]:
    """Copy of ``settings`` with every seed key shifted by ``offset`` (nested dicts too).

    A robustness run (``--seed-offset K``) asks whether a verdict hinges on the particular seed list; shifting every
    seed of the profile, including shared-init and data seeds, gives fresh independent draws of the same design.
    A seed key whose value is not an int / list of ints is an error naming it, so a new key cannot be skipped silently.
    """
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            out[key] = shift_seeds(value, offset, f"{where}.{key}")
        elif is_seed_key(key):
            out[key] = _shift(value, offset, f"{where}.{key}")
        else:
            out[key] = value
    return out


def _shift(value: Any, offset: int, where: str) -> Any:
    def one(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{where}: seed value {v!r} is not an int; cannot apply a seed offset")
        return int(v) + int(offset)

    if isinstance(value, (list, tuple)):
        return [one(v) for v in value]
    return one(value)


def get_section_fn(study: str) -> SectionFn | None:
    try:
        load_study(study)
    except ImportError:
        return None
    return _SECTIONS.get(study)


@dataclass
class RunContext:
    """Everything an evidence function may use besides the claim case.

    ``settings`` are the study's settings for the profile; ``run(name, config, seed, fn)`` returns a cached
    experiment result (``fn(config, seed) -> dict``), computing it once per process and once per cache.

    ``threads`` is the torch/BLAS thread budget of every job (part of the job's store key, so a serial and a
    parallel run compute the same numbers). When ``planner`` is set (``geomclaims.executor``), a result that is
    neither in memory nor in the store is not computed here: the planner records the job and raises ``JobPending``.
    """

    profile: str
    study: str
    settings: dict[str, Any]
    store: Store
    device: str = "cpu"
    progress: bool = True
    threads: int = 1
    planner: Any = field(default=None, repr=False)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)
    _failed: dict[str, BaseException] = field(default_factory=dict, repr=False)

    def job_key(self, name: str, config: Mapping[str, Any], seed: int) -> str:
        """Store key of experiment ``name`` of this study for (config, seed) at this context's thread budget."""
        return self.store.key(
            f"{self.study}/{name}",
            config,
            seed,
            code_version=study_code_version(self.study),
            threads=self.threads,
        )

    def run(
        self,
        name: str,
        config: Mapping[str, Any],
        seed: int,
        fn: Callable[[Mapping[str, Any], int], Mapping[str, Any]],
    ) -> dict[str, Any]:
        """Result of ``fn(config, seed)`` for experiment ``name``, from memory, the disk cache, or computed."""
        key = self.job_key(name, config, seed)
        if key in self._memo:
            return self._memo[key]
        if key in self._failed:  # a job that failed on a worker: every case needing it fails the same way
            raise self._failed[key]
        if self.planner is not None:
            self._memo[key] = self.planner.request(self, key, name, config, seed, fn)
            return self._memo[key]
        from geomclaims.jobs import failure, job_label, limit_threads

        try:
            self._memo[key] = self.store.get_or_compute(
                key,
                f"{self.study}/{name}",
                config,
                seed,
                limit_threads(fn, self.threads),
                device=self.device,
                progress=self.progress,
            )
        except Exception as exc:  # name the job, as a worker failure does
            err = failure(job_label(self.study, name, config, seed), exc)
            if err is exc:
                raise
            raise err from exc
        return self._memo[key]


# Files of a study folder that cannot change a measured number: report.py (figures and tables; editing them must
# not retrain anything), spec.py (the plugin declaration: names, claims file, markers) and orientation.py (the
# contract's orientation checks: synthetic inputs fed to the evidence functions, never stored as results).
UNHASHED = frozenset({"report.py", "spec.py", "orientation.py"})


def study_code_version(study: str, source: Path | None = None) -> str:
    """Hash of the study's source (minus the UNHASHED files), the metrics' source and the modules the study package lists
    in ``CODE_DEPENDENCIES``: a change to any of them invalidates the study's cached results.

    By default the files hashed are those of the imported ``geomclaims`` package, i.e. the code that runs: for an
    editable install that is the checkout it was installed from, for a wheel the installed copy. ``source`` (a
    ``src/geomclaims`` folder of some checkout) hashes that checkout's files instead, with the same layout; the
    gate uses it to judge a baseline against the working directory's code (see ``geomclaims.gate``); that variant
    is not memoised (the files may change while a process lives)."""
    return _installed_code_version(study) if source is None else _code_version(study, Path(source))


@functools.cache
def _installed_code_version(study: str) -> str:
    return _code_version(study, None)


study_code_version.cache_clear = _installed_code_version.cache_clear  # type: ignore[attr-defined]


def _code_version(study: str, source: Path | None) -> str:
    package = Path(__file__).resolve().parent

    def mapped(path: Path) -> Path:
        path = path.resolve()
        if source is not None and path.is_relative_to(package):
            return Path(source) / path.relative_to(package)
        return path

    load_study(study)
    module = importlib.import_module(plugin.get_spec(study).module)
    root = mapped(Path(module.__file__).parent)  # type: ignore[arg-type]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if path.name in UNHASHED:
            continue
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    metrics_root = mapped(Path(__file__).parent / "metrics")
    for path in sorted(metrics_root.rglob("*.py")):
        h.update(path.relative_to(metrics_root).as_posix().encode())
        h.update(path.read_bytes())
    # Modules outside the study folder whose code shapes its results (e.g. how texts are selected and embedded):
    # without them a warm store would serve results computed by an older version of that code.
    for name in sorted(getattr(module, "CODE_DEPENDENCIES", ())):
        dep = importlib.import_module(name)
        h.update(name.encode())
        h.update(mapped(Path(dep.__file__)).read_bytes())  # type: ignore[arg-type]
    return h.hexdigest()[:16]
