"""The study's plugin declaration (entry point `geomclaims.studies` in pyproject.toml).

Declarations only (names, the claims file, the pytest marker): nothing here shapes a measured number, so
`registry.study_code_version` skips this file like report.py.
"""

from geomclaims.plugin import StudySpec

STUDY = StudySpec(
    name="signature",
    module="geomclaims.studies.signature",
    paper_id="probability_signature",
    claims="claims/probability_signature.yaml",
    aliases=("P",),
    marker_doc="paper P claims",
    blurb="probability signatures",
)
