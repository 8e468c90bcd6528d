"""The study's plugin declaration (entry point `geomclaims.studies` in pyproject.toml).

Declarations only (names, the claims file, the pytest marker): nothing here shapes a measured number, so
`registry.study_code_version` skips this file like report.py.
"""

from geomclaims.plugin import ProbeSpec, StudySpec

STUDY = StudySpec(
    name="stratified",
    module="geomclaims.studies.stratified",
    paper_id="stratified_manifolds",
    claims="claims/stratified_manifolds.yaml",
    orientation="geomclaims.studies.stratified.orientation",
    aliases=("S",),
    marker_doc="paper S claims",
    blurb="stratified manifolds with a dictionary mixture of experts",
    # geomclaims probe: the per-model strata claims (S3-S5, S8, S10 and their released-code readings) read one
    # model's embeddings of the corpus; the model-size pairs and the synthetic line/disk/ball runs do not apply.
    probe=ProbeSpec(
        experiments=("stratified/strata",),
        model_param="model",
        model_settings=("models", "padding_models"),
        corpus_settings=("data",),
        texts_per_source="n_per_source",
        source_metrics=("nmi", "ari"),
    ),
)
