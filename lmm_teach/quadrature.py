r"""The marginal likelihood of a GLMM: Laplace and adaptive Gauss-Hermite quadrature (chapter 21,
*Laplace and adaptive Gauss-Hermite quadrature*).

The likelihood integrates the random effects out,

.. math::

    L(\theta, \beta) = \int p(y \mid u)\, \varphi_q(u)\, du,

where :math:`\varphi_q` is the standard normal density of :math:`u`. Chapter 4 expanded the log of
the integrand to second order around its mode :math:`\hat u`; for a linear mixed model that is
exact, for a GLMM it is the Laplace approximation (``eq-ch21-laplace``):

.. math::

    -2 \log L \approx -2\log p(y \mid \hat u) + \hat u^\top \hat u + \log|L_\theta|^2 .

With one scalar random effect per group the integral is a product of one-dimensional integrals,
one per group, and adaptive Gauss-Hermite quadrature evaluates each at :math:`Q` nodes placed
around the group's mode and scaled by its conditional standard deviation
(``eq-ch21-agq``); :math:`Q = 1` is the Laplace approximation again.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import hermite_e
from scipy import special

from lmm_teach.design import Design
from lmm_teach.families import Family
from lmm_teach.pirls import PirlsSolution


def laplace_deviance(fam: Family, design: Design, solution: PirlsSolution) -> float:
    r"""The Laplace approximation of :math:`-2\log L(\theta, \beta)` at the conditional
    modes ``solution`` (``eq-ch21-laplace``): :math:`-2\log p(y \mid \hat u) + \hat u^\top
    \hat u + \log|L_\theta|^2`. Chapter 21; lme4's ``glmer(nAGQ = 1)`` objective, validated
    against lme4 1.1-31 on cbpp."""
    log_p = np.sum(fam.log_density(design.y, solution.mu, design.weights))
    return float(-2 * log_p + solution.u @ solution.u + solution.log_det_L2)


def gauss_hermite_rule(nagq: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes :math:`\xi_k` and weights :math:`\alpha_k` with :math:`\sum_k \alpha_k f(\xi_k)
    \approx \int f(\xi)\, \varphi(\xi)\, d\xi`, exact for polynomials of degree up to
    :math:`2Q - 1` (the probabilists' Hermite rule; the weights sum to 1). Chapter 21."""
    xi, weights = hermite_e.hermegauss(nagq)
    return xi, weights / np.sqrt(2 * np.pi)


def single_scalar_term(design: Design) -> bool:
    """Whether the model has one random term with one column, the case in which the
    integral over :math:`u` splits into one-dimensional integrals, one per group. Chapter 21."""
    return len(design.terms) == 1 and design.terms[0].k == 1


def group_log_densities(fam: Family, design: Design, theta: float, offset: np.ndarray,
                        u_nodes: np.ndarray) -> np.ndarray:
    r""":math:`\log p(y_j \mid u_j)`, summed over the rows of each group :math:`j`, at every
    node: ``u_nodes`` is :math:`(J, Q)`, and so is the result. For a single scalar term,
    :math:`\eta_r = o_r + \theta\, x_r u_{g_r}` with :math:`o = X\beta`. Chapter 21."""
    term = design.terms[0]
    eta = offset[:, None] + theta * term.X_i[:, :1] * u_nodes[term.codes]
    log_p = fam.log_density(design.y[:, None], fam.linkinv(eta), design.weights[:, None])
    J = len(term.levels)
    return np.stack([np.bincount(term.codes, weights=column, minlength=J)
                     for column in log_p.T], axis=1)


def agq_deviance(fam: Family, design: Design, theta: float, beta: np.ndarray,
                 solution: PirlsSolution, nagq: int) -> float:
    r""":math:`-2\log L(\theta, \beta)` by adaptive Gauss-Hermite quadrature with ``nagq``
    nodes per group (``eq-ch21-agq``), for a model with a single scalar random term. Each
    group's integral is taken in :math:`\xi = L_j (u - \hat u_j)`, with :math:`L_j` the group's
    diagonal entry of :math:`L_\theta`, so that the nodes sit where the integrand is:

    .. math::

        \log \int h_j(u)\, du \approx -\log L_j + \log \sum_k \alpha_k
            \exp\left\{\log p(y_j \mid u_{jk}) - \tfrac12 u_{jk}^2 + \tfrac12 \xi_k^2\right\}
            - \tfrac12 \log 2\pi,
        \qquad u_{jk} = \hat u_j + \xi_k / L_j .

    ``nagq = 1`` gives :func:`laplace_deviance`. Chapter 21; validated against R's
    ``integrate`` on cbpp and lme4's ``glmer(nAGQ = 25)``.
    """
    xi, alpha = gauss_hermite_rule(nagq)
    L_j = solution.L_diagonal
    u_nodes = solution.u[:, None] + xi[None, :] / L_j[:, None]
    log_p = group_log_densities(fam, design, theta, design.X @ beta, u_nodes)
    terms = log_p - u_nodes**2 / 2 + xi**2 / 2 + np.log(alpha)
    log_L = -np.log(L_j) + special.logsumexp(terms, axis=1)
    return float(-2 * np.sum(log_L))


def saturated_log_likelihood(fam: Family, y: np.ndarray, N: np.ndarray) -> float:
    r""":math:`\sum_i \log p(y_i \mid \mu_i = y_i)`, the log-likelihood of the saturated
    model. lme4 drops it from the log-likelihood it prints for ``nAGQ > 1`` (it sums deviance
    residuals there), which is why its ``logLik`` jumps between ``nAGQ = 1`` and
    ``nAGQ = 2``. Chapter 21."""
    return float(np.sum(fam.log_density(y, np.clip(y, 1e-300, None), N)))
