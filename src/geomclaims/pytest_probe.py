"""pytest ``--claims-model DIR`` (issue 28): the claim items of a probe (``geomclaims.probe``), checked once per session.

``--claims-model`` (with ``--claims-tokenizer`` / ``--claims-corpus``) checks and registers the user's model before
collection; the plugin then parametrizes the claim items over the paper's probe cases and judges them in a
:class:`geomclaims.probe.ProbeSession`. An item passes when the claim holds for the model (its success verdict),
is skipped with the reason when the claim cannot be judged on it, and fails otherwise.
"""

from __future__ import annotations

from typing import Any

import pytest

from geomclaims.claims import ClaimCase, Verdict
from geomclaims.runner import resolve_device

_PROBE = pytest.StashKey[tuple]()


def add_probe_options(group: Any) -> None:
    group.addoption("--claims-model", default=None, help="probe this model folder (geomclaims probe)")
    group.addoption("--claims-tokenizer", default=None, help="the probed model's tokenizer folder")
    group.addoption("--claims-corpus", default=None, help="the probe's text file (one text per line)")


def check_probe_options(config: pytest.Config, baseline: str | None) -> None:
    """Option combinations a probe refuses, before anything runs."""
    if config.getoption("--claims-model") and baseline:
        raise pytest.UsageError(
            "--claims-model probes your model: there is no baseline for it to be gated against (drop --claims-baseline)"
        )
    if (
        config.getoption("--claims-tokenizer") or config.getoption("--claims-corpus")
    ) and not config.getoption("--claims-model"):
        raise pytest.UsageError("--claims-tokenizer and --claims-corpus go with --claims-model DIR")


def probe_of(config: pytest.Config) -> tuple[Any, Any] | None:
    """(ModelInfo, CorpusInfo | None) of ``--claims-model``, checked and registered once; None without it."""
    if not config.getoption("--claims-model"):
        return None
    if _PROBE not in config.stash:
        from geomclaims.claims import load_all
        from geomclaims.probe import check_profile, corpus_names
        from geomclaims.probe_model import ProbeError, inspect_corpus, inspect_model, register

        try:
            check_profile(config.getoption("--claims-profile"))
            device = resolve_device(config.getoption("--claims-device"))
            info = inspect_model(
                config.getoption("--claims-model"), config.getoption("--claims-tokenizer"), device
            )
            corpus = config.getoption("--claims-corpus")
            names = corpus_names(load_all())
            config.stash[_PROBE] = (info, inspect_corpus(corpus, names) if corpus else None)
        except ProbeError as exc:
            raise pytest.UsageError(str(exc)) from None
        register(info)
    return config.stash[_PROBE]


class ClaimDoesNotHold(AssertionError):
    """A probed model's verdict is decisive or undecided but not the claim's success verdict."""


def probe_outcome(case: ClaimCase, entry: dict[str, Any]) -> dict[str, Any]:
    """A probe item passes when the claim holds for the model, is skipped when it cannot be judged on it
    (untestable, not_run: the reason is the skip's), and fails otherwise with the verdict and its explanation."""
    verdict = entry["verdict"]
    if verdict == case.claim.success.value:
        return entry
    if verdict in (Verdict.UNTESTABLE.value, Verdict.NOT_RUN.value):
        pytest.skip(f"{case.case_id}: {entry['explanation']}")
    raise ClaimDoesNotHold(f"{case.case_id}: verdict {verdict} on the probed model. {entry['explanation']}")
