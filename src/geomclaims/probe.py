"""Probe a user's own pretrained model with the claims that apply to it (``geomclaims probe``, issue 28).

Which claims apply is the studies' declaration (``StudySpec.probe``, :class:`geomclaims.plugin.ProbeSpec`): the
spine names no paper. A claim applies when its experiment is one the study declares; its cases are the claim's own
with the user's model in place of the registry models (``model_param``), each distinct case once. The study's
settings for the profile get the model (and a ``--corpus`` text file) at the declared paths, and the study's own
evidence functions then run with their controls, verdict rules, stability and caches: the model is reached by its
content name ``local-<sha16>`` through the same resource calls as a registry model (``geomclaims.resources.local``),
so embeddings are cached by the model's sha256 in the experiment store and an interrupted probe resumes.

Some cases are untestable before anything runs, with the reason in the entry: the model lacks a property the claim's
experiment needs (``ProbeSpec.needs``: a tied-embedding decoder for P11), the text file has fewer texts in a source
than the claim draws per seed, or a claim compares with the corpus's sources and the file has one.

Results carry a ``probe`` block (model folder, content sha256, per-file weight sha256, tokenizer, corpus) and no
expected verdicts: the claims files' expectations are about the suite's models, not the user's.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from geomclaims.claims import ClaimCase, PaperClaims, Verdict
from geomclaims.plugin import ProbeSpec, spec_for_paper
from geomclaims.probe_model import CorpusInfo, ModelInfo, ProbeError
from geomclaims.registry import study_of, study_settings
from geomclaims.runner import Session, _id_pattern, _undecided, case_fields

# Profiles a probe may use: smoke replaces real embeddings with synthetic clouds (plumbing), so it never reads a model.
PROBE_PROFILES = ("ci", "full")
# Entry fields that state the suite's expectations for its own models; a probe's entries leave them out.
SUITE_EXPECTATIONS = ("expected_verdict", "expected_reason")


def probe_specs(papers: Mapping[str, PaperClaims]) -> dict[str, ProbeSpec]:
    """Paper id -> the probe declaration of its study, for the papers whose study declares one."""
    out = {}
    for paper_id in papers:
        spec = spec_for_paper(paper_id)
        if spec is not None and spec.probe is not None:
            out[paper_id] = spec.probe
    return out


def probe_cases(
    papers: Mapping[str, PaperClaims], model_name: str, claim_ids: Iterable[str] | None = None
) -> list[ClaimCase]:
    """The cases of every applicable claim with ``model_name`` in place of the registry models, each once; with
    ``claim_ids`` only the claims / cases they name (``*``/``?`` patterns as ``geomclaims run --claim``)."""
    out: dict[str, ClaimCase] = {}
    for paper_id, probe in probe_specs(papers).items():
        for claim in papers[paper_id].claims:
            if claim.experiment not in probe.experiments:
                continue
            for case in claim.cases():
                params = dict(case.params)
                if probe.model_param:
                    if probe.model_param not in params:
                        continue
                    params[probe.model_param] = model_name
                new = ClaimCase(claim, params)
                out.setdefault(new.case_id, new)
    cases = list(out.values())
    if claim_ids is None:
        return cases
    return _select(cases, list(claim_ids))


def _select(cases: list[ClaimCase], ids: list[str]) -> list[ClaimCase]:
    if not ids:
        raise ProbeError("--claims needs at least one claim id or case id")
    rx = {i: _id_pattern(i) for i in ids}
    picked, matched = [], set()
    for case in cases:
        hits = {i for i, r in rx.items() if r.fullmatch(case.claim.id) or r.fullmatch(case.case_id)}
        matched |= hits
        if hits:
            picked.append(case)
    unknown = [i for i in ids if i not in matched]
    if unknown:
        known = sorted({c.claim.id for c in cases})
        raise ProbeError(
            f"--claims {', '.join(unknown)}: no claim that applies to a pretrained model matches; they are: "
            f"{', '.join(known)}"
        )
    return picked


def _walk(settings: dict[str, Any], dotted: str, where: str) -> tuple[dict[str, Any], str]:
    *parents, last = dotted.split(".")
    node = settings
    for key in parents:
        if not isinstance(node.get(key), dict):
            raise ProbeError(f"{where}: settings have no mapping {key!r} (ProbeSpec path {dotted!r})")
        node = node[key]
    if last not in node:
        raise ProbeError(f"{where}: settings have no key {dotted!r} (ProbeSpec path)")
    return node, last


def get_setting(settings: Mapping[str, Any], dotted: str, where: str) -> Any:
    node, last = _walk(dict(settings), dotted, where)
    return node[last]


def patch_settings(
    settings: Mapping[str, Any], probe: ProbeSpec, model: str, corpus: str | None, where: str
) -> dict[str, Any]:
    """A copy of a study's settings with the user's model (and text file) at the declared paths; a list value
    becomes a one-element list."""
    out = copy.deepcopy(dict(settings))
    subs = [(p, model) for p in probe.model_settings]
    if corpus is not None:
        subs += [(p, corpus) for p in probe.corpus_settings]
    for dotted, value in subs:
        node, last = _walk(out, dotted, where)
        node[last] = [value] if isinstance(node[last], list) else value
    return out


def untestable_reason(
    case: ClaimCase,
    probe: ProbeSpec,
    model: ModelInfo,
    corpus: CorpusInfo | None,
    settings: Mapping[str, Any],
    profile: str,
) -> str | None:
    """Why ``case`` cannot be judged on this model and corpus, before anything runs (None: it can)."""
    label = f"{model.name} ({model.model_type}, {'decoder' if model.decoder else 'encoder'})"
    missing = [p for p in probe.needs_of(case.claim.experiment) if not model.has(p)]
    if missing:
        wants = {"decoder": "a decoder (causal LM)", "tied_embeddings": "tied input/output embeddings"}
        return f"{case.claim.experiment} needs {' and '.join(wants[p] for p in missing)}; {label} does not have them"
    if corpus is None:
        return None
    if not corpus.is_file and corpus.name not in probe.corpus_names:
        return (
            f"--corpus {corpus.name}: {case.claim.experiment} reads "
            f"{', '.join(probe.corpus_names) if probe.corpus_names else 'its own corpus or a text file'}, "
            "not this corpus"
        )
    if not probe.corpus_settings:
        return f"{case.claim.experiment} reads the suite's corpora only; --corpus {corpus.name} does not apply to it"
    if probe.texts_per_source and corpus.is_file:
        need = int(get_setting(settings, probe.texts_per_source, study_of(case.claim.experiment)))
        short = {s: n for s, n in corpus.per_source.items() if n < need}
        if short:
            counts = ", ".join(f"{s!r}: {n}" for s, n in short.items())
            return (
                f"too few texts: --corpus {corpus.path} has {counts} text(s) per source; this claim draws "
                f"{probe.texts_per_source}={need} texts per source for each seed in the {profile} profile"
            )
    if corpus.is_file and case.claim.metric in probe.source_metrics and len(corpus.per_source) < 2:
        return (
            f"{case.claim.metric} compares the strata with the corpus's sources and --corpus {corpus.path} has one "
            "source (name sources with `source<TAB>text` lines)"
        )
    return None


@dataclass
class ProbeSession(Session):
    """A :class:`~geomclaims.runner.Session` whose studies see the user's model and corpus in their settings, that
    records the cases decided untestable before running, and whose results carry the probe's provenance."""

    model: ModelInfo | None = None
    corpus: CorpusInfo | None = None
    untestable: dict[str, str] = field(default_factory=dict)  # case id -> reason, decided before running

    def settings_for(self, study: str) -> dict[str, Any]:
        from geomclaims.plugin import get_spec

        probe = get_spec(study).probe
        base = study_settings(study, self.profile, seed_offset=self.seed_offset)
        if probe is None or self.model is None:
            return base
        return patch_settings(base, probe, self.model.name, self.corpus.name if self.corpus else None, study)

    def context(self, study: str) -> Any:
        if study not in self._contexts:
            ctx = super().context(study)
            ctx.settings = self.settings_for(study)
        return self._contexts[study]

    def plan(self, cases: list[ClaimCase]) -> list[ClaimCase]:
        """Decide which cases are untestable before running (kept in ``untestable``); returns the others."""
        from geomclaims.plugin import get_spec

        runnable = []
        for case in cases:
            study = study_of(case.claim.experiment)
            probe = get_spec(study).probe
            assert probe is not None and self.model is not None
            why = untestable_reason(
                case, probe, self.model, self.corpus, self.settings_for(study), self.profile
            )
            if why:
                self.untestable[case.case_id] = why
            else:
                runnable.append(case)
        return runnable

    def evaluate_untestable(self, case: ClaimCase) -> dict[str, Any]:
        """The (unrecorded) entry of a case :meth:`plan` found untestable."""
        self._check_new(case)
        return untestable_entry(case, self.profile, self.untestable[case.case_id])

    def evaluate(self, case: ClaimCase) -> dict[str, Any]:
        if case.case_id in self.untestable:
            return self.record(self.evaluate_untestable(case))
        return super().evaluate(case)

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        for key in SUITE_EXPECTATIONS:
            entry.pop(key, None)
        return super().record(entry)

    def results(self) -> dict[str, Any]:
        from geomclaims.resources.models import MODEL_NAMES

        out = super().results()
        # The registry models of the profile were not used; its corpora were, unless a text file replaced them.
        out["resources"] = [
            r
            for r in out["resources"]
            if r.get("name") not in MODEL_NAMES and (self.corpus is None or not self.corpus.is_file)
        ]
        out["probe"] = {
            "model": self.model.provenance() if self.model else None,
            "corpus": self.corpus.provenance() if self.corpus else "the suite's corpora",
        }
        return out


def untestable_entry(case: ClaimCase, profile: str, reason: str) -> dict[str, Any]:
    """The results entry of a case the probe cannot judge (decided before running)."""
    return {**case_fields(case, profile), **_undecided(Verdict.UNTESTABLE, reason), "wall_s": 0.0}


def corpus_names(papers: Mapping[str, PaperClaims]) -> tuple[str, ...]:
    """Every registry corpus name some study's probe declaration accepts (``--corpus NAME``)."""
    return tuple(dict.fromkeys(n for probe in probe_specs(papers).values() for n in probe.corpus_names))


def check_profile(profile: str) -> None:
    if profile not in PROBE_PROFILES:
        raise ProbeError(
            f"--profile {profile}: a probe runs {' or '.join(PROBE_PROFILES)}; smoke replaces the embeddings with "
            "synthetic clouds and would never read the model"
        )
