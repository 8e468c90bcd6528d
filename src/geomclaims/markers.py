"""The pytest markers a claim may carry (``markers: [...]`` in a claims file), defined once.

``pytest_plugin.pytest_configure`` registers exactly these plus each study's marker (its
:class:`~geomclaims.plugin.StudySpec`), and ``claims.load_claims`` rejects any other name, so a
typo fails when the claims file loads (naming the claim) instead of at pytest collection under --strict-markers.
"""

from __future__ import annotations

CLAIM_MARKERS: dict[str, str] = {
    "slow": "long-running (trains models or loads large weights)",
    "gpu": "needs a CUDA device",
    "resources": "needs fetched real models or corpora (skips with a reason when offline)",
}


def known_markers() -> dict[str, str]:
    """Markers a claim may carry: the generic ones above plus each study's own (its spec's ``marker``)."""
    from geomclaims.plugin import study_markers

    return {**CLAIM_MARKERS, **study_markers()}
