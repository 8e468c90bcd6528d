"""Issue 15 small metric notes: neighbour-based dimensions do not depend on a far offset of the cloud."""

from __future__ import annotations

import numpy as np
import pytest

from geomclaims.metrics.intrinsic import local_pca_dimension, mle_dimension, twonn


@pytest.mark.parametrize("fn", [twonn, mle_dimension])
def test_far_offset_does_not_change_neighbour_dimensions(fn) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3)) @ rng.normal(size=(3, 20))
    near, far = fn(x), fn(x + 1e7)
    assert abs(far - near) <= 1e-6 * abs(near), (near, far)


def test_far_offset_local_pca() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2)) @ rng.normal(size=(2, 10))
    assert local_pca_dimension(x + 1e7) == pytest.approx(local_pca_dimension(x), rel=1e-6)
