"""Chapter 8: the source post's mistakes do what the errata page says they do."""

import numpy as np

from lmm_teach.errata import det_log_likelihood, post_p_value
from lmm_teach.inference import two_sided_p_value
from lmm_teach.ml import fit_ml, profile_log_likelihood


def test_post_p_value_exceeds_one_for_a_negative_estimate():
    np.testing.assert_allclose(post_p_value(-2.0, 1.0), [1.9544997361036416])
    np.testing.assert_allclose(post_p_value(2.0, 1.0), two_sided_p_value(2.0))


def test_det_version_agrees_where_det_does_not_overflow(rail):
    phi = np.log([511.86, 16.17])
    np.testing.assert_allclose(det_log_likelihood(phi, rail.X, rail.Z, rail.y),
                               profile_log_likelihood(phi, rail.X, rail.Z, rail.y), rtol=1e-10)


def test_det_version_overflows_on_sleepstudy(sleep):
    fit = fit_ml(sleep.X, sleep.Z, sleep.y)
    assert det_log_likelihood(fit.phi, sleep.X, sleep.Z, sleep.y) == -np.inf
    assert np.isfinite(fit.loglik)
