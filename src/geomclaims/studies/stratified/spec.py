"""The study's plugin declaration (entry point `geomclaims.studies` in pyproject.toml).

Declarations only (names, the claims file, the pytest marker): nothing here shapes a measured number, so
`registry.study_code_version` skips this file like report.py.
"""

from geomclaims.plugin import StudySpec

STUDY = StudySpec(
    name="stratified",
    module="geomclaims.studies.stratified",
    paper_id="stratified_manifolds",
    claims="claims/stratified_manifolds.yaml",
    aliases=("S",),
    marker_doc="paper S claims",
    blurb="stratified manifolds with a dictionary mixture of experts",
)
