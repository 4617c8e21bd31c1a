r"""Inference for the fixed effects of a fitted model: Wald tests and intervals, and
Satterthwaite's degrees of freedom as lmerTest computes them (Kuznetsova, Brockhoff and
Christensen 2017).

A Wald :math:`t = \hat\beta_j / \operatorname{se}(\hat\beta_j)` treats
:math:`\operatorname{se}` as known, so it is referred to the normal distribution (what
statsmodels reports as ``z``). But the standard error is itself estimated, through the
variance parameters :math:`\gamma = (\theta, \sigma)`, and with few groups that matters.
Satterthwaite's approximation matches the variance of the estimated
:math:`\operatorname{Var}(l^\top\hat\beta)` to that of a scaled :math:`\chi^2_\nu`:

.. math::

    \nu = \frac{2\,\bigl(l^\top C(\hat\gamma)\, l\bigr)^2}
              {g^\top \operatorname{Var}(\hat\gamma)\, g},
    \qquad C(\gamma) = \sigma^2 (R_X^\top R_X)^{-1}, \quad
    g_i = l^\top \frac{\partial C}{\partial\gamma_i}\, l, \quad
    \operatorname{Var}(\hat\gamma) = 2\,\bigl(\nabla^2 d(\hat\gamma)\bigr)^{-1},

with :math:`d(\gamma)` the deviance (REML criterion for a REML fit) at :math:`\gamma`,
:math:`\sigma` not profiled out (:func:`deviance_gamma`). The derivatives are central
differences, as lmerTest takes them with numDeriv. Chapter 15; validated against lmerTest
3.1-3 on five fits (``tests/test_fixed_inference.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import linalg, stats

from lmm_teach.blocked import blocked_factor, log_det_L2_blocked
from lmm_teach.design import Design

GAMMA_STEP = 1e-4    # relative step of the central differences in gamma = (theta, sigma)


def deviance_gamma(gamma: ArrayLike, design: Design, reml: bool) -> float:
    r"""The deviance at :math:`\gamma = (\theta, \sigma)`, with :math:`\beta` profiled out
    (ML) or integrated out (REML) but :math:`\sigma` kept (lmerTest's ``devfun_vp``):

    .. math::

        d(\gamma) = \log|L_\theta|^2 + \frac{r^2(\theta)}{\sigma^2}
            + n\log(2\pi\sigma^2) - \sum_i \log w_i
            \quad \bigl(+ \log|R_X|^2 - p\log(2\pi\sigma^2) \text{ with REML}\bigr).

    At :math:`\sigma^2 = r^2(\theta)/n` (REML: :math:`/(n - p)`) it is the profiled deviance
    of chapter 10. Computed from the fast engine's factor (chapter 19).
    """
    gamma = np.asarray(gamma, dtype=float)
    factor = blocked_factor(gamma[:-1], design.gram)
    p, sigma2, n = factor.R_Xy.shape[0] - 1, gamma[-1] ** 2, design.gram.n
    deviance = (log_det_L2_blocked(factor) + factor.R_Xy[p, p] ** 2 / sigma2
                + n * np.log(2 * np.pi * sigma2) - design.gram.sum_log_w)
    if reml:
        log_det_RX2 = 2 * np.sum(np.log(np.abs(np.diag(factor.R_Xy)[:p])))
        deviance += log_det_RX2 - p * np.log(2 * np.pi * sigma2)
    return float(deviance)


def cov_beta_gamma(gamma: ArrayLike, design: Design) -> np.ndarray:
    r""":math:`C(\gamma) = \operatorname{Var}(\hat\beta) = \sigma^2 (R_X^\top R_X)^{-1}` with
    :math:`R_X` at :math:`\theta`: the covariance of the fixed effects as a function of the
    variance parameters. Chapter 10's ``eq-pls-cov-beta``."""
    gamma = np.asarray(gamma, dtype=float)
    factor = blocked_factor(gamma[:-1], design.gram)
    p = factor.R_Xy.shape[0] - 1
    R_X_inv = linalg.solve_triangular(factor.R_Xy[:p, :p], np.eye(p))
    return gamma[-1] ** 2 * R_X_inv @ R_X_inv.T


def _steps(gamma: np.ndarray) -> np.ndarray:
    """Central-difference steps: GAMMA_STEP relative to each entry, at least GAMMA_STEP."""
    return GAMMA_STEP * np.maximum(np.abs(gamma), 1.0)


def central_hessian(f, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    r"""The Hessian of ``f`` at ``x`` by central differences with steps ``h``: the diagonal
    :math:`[f(x + h_i) - 2f(x) + f(x - h_i)] / h_i^2`, the rest by the four-point formula
    :math:`[f(+,+) - f(+,-) - f(-,+) + f(-,-)] / 4 h_i h_j`."""
    E, center = np.diag(h), f(x)
    hessian = np.empty((x.size, x.size))
    for i in range(x.size):
        hessian[i, i] = (f(x + E[i]) - 2 * center + f(x - E[i])) / h[i] ** 2
        for j in range(i):
            corners = [f(x + si * E[i] + sj * E[j]) for si, sj in
                       [(1, 1), (1, -1), (-1, 1), (-1, -1)]]
            hessian[i, j] = hessian[j, i] = ((corners[0] - corners[1] - corners[2]
                                              + corners[3]) / (4 * h[i] * h[j]))
    return hessian


def hessian_gamma(gamma: ArrayLike, design: Design, reml: bool) -> np.ndarray:
    r""":math:`\nabla^2 d(\gamma)` by central differences (:func:`central_hessian`)."""
    gamma = np.asarray(gamma, dtype=float)
    return central_hessian(lambda point: deviance_gamma(point, design, reml), gamma,
                           _steps(gamma))


def cov_gamma(gamma: ArrayLike, design: Design, reml: bool) -> np.ndarray:
    r""":math:`\operatorname{Var}(\hat\gamma) \approx 2\,(\nabla^2 d)^{-1}`: the deviance is
    :math:`-2` log-likelihood, so its Hessian is twice the observed information. A
    ValueError where the Hessian is singular (a parameter the data do not determine)."""
    try:
        return 2 * np.linalg.inv(hessian_gamma(gamma, design, reml))
    except np.linalg.LinAlgError:
        raise ValueError("the Hessian of the deviance in (theta, sigma) is singular: some "
                         "variance parameter is not determined by the data, and "
                         "Satterthwaite's degrees of freedom are undefined") from None


def cov_beta_jacobian(gamma: ArrayLike, design: Design) -> np.ndarray:
    r""":math:`\partial C/\partial\gamma_i` for every :math:`i`, by central differences:
    shape :math:`(\dim\gamma, p, p)`."""
    gamma = np.asarray(gamma, dtype=float)
    h = _steps(gamma)
    return np.array([(cov_beta_gamma(gamma + step, design) - cov_beta_gamma(gamma - step, design))
                     / (2 * h_i) for step, h_i in zip(np.diag(h), h)])


def satterthwaite_df(contrast: ArrayLike, C: np.ndarray, jacobian: np.ndarray,
                     V_gamma: np.ndarray) -> float:
    r"""Satterthwaite's :math:`\nu` for :math:`l^\top\beta` (``contrast`` is :math:`l`), from
    :math:`C(\hat\gamma)`, :math:`\partial C/\partial\gamma` and
    :math:`\operatorname{Var}(\hat\gamma)`: :math:`\nu = 2 (l^\top C l)^2 / g^\top
    \operatorname{Var}(\hat\gamma)\, g` with :math:`g_i = l^\top (\partial C/\partial\gamma_i)
    l`."""
    l = np.asarray(contrast, dtype=float)
    g = np.einsum("a,iab,b->i", l, jacobian, l)
    return float(2 * (l @ C @ l) ** 2 / (g @ V_gamma @ g))


DDF_METHODS = ("wald", "satterthwaite")


def coef_table(fit, ddf: str = "wald") -> pd.DataFrame:
    r"""The fixed effects with ``estimate, se, df, t, p``, indexed like ``fit.beta``.

    ``ddf="wald"``: df infinite and :math:`p = 2\Phi(-|t|)`, the normal reference
    (statsmodels' ``z``). ``ddf="satterthwaite"``: :math:`\nu` of :func:`satterthwaite_df` for
    each coefficient and :math:`p = 2 P(t_\nu > |t|)`, as lmerTest's ``summary``. A ValueError
    names an unknown method.
    """
    if ddf not in DDF_METHODS:
        raise ValueError(f"ddf must be one of {list(DDF_METHODS)}, not {ddf!r}")
    estimate, se = fit.beta_values, np.sqrt(np.diag(fit.cov_beta_values))
    t = estimate / se
    if ddf == "wald":
        df = np.full(t.size, np.inf)
        p = 2 * stats.norm.sf(np.abs(t))
    else:
        df = satterthwaite_dfs(fit)
        p = 2 * stats.t.sf(np.abs(t), df)
    return pd.DataFrame({"estimate": estimate, "se": se, "df": df, "t": t, "p": p},
                        index=list(fit.fixed_names))


def satterthwaite_dfs(fit) -> np.ndarray:
    """Satterthwaite's df for each fixed effect of ``fit`` (each :math:`l` a unit vector)."""
    gamma = np.append(fit.theta, fit.sigma)
    C = cov_beta_gamma(gamma, fit.design)
    jacobian = cov_beta_jacobian(gamma, fit.design)
    V_gamma = cov_gamma(gamma, fit.design, fit.reml)
    return np.array([satterthwaite_df(l, C, jacobian, V_gamma) for l in np.eye(C.shape[0])])

