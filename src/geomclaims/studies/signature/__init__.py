"""Study of paper P (probability signatures): addition tasks, signatures, lin/FFN models, tiny LMs, a pretrained
tied-embedding model. Importing this package registers the study's profiles, evidence functions and report section.
"""

from . import experiment, profiles, report  # noqa: F401  (registration side effects)

# Code outside this folder that shapes the results (registry.study_code_version hashes it): the LM corpora (P8-P11)
# and the pretrained model's loading.
CODE_DEPENDENCIES = (
    "geomclaims.resources.lm_corpora",
    "geomclaims.resources.local",
    "geomclaims.resources.models",
)
