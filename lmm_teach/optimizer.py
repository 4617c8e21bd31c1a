r"""Minimizing the profiled deviance over :math:`\theta` (chapter 13, *Fits on the boundary*;
lme4's ``optimizeLmer``).

The deviance is a smooth function of :math:`\theta` with simple bounds: the diagonal of each
:math:`T_i` is at least 0. A bounded, derivative-free optimizer fits the problem; lme4 uses
Powell's BOBYQA, and this package uses its successor COBYQA (Ragonneau & Zhang), which scipy ships.
Because :math:`\theta_i = 0` is allowed, a zero variance is a point the optimizer can reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from lmm_teach._checks import warn_user
from lmm_teach.design import Design
from lmm_teach.pls import profiled_deviance, theta_lower, theta_start

SINGULAR_TOLERANCE = 1e-4   # lme4's isSingular(tol = 1e-4)


class SingularFitWarning(UserWarning):
    """The optimum is on the boundary: some variance is 0, or some correlation is +-1."""


class ConvergenceWarning(UserWarning):
    """The optimizer stopped without reporting convergence."""


@dataclass(frozen=True)
class ThetaOptimum:
    """Where the optimizer stopped, and what it said."""

    theta: np.ndarray
    deviance: float
    converged: bool
    message: str
    n_evaluations: int


def is_singular(theta: np.ndarray, lower: np.ndarray, tol: float = SINGULAR_TOLERANCE) -> bool:
    r"""A fit is singular when a bounded :math:`\theta` (a diagonal entry of some :math:`T_i`) is
    within ``tol`` of 0: :math:`\Lambda_\theta` is then not of full rank. Chapter 13.
    """
    return bool(np.any(theta[lower == 0] < tol))


def boundary_slope(design: Design, reml: bool) -> float:
    r"""One-sided derivative of the profiled deviance in :math:`\tau = \theta^2` at :math:`\theta = 0`.

    For a model with one scalar random term (such as ``(1 | g)``), :math:`\Lambda_\theta = \theta I_q`
    and the deviance depends on :math:`\theta` through :math:`\tau = \theta^2` only. With
    :math:`e` the least-squares residuals of :math:`y` on :math:`X` (equation ``eq-ch13-boundary-slope``):

    .. math::

        \frac{\partial d}{\partial \tau}\Big|_0 = \operatorname{tr}(Z^\top Z)
            - n\,\frac{\lVert Z^\top e\rVert^2}{\lVert e\rVert^2},
        \qquad
        \frac{\partial d_R}{\partial \tau}\Big|_0 = \operatorname{tr}(Z^\top Z)
            - \operatorname{tr}\bigl[(X^\top X)^{-1} X^\top Z Z^\top X\bigr]
            - (n - p)\,\frac{\lVert Z^\top e\rVert^2}{\lVert e\rVert^2}.

    A positive value makes :math:`\theta = 0` a strict local minimum: the fit is singular.
    Chapter 13; checked against finite differences of ``profiled_deviance``.
    """
    if len(design.terms) != 1 or design.terms[0].k != 1:
        raise ValueError("design must have exactly one random term with one column, such as (1 | g); "
                         f"it has terms {[(t.name, t.k) for t in design.terms]}")
    n, p = design.X.shape
    e = design.y - design.X @ np.linalg.lstsq(design.X, design.y, rcond=None)[0]
    if e @ e <= 1e-20 * max(design.y @ design.y, 1.0):   # zero up to rounding
        raise ValueError("y is fitted exactly by X: the residual sum of squares is 0")
    ratio = float(np.sum((design.Z.T @ e) ** 2) / (e @ e))
    ZtX = np.asarray(design.Z.T @ design.X)
    slope = float(design.Z.multiply(design.Z).sum()) - (n - p if reml else n) * ratio
    return slope - float(np.trace(np.linalg.solve(design.X.T @ design.X, ZtX.T @ ZtX))) if reml else slope


def optimize_theta(design: Design, reml: bool) -> ThetaOptimum:
    """Stage 3 of the engine: minimize ``profiled_deviance`` over :math:`\\theta` with COBYQA.

    Starts, as lme4 does, from :math:`T_i = I`. Warns on a singular fit and on no convergence.
    Chapter 13; the optima agree with lme4 1.1-31's to 1e-6 in the deviance on every reference model.
    """
    lower = theta_lower(design.terms)
    bounds = optimize.Bounds(lower, np.full_like(lower, np.inf))
    result = optimize.minimize(profiled_deviance, theta_start(design.terms), args=(design, reml),
                               method="COBYQA", bounds=bounds)
    theta = np.where((lower == 0) & (result.x < 0), 0.0, result.x)   # guard against -0.0 and round-off
    if not result.success:
        warn_user(f"the optimizer did not converge: {result.message}", ConvergenceWarning)
    if is_singular(theta, lower):
        warn_user("boundary (singular) fit: a variance is (near) 0 or a correlation is (near) "
                  "+-1; see chapter 13", SingularFitWarning)
    return ThetaOptimum(theta, float(result.fun), bool(result.success), str(result.message), int(result.nfev))
