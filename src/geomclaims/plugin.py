"""Study plugins: how the spine finds the studies (papers) it runs, without naming any of them.

A study is a package that exposes ONE :class:`StudySpec` through the entry-point group ``geomclaims.studies``::

    [project.entry-points."geomclaims.studies"]
    demo = "demo_study.spec:STUDY"

The in-tree studies register exactly this way (pyproject.toml), so the spine keeps no table of studies, papers,
aliases or markers: every such lookup below reads the specs. ``register_study`` adds a spec by hand (the spine's
test fixtures use it); it goes through the same checks as a discovered one.

Discovery reads the installed distributions' metadata (``importlib.metadata.entry_points``) once per process; a
spec that fails to load, is not a StudySpec, or claims a name, paper id or alias another study already has is a
:class:`PluginError` naming the entry point. A spec must stay a declaration (names, paths, markers): the
experiment code lives in ``spec.module``, which ``registry.load_study`` imports to register profiles, evidence
functions and the report section.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ENTRY_POINT_GROUP = "geomclaims.studies"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PluginError(RuntimeError):
    """A study plugin is broken or conflicts with another one (the message names the entry point or spec)."""


@dataclass(frozen=True)
class ProbeSpec:
    """Which of a study's claims apply to a user's own pretrained model (``geomclaims probe``, issue 28), and how the
    model and text file replace the registry ones in the study's settings. Declarations only: the probe runs the
    study's own evidence functions, controls and verdict rules with these substitutions.

    experiments: experiment keys whose claims read one pretrained model (a claim applies when its experiment does).
    model_param: the case parameter naming the model ('' when the settings name it); each distinct case with the
        user's model in it is probed once.
    model_settings: dotted settings paths set to the user's model (a list value becomes ``[model]``).
    corpus_settings: dotted settings paths set to the user's text file (``--corpus FILE``; a list becomes
        ``[corpus]``); empty = the study's claims read only the suite's corpora.
    corpus_names: registry corpus names the corpus settings accept (``--corpus NAME``); another name leaves the
        study's claims untestable.
    texts_per_source: dotted settings path of the number of texts each source of the corpus must have ('' = any).
    source_metrics: metrics that compare with the corpus's sources (they need >= 2 sources in a text file).
    needs: experiment key -> properties the model must have (``decoder``, ``tied_embeddings``); unmet = untestable.
    """

    experiments: tuple[str, ...]
    model_param: str = ""
    model_settings: tuple[str, ...] = ()
    corpus_settings: tuple[str, ...] = ()
    corpus_names: tuple[str, ...] = ()
    texts_per_source: str = ""
    source_metrics: tuple[str, ...] = ()
    needs: Mapping[str, Iterable[str]] | tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "experiments", tuple(self.experiments))
        object.__setattr__(self, "model_settings", tuple(self.model_settings))
        object.__setattr__(self, "corpus_settings", tuple(self.corpus_settings))
        object.__setattr__(self, "corpus_names", tuple(self.corpus_names))
        object.__setattr__(self, "source_metrics", tuple(self.source_metrics))
        needs = dict(self.needs)
        unknown = {n for props in needs.values() for n in props} - set(MODEL_PROPERTIES)
        if unknown:
            raise PluginError(
                f"ProbeSpec.needs: unknown model properties {sorted(unknown)}; known: {MODEL_PROPERTIES}"
            )
        object.__setattr__(self, "needs", tuple((k, tuple(v)) for k, v in sorted(needs.items())))
        if not self.model_param and not self.model_settings:
            raise PluginError("ProbeSpec: name the model through model_param or model_settings")

    def needs_of(self, experiment: str) -> tuple[str, ...]:
        return dict(self.needs).get(experiment, ())


# Model properties a ProbeSpec may require (geomclaims.probe checks them from the model's config).
MODEL_PROPERTIES = ("decoder", "tied_embeddings")


@dataclass(frozen=True)
class StudySpec:
    """Everything the spine needs to know about a study besides its code.

    name: the study name, the prefix of its experiment keys (``"<name>/<experiment>"``) and its results store
        namespace; also the default pytest marker (``-m <name>``).
    module: imported to register the study's profiles, evidence functions and report section.
    paper_id: the ``paper.id`` of the study's claims file.
    claims: the claims file: an absolute path (an installed package: ``Path(__file__).with_name(...)``), a path
        relative to the project root (an in-tree study: ``"claims/<paper>.yaml"``), or None when the project's
        ``claims/`` directory holds it.
    aliases: other names ``--paper`` accepts (any case), e.g. a one-letter short name.
    marker / marker_doc: the pytest marker every claim item of the paper gets (default: the study name).
    profiles: the profiles the study registers settings for (``smoke`` and ``ci`` are required by the contract).
    blurb: one line describing the paper (``geomclaims list``).
    probe: which claims apply to a user's pretrained model (:class:`ProbeSpec`); None = none of them.
    orientation: module holding the study's orientation checks (``CHECKS``, a sequence of
        ``geomclaims.contract.OrientationCheck``): known inputs on which an evidence function must give a known
        value and must not give it once two inputs are swapped or a sign is flipped ('' = none declared).
    """

    name: str
    module: str
    paper_id: str
    claims: str | Path | None = None
    aliases: tuple[str, ...] = ()
    marker: str = ""
    marker_doc: str = ""
    profiles: tuple[str, ...] = ("smoke", "ci", "full")
    blurb: str = ""
    probe: ProbeSpec | None = None
    orientation: str = ""
    source: str = field(
        default="", compare=False
    )  # where it came from (entry point / register_study), for errors

    def __post_init__(self) -> None:
        for what in ("name", "paper_id"):
            value = getattr(self, what)
            if not isinstance(value, str) or not _NAME.match(value):
                raise PluginError(f"StudySpec.{what} {value!r} must be an identifier (letters, digits, _)")
        if not isinstance(self.module, str) or not self.module:
            raise PluginError(f"StudySpec {self.name!r}: module {self.module!r} must be a module name")
        object.__setattr__(self, "aliases", tuple(self.aliases))
        object.__setattr__(self, "profiles", tuple(self.profiles))
        if not self.marker:
            object.__setattr__(self, "marker", self.name)
        if not self.marker_doc:
            object.__setattr__(self, "marker_doc", f"claims of paper {self.paper_id}")

    def names(self) -> tuple[str, ...]:
        """Every name ``--paper`` accepts for this study's paper: paper id, study name, aliases."""
        return tuple(dict.fromkeys((self.paper_id, self.name, *self.aliases)))

    def claims_path(self, project_root: Path) -> Path | None:
        """The claims file, resolved against ``project_root`` when relative; None when the spec names none."""
        if self.claims is None:
            return None
        path = Path(self.claims)
        return path if path.is_absolute() else project_root / path


# Specs added by hand (register_study; tests monkeypatch this dict). Discovered specs are cached separately.
REGISTERED: dict[str, StudySpec] = {}


@functools.cache
def discovered() -> tuple[StudySpec, ...]:
    """The specs of every installed ``geomclaims.studies`` entry point (loaded once per process)."""
    specs: list[StudySpec] = []
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
        where = f"entry point {ep.name!r} = {ep.value!r} (group {ENTRY_POINT_GROUP})"
        try:
            spec = ep.load()
        except Exception as exc:  # any import-time failure of a plugin: name it, do not hide the cause
            raise PluginError(f"{where} failed to load: {type(exc).__name__}: {exc}") from exc
        if not isinstance(spec, StudySpec):
            raise PluginError(f"{where} is a {type(spec).__name__}, not a geomclaims.plugin.StudySpec")
        if spec.name != ep.name:
            raise PluginError(
                f"{where} names study {spec.name!r}; the entry point name must be the study name"
            )
        if spec not in specs:  # one study visible through two dist-infos (e.g. a stale copy on sys.path)
            specs.append(_with_source(spec, where))
    return tuple(specs)


def _with_source(spec: StudySpec, source: str) -> StudySpec:
    from dataclasses import replace

    return replace(spec, source=source)


def clear_cache() -> None:
    """Forget discovered specs (after changing sys.path or installing a plugin in-process)."""
    discovered.cache_clear()


def register_study(spec: StudySpec) -> StudySpec:
    """Add a spec by hand (fixture studies in tests); it replaces a discovered or registered spec of the same study
    name and must not share a paper id or alias with any other study."""
    spec = _with_source(spec, spec.source or f"register_study({spec.name!r})")
    _check_conflicts({**{s.name: s for s in discovered()}, **REGISTERED, spec.name: spec}.values())
    REGISTERED[spec.name] = spec
    return spec


def _check_conflicts(specs: Iterable[StudySpec]) -> None:
    owner: dict[str, StudySpec] = {}
    for spec in specs:
        for name in {n.lower() for n in spec.names()}:
            other = owner.setdefault(name, spec)
            if other is not spec:
                raise PluginError(
                    f"{spec.source or spec.name} and {other.source or other.name} both claim the name {name!r} "
                    "(study name, paper id or alias); each must belong to one study"
                )


def all_specs() -> list[StudySpec]:
    """Every known study spec: hand-registered ones override a discovered spec of the same study name."""
    found = [s for s in discovered() if s.name not in REGISTERED]
    specs = [*found, *REGISTERED.values()]
    _check_conflicts(specs)
    if not any(s.module.startswith("geomclaims.studies.") for s in specs) and _has_intree_specs():
        raise PluginError(
            "no in-tree study is registered through the 'geomclaims.studies' entry points: the installed "
            "geomclaims metadata predates them. Reinstall: `./dev env` (or `pip install -e .` in the checkout)"
        )
    return specs


def _has_intree_specs() -> bool:
    """Whether this geomclaims package ships studies with a spec (so missing entry points mean a stale install)."""
    return any((Path(__file__).parent / "studies").glob("*/spec.py"))


def get_spec(study: str) -> StudySpec:
    for spec in all_specs():
        if spec.name == study:
            return spec
    raise KeyError(f"unknown study {study!r}; known: {sorted(s.name for s in all_specs())}")


def spec_for_paper(paper_id: str) -> StudySpec | None:
    """The spec of the study that runs ``paper_id`` (None for a claims file no study declares)."""
    return next((s for s in all_specs() if s.paper_id == paper_id), None)


def paper_names() -> list[tuple[str, str]]:
    """(name, paper id) for every name ``--paper`` accepts: paper ids, study names and aliases of every spec."""
    return [(name, spec.paper_id) for spec in all_specs() for name in spec.names()]


def study_markers() -> dict[str, str]:
    """The pytest markers the studies declare (``{marker: description}``)."""
    return {spec.marker: spec.marker_doc for spec in all_specs()}
