r"""The gradient of the profiled deviance in closed form, for small models (chapter 19,
*Derivatives for small models*).

A model with at most ``SMALL_Q`` random effects is fitted from one dense matrix,
:math:`M_\theta = \tilde\Lambda_\theta^\top G \tilde\Lambda_\theta + \operatorname{diag}(I_q, 0)`,
whose leading blocks have the determinants the deviance is made of:

.. math::

    |M_q| = |L_\theta|^2, \qquad |M_{q+p}| = |L_\theta|^2 |R_X|^2, \qquad
    |M_{q+p+1}| = |L_\theta|^2 |R_X|^2 r^2(\theta),

with :math:`M_s` the leading :math:`s \times s` block. Jacobi's formula differentiates each
logarithm, and the deviance is a weighted sum of them; so the gradient costs a few solves
with the factor the deviance has already made. A derivative-free search needs hundreds of
evaluations where the deviance is a long, narrow valley; a quasi-Newton search with this
gradient needs dozens (``optimizer.run_lbfgs``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg

from lmm_teach.blocked import GramBlocks, _checked_theta, dense_factor
from lmm_teach.pls import deviance_from_parts, theta_size


def log_det_gradient(L_tilde: np.ndarray, Lambda_tilde_t_G: np.ndarray, s: int,
                     gram: GramBlocks) -> np.ndarray:
    r""":math:`\partial \log|M_s| / \partial\theta_i` for the leading :math:`s \times s` block
    of :math:`M_\theta`, whose Cholesky factor is the leading block of ``L_tilde``.

    With :math:`E_i = \partial\tilde\Lambda_\theta/\partial\theta_i`, a 1 at each place
    :math:`(r, c)` of :math:`\theta_i` in :math:`\Lambda_\theta`,
    :math:`\partial M_\theta/\partial\theta_i = E_i^\top G\tilde\Lambda_\theta +
    \tilde\Lambda_\theta^\top G E_i`, and Jacobi's formula gives

    .. math::

        \frac{\partial \log|M_s|}{\partial\theta_i}
        = \operatorname{tr}\Bigl(M_s^{-1} \frac{\partial M_s}{\partial\theta_i}\Bigr)
        = 2 \sum_{(r, c)\ \text{of}\ \theta_i} \bigl[M_s^{-1} (\tilde\Lambda_\theta^\top G)_{s, q}
          \bigr]_{c r},

    where :math:`(\tilde\Lambda_\theta^\top G)_{s, q}` is its first :math:`s` rows and
    :math:`q` columns (every :math:`r` and :math:`c` is below :math:`q`). Chapter 19.
    """
    dense = gram.dense
    # M_s^{-1} (Lambda~' G)_{s,q} by LAPACK's dpotrs with the factor (scipy's cho_solve
    # makes the same call after checks that cost more than the solve at these sizes)
    W, _ = linalg.lapack.dpotrs(L_tilde[:s, :s], Lambda_tilde_t_G[:s, :dense.q], lower=1)
    n_theta = sum(theta_size(term.k) for term in gram.terms)
    return np.bincount(dense.index, weights=2 * W[dense.cols, dense.rows], minlength=n_theta)


def deviance_and_gradient(theta: ArrayLike, gram: GramBlocks, reml: bool
                          ) -> tuple[float, np.ndarray]:
    r"""The profiled deviance (ML) or REML criterion of
    :func:`lmm_teach.blocked.deviance_from_dense` and its gradient in :math:`\theta`, from
    one factor. With :math:`\kappa_s = \log|M_s|` (:func:`log_det_gradient`) and
    :math:`\log r^2 = \kappa_{q+p+1} - \kappa_{q+p}`, up to constants

    .. math::

        d(\theta) = \kappa_q + n\,(\kappa_{q+p+1} - \kappa_{q+p}), \qquad
        d_R(\theta) = \kappa_{q+p} + (n - p)\,(\kappa_{q+p+1} - \kappa_{q+p}),

    so each gradient is the same sum of the :math:`\nabla\kappa_s`. For models with at most
    ``SMALL_Q`` random effects. Chapter 19; tests check it against central differences on
    every reference model.
    """
    theta = _checked_theta(theta, gram.terms)
    Lambda_tilde_t_G, L_tilde = dense_factor(theta, gram)
    diagonal, q = np.diagonal(L_tilde), gram.dense.q
    p, size = diagonal.size - q - 1, diagonal.size
    deviance = deviance_from_parts(2 * float(np.sum(np.log(diagonal[:q]))),
                                   2 * float(np.sum(np.log(diagonal[q:q + p]))),
                                   diagonal[-1] ** 2, gram.n, p, reml, gram.sum_log_w)
    grad_ZXy, grad_ZX = (log_det_gradient(L_tilde, Lambda_tilde_t_G, s, gram)
                         for s in (size, size - 1))        # kappa_{q+p+1}, kappa_{q+p}
    if reml:
        gradient = grad_ZX + (gram.n - p) * (grad_ZXy - grad_ZX)
    else:
        grad_Z = log_det_gradient(L_tilde, Lambda_tilde_t_G, q, gram)   # kappa_q
        gradient = grad_Z + gram.n * (grad_ZXy - grad_ZX)
    return deviance, gradient
