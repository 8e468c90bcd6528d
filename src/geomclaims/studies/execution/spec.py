"""The study's plugin declaration (entry point `geomclaims.studies` in pyproject.toml).

Declarations only (names, the claims file, the pytest marker): nothing here shapes a measured number, so
`registry.study_code_version` skips this file like report.py.
"""

from geomclaims.plugin import StudySpec

STUDY = StudySpec(
    name="execution",
    module="geomclaims.studies.execution",
    paper_id="execution_manifolds",
    claims="claims/execution_manifolds.yaml",
    aliases=("E",),
    marker_doc="paper E claims",
    blurb="low-dimensional execution manifolds in transformer learning dynamics",
    orientation="geomclaims.studies.execution.orientation",
)
