"""Evidence functions of the signature study (paper P, claims in claims/probability_signature.yaml), one module per
experiment of the paper:

* :mod:`.toy` — ``signature/toy`` (P1-P4, P6, P7, P12: the lin/FFN models on the addition tasks, AdamW; Sec. 5);
* :mod:`.corollary` — Corollary 1 (App. D.3): P12's gradient alignment and ``signature/gd`` (P12-gd: F_lin trained
  by plain full-batch gradient descent);
* :mod:`.exact` — ``signature/signatures`` (P5: exact signature identities, App. B.1);
* :mod:`.language` — ``signature/lm`` (P8-P10, Sec. 6) and ``signature/pretrained`` (P11);
* :mod:`.shared` — run access, member selection and the nulls' init draws, shared by the toy modules.

A toy claim's null is chosen by the claim's ``null.name``:

* ``init``: the same architecture at initialisation (fresh draws from the same init distribution);
* ``anchor_permutation``: Mantel permutation of the anchors (rows and columns together);
* ``shuffled_labels``: the same models trained on the same inputs with labels permuted across samples;
* ``chance`` / ``ffn_same_task`` / ``random_direction``: see the claims file.

Importing this module registers every evidence function; the names below are re-exported for the tests.
"""

from __future__ import annotations

from .corollary import (  # noqa: F401  (registration side effects and re-exports)
    Corollary1Alignment,
    _direction_null,
    _grad_alignment,
    corollary1_alignment,
    corollary1_prediction,
    gd_config,
    gd_evidence,
    gd_run,
    relative_loss_drop,
)
from .exact import DISTINCT, IDENTICAL, exact_task_signatures, signature_evidence  # noqa: F401
from .language import (  # noqa: F401
    LM_PAIRS,
    FrequencyResidual,
    _decile_stat,
    _frequency_permutation_null,
    _lm_cos_pair,
    _pooled_asymmetry,
    lm_evidence,
    lm_runs,
    partial_r_cos_given_frequency,
    pretrained_evidence,
)
from .shared import (  # noqa: F401
    N_ANCHORS,
    ORDER_THRESHOLD,
    _curve_details,
    _label_rows,
    _null_name,
    _permutation_null,
    _unembedding_cos,
    _upper,
    _when,
    dataset_signatures,
    init_anchor_draws,
    learning_preconditions,
    member_signatures,
    null_seed,
    parse_member,
    select,
    snapshot_column,
    toy_cost,
    toy_run,
    toy_seeds,
)
from .toy import (  # noqa: F401
    _accuracy,
    _mean_anchor_cos,
    _order_null,
    _order_time_ratio,
    _r_cos_key,
    _r_cos_unembedding,
    _r_order_final,
    _ring_margin,
    first_crossing,
    ring_margin,
    toy_evidence,
)
