"""A fetched registry model probed through its own folder gives the built-in run's values (issue 28, "done when").

Slow and skipped unless the model and the corpora its claim reads are in the fetch cache (`geomclaims fetch`): the
built-in case and the probe's case are judged under the same shrunk ci settings (test_probe.SMALL), so the
comparison costs seconds of embedding instead of the full pool.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_probe import small_ci  # noqa: F401  (fixture)

from geomclaims.claims import load_all
from geomclaims.probe import ProbeSession, probe_cases
from geomclaims.probe_model import inspect_model, register
from geomclaims.runner import Session
from geomclaims.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.resources]


def _needs(*names: str) -> None:
    from geomclaims.resources import list_sources

    cached = {r["name"] for r in list_sources() if r.get("cached")}  # generated dm_mathematics included
    missing = [n for n in names if n not in cached]
    if missing:
        pytest.skip(f"not in the fetch cache: {', '.join(missing)} (geomclaims fetch --profile ci)")


@pytest.mark.parametrize(
    ("model", "claim"), [("minilm-l6", "S5-source-strata-text"), ("smollm2-135m", "P11")]
)
def test_a_fetched_model_probed_through_its_folder_gives_the_built_in_values(
    small_ci: Path,  # noqa: F811
    model: str,
    claim: str,
) -> None:
    from geomclaims.resources.models import model_path
    from geomclaims.resources.sources import LM_CORPUS_NAMES, SIX_SOURCES

    lm = [n if n != "wikipedia" else "wikipedia_leads" for n in LM_CORPUS_NAMES]  # lm_corpus's name for it
    _needs(model, *(SIX_SOURCES if claim.startswith("S") else lm))
    papers = load_all()
    builtin = next(
        c
        for pc in papers.values()
        for c in pc.cases()
        if c.claim.id == claim and model in (c.suffix or model)
    )
    expected = Session(profile="ci", store=Store(), device="cpu").evaluate(builtin)

    info = inspect_model(model_path(model, progress=False))
    register(info)
    (case,) = probe_cases(papers, info.name, [claim])
    probed = ProbeSession(profile="ci", store=Store(), device="cpu", model=info).evaluate(case)

    assert probed["measured"]["samples"] == expected["measured"]["samples"]
    assert probed["null"]["samples"] == expected["null"]["samples"]
    assert (probed["verdict"], probed["stability"]) == (expected["verdict"], expected["stability"])
