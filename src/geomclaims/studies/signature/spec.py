"""The study's plugin declaration (entry point `geomclaims.studies` in pyproject.toml).

Declarations only (names, the claims file, the pytest marker): nothing here shapes a measured number, so
`registry.study_code_version` skips this file like report.py.
"""

from geomclaims.plugin import ProbeSpec, StudySpec
from geomclaims.resources.sources import LM_CORPUS_NAMES

STUDY = StudySpec(
    name="signature",
    module="geomclaims.studies.signature",
    paper_id="probability_signature",
    claims="claims/probability_signature.yaml",
    aliases=("P",),
    marker_doc="paper P claims",
    blurb="probability signatures",
    orientation="geomclaims.studies.signature.orientation",
    # geomclaims probe: P11 reads a pretrained tied-embedding LM's embedding rows against the corpus's signatures.
    probe=ProbeSpec(
        experiments=("signature/pretrained",),
        model_settings=("pretrained.model",),
        corpus_settings=("pretrained.corpora",),
        corpus_names=LM_CORPUS_NAMES,  # --corpus NAME: P11 on one of the suite's LM corpora
        needs={"signature/pretrained": ("decoder", "tied_embeddings")},
    ),
)
