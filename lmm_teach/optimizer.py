r"""Minimizing the profiled deviance over :math:`\theta` (chapter 13, *Fits on the boundary*;
lme4's ``optimizeLmer`` and ``checkConv``).

The deviance is a smooth function of :math:`\theta` with simple bounds: the diagonal of each
:math:`T_i` is at least 0. A bounded, derivative-free optimizer fits the problem. lme4 uses
Powell's BOBYQA through NLopt, and so does ``optimize_theta`` by default (``optimizer="bobyqa"``,
stopping on lme4's ``xtol_abs`` and ``ftol_abs``); ``optimizer="cobyqa"`` runs
COBYQA (Ragonneau & Zhang), which scipy ships: Powell's methods carried on, with quadratic
models like BOBYQA's, but written in Python, so on a small model each of its steps costs more
than an evaluation of the deviance.
Because :math:`\theta_i = 0` is allowed, a zero variance is a point the optimizer can reach.

One run of any local optimizer can stop at a corner of the boundary that is not a minimum: a
zero on the diagonal of :math:`T_i` with a nonzero column below it. Flipping the sign of that
column leaves :math:`T_i T_i^\top`, and so the model, unchanged, but it turns a slope that points
into the bound into one that points away from it. ``optimize_theta`` therefore restarts from
those mirror images, and checks the gradient at the end, as lme4's ``checkConv`` does
(chapter 13, *Why the optimizer restarts*).

Where the search begins matters as much as how it stops: from lme4's :math:`T_i = I`, a
factor with few levels, along which the deviance is flat, can cost most of the evaluations.
``optimize_theta`` begins at :math:`T_i = I` or at the fits of each term alone, whichever has
the lower deviance (chapter 19, *A better start*).

On a model with at most 64 random effects, the fast engine has the gradient of the deviance
in closed form (:mod:`lmm_teach.gradient`), and ``optimize_theta`` then runs a quasi-Newton
search, L-BFGS, instead of BOBYQA (``optimizer="lbfgs"``, the default there): where the
deviance is a long, narrow valley, it needs dozens of evaluations where BOBYQA needs hundreds
(chapter 19, *Derivatives for small models*).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import nlopt
import numpy as np
from scipy import linalg, optimize

from lmm_teach._checks import warn_user
from lmm_teach.blocked import SMALL_Q, blocked_deviance, deviance_from_gram, term_gram
from lmm_teach.design import Design, TermDesign
from lmm_teach.gradient import deviance_and_gradient
from lmm_teach.pls import profiled_deviance, theta_lower, theta_slices, theta_start

ENGINES: dict[str, Callable[[np.ndarray, Design, bool], float]] = {
    "fast": blocked_deviance,        # chapter 19: blocks of [Z X y]'[Z X y], made once
    "readable": profiled_deviance,   # chapter 10: the dense q x q factor at every theta
}

SINGULAR_TOLERANCE = 1e-4    # lme4's isSingular(tol = 1e-4)
GRADIENT_TOLERANCE = 2e-3    # lme4's lmerControl(check.conv.grad = .makeCC(tol = 2e-3))
GRADIENT_STEP = 1e-6         # central differences: error ~ step^2 |d'''| / 6 + eps |d| / step
HESSIAN_STEP = 1e-4          # lme4's deriv12(delta = 1e-4): second differences need a wider step
SEARCH_RADII = (1.0, 1e-6)   # COBYQA's first and last trust-region radius (scipy's defaults)
POLISH_RADII = (1e-3, 1e-8)  # a restart from where the gradient check failed: a closer look
BOBYQA_TOLERANCE = 1e-8      # lme4's nloptwrap xtol_abs: steps in theta below this stop BOBYQA
BOBYQA_FTOL = 1e-8           # lme4's ftol_abs: so do changes of the deviance below this
SEPARATE_TOLERANCE = 1e-2    # the fits of each term alone, for a start, need about two digits
SEPARATE_MIN_COLUMNS = 100   # ... and pay when the later terms' dense block has this many columns
SEPARATE_STEP = 0.05         # from the separate start, which is near, BOBYQA's first steps
POLISH_STEP = 1e-3           # BOBYQA's first step when it restarts for a closer look
IMPROVEMENT = 1e-8           # a restart must lower the deviance by more than this
MAX_RESTART_ROUNDS = 3
LBFGS_FTOL = 1e-12           # L-BFGS stops when a step lowers the deviance by a relative 1e-12
LBFGS_GTOL = 1e-5            # ... or every |gradient| is below this (chapter 19)


class SingularFitWarning(UserWarning):
    """The optimum is on the boundary: some variance is 0, or some correlation is +-1."""


class ConvergenceWarning(UserWarning):
    """The optimizer stopped without reporting convergence."""


@dataclass(frozen=True)
class ThetaOptimum:
    """Where the optimizer stopped, the gradients there, and whether the final check passed."""

    theta: np.ndarray
    deviance: float
    converged: bool
    message: str
    n_evaluations: int
    gradient: np.ndarray                 # central differences, h = 1e-6
    scaled_gradient: np.ndarray | None   # U^-1 g, with U'U the Hessian (None: not needed, or
                                         # the Hessian is not positive definite)
    start: np.ndarray | None = None      # where the search began
    n_start_evaluations: int = 0         # cheap evaluations spent finding it (separate_start)


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


def deviance_function(engine: str) -> Callable[[np.ndarray, Design, bool], float]:
    """The profiled deviance of one engine: ``"fast"`` (chapter 19, the default) or
    ``"readable"`` (chapter 10). Both take ``(theta, design, reml)`` and agree to 1e-8."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {sorted(ENGINES)}, not {engine!r}")
    return ENGINES[engine]


def run_cobyqa(design: Design, reml: bool, start: np.ndarray, max_evaluations: int | None = None,
               radii: tuple[float, float] = SEARCH_RADII, engine: str = "fast"
               ) -> optimize.OptimizeResult:
    r"""One run of COBYQA on ``profiled_deviance`` from ``start``, within the bounds of
    :func:`~lmm_teach.pls.theta_lower`. Its trust region starts at radius ``radii[0]``; it stops
    when the radius has shrunk to ``radii[1]``, or after ``max_evaluations`` evaluations.
    Chapter 13.
    """
    lower = theta_lower(design.terms)
    options = {"initial_tr_radius": radii[0], "final_tr_radius": radii[1]}
    if max_evaluations is not None:
        options["maxfev"] = max_evaluations
    return optimize.minimize(deviance_function(engine), np.maximum(start, lower),
                             args=(design, reml),
                             method="COBYQA", bounds=optimize.Bounds(lower, np.inf),
                             options=options)


class _BestPoint:
    """The deviance as NLopt calls it, remembering the lowest point seen and the count."""

    def __init__(self, deviance: Callable[[np.ndarray], float]) -> None:
        self.deviance = deviance
        self.x, self.fun, self.nfev = None, np.inf, 0

    def __call__(self, theta: np.ndarray, gradient: np.ndarray) -> float:
        value = self.deviance(theta)               # gradient unused: derivative-free
        self.nfev += 1
        if value < self.fun:
            self.x, self.fun = theta.copy(), value
        return value


def minimize_bobyqa(deviance: Callable[[np.ndarray], float], start: np.ndarray,
                    lower: np.ndarray, xtol: float, ftol: float | None = None,
                    initial_step: float | None = None, max_evaluations: int | None = None
                    ) -> optimize.OptimizeResult:
    r"""Powell's BOBYQA (NLopt) on ``deviance`` from ``start``, with lower bounds ``lower``.
    It stops when its steps are below ``xtol``, or (with ``ftol``) the deviance changes by less
    than ``ftol``, or after ``max_evaluations``. ``initial_step`` is the size of its first steps
    (None: NLopt's choice, as in lme4). Returns scipy's ``OptimizeResult`` (``x``, ``fun``,
    ``nfev``, ``success``, ``message``), as :func:`run_cobyqa` does. Chapter 13.
    """
    best = _BestPoint(deviance)
    opt = nlopt.opt(nlopt.LN_BOBYQA, start.size)
    opt.set_lower_bounds(lower)
    opt.set_min_objective(best)
    opt.set_xtol_abs(xtol)
    opt.set_maxeval(max_evaluations if max_evaluations is not None else 100_000)
    if ftol is not None:
        opt.set_ftol_abs(ftol)
    if initial_step is not None:
        opt.set_initial_step(initial_step)
    try:
        opt.optimize(np.maximum(start, lower))
        code = opt.last_optimize_result()
    except nlopt.RoundoffLimited:          # stopped by rounding: the best point is still good
        code = nlopt.SUCCESS
    success = code in (nlopt.SUCCESS, nlopt.FTOL_REACHED, nlopt.XTOL_REACHED)
    return optimize.OptimizeResult(x=best.x, fun=best.fun, nfev=best.nfev, success=success,
                                   message=f"NLopt BOBYQA stopped with code {code}")


def run_bobyqa(design: Design, reml: bool, start: np.ndarray, max_evaluations: int | None = None,
               initial_step: float | None = None, engine: str = "fast", polish: bool = False
               ) -> optimize.OptimizeResult:
    r""":func:`minimize_bobyqa` on the profiled deviance, within the bounds of
    :func:`~lmm_teach.pls.theta_lower`, with lme4's stopping rules: its steps in
    :math:`\theta` are below :math:`10^{-8}` (``xtol_abs``) or the deviance changes by less
    than :math:`10^{-8}` between steps (``ftol_abs``). ``initial_step`` is the size of the
    first steps (None: NLopt's choice, as in lme4). A ``polish`` run is a closer look from
    where the gradient check failed, and stops on the steps alone. Chapter 13.
    """
    deviance = deviance_function(engine)
    return minimize_bobyqa(lambda theta: deviance(theta, design, reml), start,
                           theta_lower(design.terms), BOBYQA_TOLERANCE,
                           None if polish else BOBYQA_FTOL, initial_step, max_evaluations)


def separate_start(design: Design, reml: bool) -> tuple[np.ndarray, int]:
    r"""Each term fitted alone, with the same :math:`X`, from lme4's :math:`T_i = I` to
    about :math:`10^{-2}` (``SEPARATE_TOLERANCE``); the thetas side by side. A term alone has a
    block-diagonal :math:`L`, so its fit costs a fraction of one evaluation of the whole model's
    deviance (:func:`lmm_teach.blocked.term_gram`). Alone, a term takes up some of the others'
    variance, so this is a start, not an estimate. Returns it and the number of (cheap)
    evaluations spent. Chapter 19.
    """
    gram, pieces, evaluations = design.gram, [], 0
    for i, term in enumerate(gram.terms):
        alone = term_gram(gram, i)
        run = minimize_bobyqa(lambda theta: deviance_from_gram(theta, alone, reml),
                              theta_start((term,)), theta_lower((term,)), SEPARATE_TOLERANCE,
                              SEPARATE_TOLERANCE)
        pieces.append(run.x)
        evaluations += int(run.nfev)
    return np.concatenate(pieces), evaluations


LOCAL_OPTIMIZERS = ("bobyqa", "cobyqa", "lbfgs")


def choose_optimizer(optimizer: str | None, design: Design, engine: str) -> str:
    """The local optimizer: ``optimizer`` if given, else ``"lbfgs"`` where the analytic
    gradient is at hand (the fast engine on a model with at most ``SMALL_Q`` random effects)
    and ``"bobyqa"`` elsewhere. A ValueError for an unknown name, or for ``"lbfgs"`` without
    the gradient. Chapters 13 and 15."""
    gradient = engine == "fast" and design.gram.dense is not None
    if optimizer is None:
        return "lbfgs" if gradient else "bobyqa"
    if optimizer not in LOCAL_OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(LOCAL_OPTIMIZERS)}, not {optimizer!r}")
    if optimizer == "lbfgs" and not gradient:
        raise ValueError("optimizer='lbfgs' needs the analytic gradient: engine='fast' and "
                         f"at most {SMALL_Q} random effects")
    return optimizer


def run_local(optimizer: str, design: Design, reml: bool, start: np.ndarray,
              max_evaluations: int | None, polish: bool, engine: str,
              first_step: float | None = None) -> optimize.OptimizeResult:
    """One run of the chosen local optimizer: a search from ``start`` (its first steps of size
    ``first_step``; None: the optimizer's default), or, with ``polish``, a closer look with
    small first steps. Chapter 13."""
    if optimizer == "lbfgs":
        return run_lbfgs(design, reml, start, max_evaluations)
    if optimizer == "cobyqa":
        radii = POLISH_RADII if polish else (first_step or SEARCH_RADII[0], SEARCH_RADII[1])
        return run_cobyqa(design, reml, start, max_evaluations, radii, engine)
    step = POLISH_STEP if polish else first_step
    return run_bobyqa(design, reml, start, max_evaluations, step, engine, polish)


def theta_columns(terms: tuple[TermDesign, ...]) -> list[slice]:
    r"""Where each column of each :math:`T_i` sits in :math:`\theta`: its diagonal entry first,
    then the entries beneath it (column :math:`j` of a :math:`k \times k` term holds
    :math:`k - j`). Chapter 13."""
    columns = []
    for term, piece in zip(terms, theta_slices(terms)):
        start = piece.start
        for j in range(term.k):
            columns.append(slice(start, start + term.k - j))
            start += term.k - j
    return columns


def column_flips(theta: np.ndarray, terms: tuple[TermDesign, ...],
                 tol: float = SINGULAR_TOLERANCE) -> list[np.ndarray]:
    r"""Mirror images of :math:`\theta` across each zero on the diagonal of a :math:`T_i`.

    Changing the sign of column :math:`j` of :math:`T_i` leaves :math:`T_i T_i^\top`, hence the
    deviance, unchanged, but makes the diagonal entry :math:`-\theta_{jj}`; only when
    :math:`\theta_{jj} = 0` is the mirror image inside the bounds. For each diagonal entry below
    ``tol`` with a nonzero column beneath it, return :math:`\theta` with that entry set to 0 and
    the entries beneath it negated. Chapter 13, *Why the optimizer restarts*.
    """
    flips = []
    for column in theta_columns(terms):
        diagonal, beneath = column.start, slice(column.start + 1, column.stop)
        if theta[diagonal] < tol and np.any(theta[beneath] != 0):
            mirror = theta.copy()
            mirror[diagonal], mirror[beneath] = 0.0, -theta[beneath]
            flips.append(mirror)
    return flips


def canonical_signs(theta: np.ndarray, terms: tuple[TermDesign, ...]) -> np.ndarray:
    r""":math:`\theta` with every column of every :math:`T_i` whose diagonal entry is negative
    changed in sign: the same :math:`T_i T_i^\top`, the same model, now within the bounds.
    Chapter 19."""
    theta = np.array(theta, dtype=float)
    for column in theta_columns(terms):
        if theta[column.start] < 0:
            theta[column] = -theta[column]
    return theta


def zero_column_exits(theta: np.ndarray, terms: tuple[TermDesign, ...],
                      tol: float = SINGULAR_TOLERANCE) -> list[np.ndarray]:
    r"""For each column of a :math:`T_i` that is zero (every entry below ``tol``),
    :math:`\theta` with that column's diagonal entry set to ``POLISH_STEP``. The deviance
    does not change when the column changes sign, so its gradient in the column is 0 there,
    whether or not the point is a minimum: a gradient search that lands on it stops. One
    step off tells which it is. Chapter 19."""
    exits = []
    for column in theta_columns(terms):
        if np.all(np.abs(theta[column]) < tol):
            step = theta.copy()
            step[column.start] = POLISH_STEP
            exits.append(step)
    return exits


def run_lbfgs(design: Design, reml: bool, start: np.ndarray, max_evaluations: int | None = None
              ) -> optimize.OptimizeResult:
    r"""L-BFGS (scipy's L-BFGS-B, with no bounds) on the profiled deviance and its gradient
    (:func:`lmm_teach.gradient.deviance_and_gradient`), for models with at most ``SMALL_Q``
    random effects. It searches all of :math:`\theta`'s space: a column of :math:`T_i` with
    its sign changed is the same model, so the bounds are not needed, and the result comes
    back with a nonnegative diagonal (:func:`canonical_signs`). It stops when a step lowers
    the deviance by less than a relative ``LBFGS_FTOL`` or every :math:`|g_i|` is below
    ``LBFGS_GTOL``; where it stops on a zero column, it tries one step off
    (:func:`zero_column_exits`) and goes on from there if that is lower. Chapter 19.
    """
    deviance = lambda theta: deviance_and_gradient(theta, design.gram, reml)
    options = {"ftol": LBFGS_FTOL, "gtol": LBFGS_GTOL}
    if max_evaluations is not None:
        options["maxfun"] = max_evaluations
    nfev = 0
    for _ in range(MAX_RESTART_ROUNDS):
        run = optimize.minimize(deviance, start, jac=True, method="L-BFGS-B", options=options)
        theta, nfev = canonical_signs(run.x, design.terms), nfev + int(run.nfev)
        exits = [(deviance(exit)[0], exit) for exit in zero_column_exits(theta, design.terms)]
        nfev += len(exits)
        lower = [(value, exit) for value, exit in exits if value < run.fun]
        if not lower:
            break
        start = min(lower, key=lambda pair: pair[0])[1]
    return optimize.OptimizeResult(x=theta, fun=float(run.fun), nfev=nfev,
                                   success=run.status != 1,       # 1: out of evaluations
                                   message=f"L-BFGS-B: {run.message}")


def deviance_gradient(theta: np.ndarray, design: Design, reml: bool,
                      step: float = GRADIENT_STEP, engine: str = "fast") -> np.ndarray:
    r"""Central finite differences of the profiled deviance,
    :math:`g_i = [d(\theta + h e_i) - d(\theta - h e_i)] / 2h`.

    A step below a zero diagonal entry leaves the bounds, but the deviance there is that of the
    column-flipped :math:`\theta` (:func:`column_flips`), a model inside them; so the two-sided
    difference is the right one, and at an optimum every :math:`g_i` is near 0, bounded entries
    included. lme4's ``checkConv`` uses the same central differences. Chapter 13.
    """
    deviance, steps = deviance_function(engine), step * np.eye(theta.size)
    return np.array([(deviance(theta + e, design, reml) - deviance(theta - e, design, reml))
                     / (2 * step) for e in steps])


def deviance_hessian(theta: np.ndarray, design: Design, reml: bool, value: float,
                     step: float = HESSIAN_STEP, engine: str = "fast") -> np.ndarray:
    r"""The Hessian of the profiled deviance by second differences with step :math:`h`
    (``value`` is :math:`d(\theta)`; :math:`d_i^+ = d(\theta + h e_i)`):

    .. math::

        (\nabla^2 d)_{ii} = \frac{d_i^+ - 2 d(\theta) + d(\theta - h e_i)}{h^2}, \qquad
        (\nabla^2 d)_{ij} = \frac{d(\theta + h e_i + h e_j) - d_i^+ - d_j^+ + d(\theta)}{h^2}.

    lme4's ``deriv12`` uses the same step and a central four-point form off the diagonal;
    the forward one here costs :math:`p(p-1)/2` evaluations instead of :math:`2p(p-1)`, and
    the check needs only the scale of :math:`\nabla^2 d`. Steps below a zero diagonal entry
    are fine, as in :func:`deviance_gradient`. Chapter 13.
    """
    deviance, steps = deviance_function(engine), step * np.eye(theta.size)
    up = np.array([deviance(theta + e, design, reml) for e in steps])
    down = np.array([deviance(theta - e, design, reml) for e in steps])
    hessian = np.diag((up - 2 * value + down) / step**2)
    for i, j in zip(*np.tril_indices(theta.size, -1)):
        corner = deviance(theta + steps[i] + steps[j], design, reml)
        hessian[i, j] = hessian[j, i] = (corner - up[i] - up[j] + value) / step**2
    return hessian


def hessian_evaluations(p: int) -> int:
    """How many deviance evaluations :func:`deviance_hessian` makes for ``p`` thetas."""
    return 2 * p + p * (p - 1) // 2


def scaled_gradient(gradient: np.ndarray, hessian: np.ndarray) -> np.ndarray | None:
    r"""lme4's scaled gradient :math:`U^{-1} g`, with :math:`\nabla^2 d = U^\top U` the Hessian
    and :math:`U` upper triangular (``solve(chol(Hessian), gradient)`` in ``checkConv``); None
    where the Hessian is not positive definite. With one :math:`\theta` it is
    :math:`g/\sqrt{d''}`, whose square is twice the decrease of the
    deviance a Newton step would still bring. Chapter 13.
    """
    try:
        U = linalg.cholesky(hessian, lower=False)
    except linalg.LinAlgError:
        return None
    return linalg.solve_triangular(U, gradient, lower=False)


@dataclass(frozen=True)
class GradientCheck:
    r"""lme4's ``checkConv`` at a point: the gradient, the Hessian and the scaled gradient
    (None where they were not needed; the scaled gradient is None too where the Hessian is
    not positive definite), and the criterion :math:`\max_i \min(|g_i|, |(U^{-1}g)_i|)`,
    which passes at :math:`2\times 10^{-3}`. Chapter 13."""

    theta: np.ndarray
    gradient: np.ndarray
    scaled: np.ndarray | None
    criterion: float
    n_evaluations: int
    hessian: np.ndarray | None = None

    @property
    def passes(self) -> bool:
        return self.criterion <= GRADIENT_TOLERANCE


def gradient_check(theta: np.ndarray, design: Design, reml: bool, value: float,
                   engine: str = "fast") -> GradientCheck:
    r"""The convergence check of lme4's ``checkConv`` at :math:`\theta`, where the deviance
    is ``value``: the :func:`deviance_gradient` :math:`g`, and, only if some
    :math:`|g_i| > 2\times 10^{-3}`, the :func:`deviance_hessian` and the largest
    :math:`\min(|g_i|, |(U^{-1}g)_i|)` (:func:`scaled_gradient`). On large data sets the
    deviance is steep: a point within :math:`10^{-8}` of the optimum can have :math:`|g_i|`
    above the tolerance, and the scaled gradient measures what is left to gain. Chapter 13.
    """
    gradient = deviance_gradient(theta, design, reml, engine=engine)
    evaluations, scaled, hessian = 2 * theta.size, None, None
    if np.max(np.abs(gradient), initial=0.0) > GRADIENT_TOLERANCE:
        hessian = deviance_hessian(theta, design, reml, value, engine=engine)
        evaluations += hessian_evaluations(theta.size)
        scaled = scaled_gradient(gradient, hessian)
    smaller = np.abs(gradient) if scaled is None else np.minimum(np.abs(gradient),
                                                                 np.abs(scaled))
    return GradientCheck(theta.copy(), gradient, scaled, float(np.max(smaller, initial=0.0)),
                         evaluations, hessian)


def newton_step(check: GradientCheck, design: Design, reml: bool, engine: str = "fast"
                ) -> optimize.OptimizeResult | None:
    r"""One Newton step from a failed :func:`gradient_check`, which has what the step needs:

    .. math::

        \theta^{+} = \max\bigl(\theta - (\nabla^2 d)^{-1} g,\ \text{lower bounds}\bigr),

    with the gradient :math:`g` and Hessian :math:`\nabla^2 d = U^\top U` of the check.
    Where BOBYQA stopped short of a steep, narrow valley, the quadratic the Hessian describes
    is nearly exact, and one step costs one evaluation where a restart of the search costs a
    hundred. Returns the new point and its deviance as an ``OptimizeResult`` (one
    evaluation), or None when the check made no positive definite Hessian. Chapter 13.
    """
    if check.hessian is None or check.scaled is None:
        return None
    step = linalg.cho_solve(linalg.cho_factor(check.hessian), check.gradient)
    theta = np.maximum(check.theta - step, theta_lower(design.terms))
    value = float(deviance_function(engine)(theta, design, reml))
    return optimize.OptimizeResult(x=theta, fun=value, nfev=1, success=True,
                                   message="a Newton step from the gradient check")


def _best_run(design: Design, reml: bool, starts: list[tuple[np.ndarray, bool]],
              max_evaluations: int | None, engine: str, optimizer: str
              ) -> tuple[optimize.OptimizeResult, int]:
    """Run the local optimizer from each (start, polish); return the run with the lowest
    deviance and the number of evaluations spent. Chapter 13."""
    runs = [run_local(optimizer, design, reml, start, max_evaluations, polish, engine)
            for start, polish in starts]
    return min(runs, key=lambda run: run.fun), sum(int(run.nfev) for run in runs)


STARTS = ("separate", "lme4")


def starting_point(design: Design, reml: bool, start: str, engine: str = "fast"
                   ) -> tuple[np.ndarray, int]:
    r"""Where the search begins, and the evaluations spent finding it. ``"lme4"``:
    :math:`T_i = I`. ``"separate"``: of :math:`T_i = I` and the :func:`separate_start`, the
    one where the deviance is lower. With a factor of few levels, where the deviance is flat,
    :math:`T_i = I` can be far out, and the search then spends most of its evaluations
    creeping back (InstEval's 14 departments). The separate fits cost about as much as the
    per-level part of an evaluation, so they are made only when the terms after the first
    have at least ``SEPARATE_MIN_COLUMNS`` random effects, whose dense block then dominates
    an evaluation; otherwise, and with one term, the start is :math:`T_i = I`. Chapter 19.
    """
    if start not in STARTS:
        raise ValueError(f"start must be one of {list(STARTS)}, not {start!r}")
    ones = theta_start(design.terms)
    q_2m = sum(len(term.levels) * term.k for term in design.terms[1:])
    if start == "lme4" or q_2m < SEPARATE_MIN_COLUMNS:
        return ones, 0
    separate, evaluations = separate_start(design, reml)
    deviance = deviance_function(engine)
    better = min((ones, separate), key=lambda theta: deviance(theta, design, reml))
    return better, evaluations + 2


def _one_round(best: optimize.OptimizeResult, check: GradientCheck, design: Design,
               reml: bool, max_evaluations: int | None, engine: str, optimizer: str
               ) -> tuple[optimize.OptimizeResult, int, bool]:
    """One round after a stop, given the gradient check there: a :func:`newton_step` where
    the check failed; if that does not help, restarts from the :func:`column_flips` (bounded
    searches only: L-BFGS has no bounds to be stuck on) and, where the check failed, from
    the point itself with small first steps. Returns the best point, the evaluations spent
    and whether another round may help. Chapter 13."""
    newton = None if check.passes else newton_step(check, design, reml, engine)
    spent = 0 if newton is None else 1
    if newton is not None and newton.fun < best.fun:
        return optimize.OptimizeResult({**best, "x": newton.x, "fun": newton.fun}), spent, True
    flips = [] if optimizer == "lbfgs" else column_flips(best.x, design.terms)
    starts = [(flip, False) for flip in flips] + ([] if check.passes else [(best.x, True)])
    if not starts:
        return best, spent, False
    winner, runs = _best_run(design, reml, starts, max_evaluations, engine, optimizer)
    if winner.fun > best.fun:
        return best, spent + runs, False
    return winner, spent + runs, winner.fun < best.fun - IMPROVEMENT


def optimize_theta(design: Design, reml: bool, max_evaluations: int | None = None,
                   engine: str = "fast", optimizer: str | None = None, start: str = "separate"
                   ) -> ThetaOptimum:
    r"""Stage 3 of the engine: minimize the profiled deviance over :math:`\theta`.

    1. the local optimizer (:func:`choose_optimizer`: ``"lbfgs"``, the quasi-Newton search
       with the analytic gradient, by default on models with at most 64 random effects;
       ``"bobyqa"``, NLopt's BOBYQA as in lme4, by default elsewhere; or ``"cobyqa"``,
       scipy's) from the :func:`starting_point`: :math:`T_i = I` (lme4's,
       ``start="lme4"``) or, by default (``start="separate"``) when the terms after the
       first have 100 or more random effects, that or the fits of each term alone,
       whichever has the lower deviance; from the latter, which is near, the first steps
       are 0.05 (chapter 19);
    2. up to three rounds of improvement (:func:`_one_round`): a :func:`newton_step` where
       the gradient check fails; restarts from the :func:`column_flips` of where it stopped
       (bounded searches only), and from that point itself with small first steps when the
       check fails; the best point is kept;
    3. the check, lme4's ``checkConv`` (:func:`gradient_check`): every
       :math:`\min(|g_i|, |(U^{-1}g)_i|) \le 2\times 10^{-3}`. ``converged`` is True only if
       the optimizer stopped on its own (not at ``max_evaluations``) and the check passes;
       otherwise a ConvergenceWarning.

    ``engine`` chooses the deviance: ``"fast"`` (chapter 19) or ``"readable"`` (chapter 10).
    Warns on a singular fit too. Chapter 13; the optima agree with lme4 1.1-31's, or are lower,
    on every reference model (tests/test_optimizer.py).
    """
    deviance_function(engine)                      # a clear error for an unknown engine
    optimizer = choose_optimizer(optimizer, design, engine)
    theta_0, start_evaluations = starting_point(design, reml, start, engine)
    near = not np.array_equal(theta_0, theta_start(design.terms))   # the separate start
    best = run_local(optimizer, design, reml, theta_0, max_evaluations, False, engine,
                     SEPARATE_STEP if near else None)
    evaluations, check = int(best.nfev), None
    for _ in range(MAX_RESTART_ROUNDS if best.success else 0):
        check = gradient_check(best.x, design, reml, best.fun, engine)
        best, spent, go_on = _one_round(best, check, design, reml, max_evaluations, engine,
                                        optimizer)
        evaluations += check.n_evaluations + spent
        if not go_on:
            break
    optimum = _checked_optimum(design, reml, best, evaluations, engine, check)
    return replace(optimum, start=theta_0, n_start_evaluations=start_evaluations)


def _checked_optimum(design: Design, reml: bool, best: optimize.OptimizeResult,
                     evaluations: int, engine: str, check: GradientCheck | None = None
                     ) -> ThetaOptimum:
    """The final gradient check and the warnings, as lme4's ``checkConv``; ``check`` is one
    already made, reused when its point is the optimum. Chapter 13."""
    lower = theta_lower(design.terms)
    theta = np.where((lower == 0) & (best.x < 0), 0.0, best.x)   # guard against -0.0 and round-off
    deviance = float(best.fun)
    if not np.array_equal(theta, best.x):
        deviance = float(deviance_function(engine)(theta, design, reml))
        evaluations += 1
    if check is None or not np.array_equal(check.theta, theta):
        check = gradient_check(theta, design, reml, deviance, engine)
        evaluations += check.n_evaluations
    converged = bool(best.success) and check.passes
    if not best.success:
        warn_user(f"the optimizer did not converge: {best.message}", ConvergenceWarning)
    elif not converged:
        warn_user(f"the optimizer stopped where the largest min(|gradient|, |scaled gradient|) "
                  f"of the deviance is {check.criterion:.2g} > {GRADIENT_TOLERANCE:g}",
                  ConvergenceWarning)
    if is_singular(theta, lower):
        warn_user("boundary (singular) fit: a variance is (near) 0 or a correlation is (near) "
                  "+-1; see chapter 13", SingularFitWarning)
    return ThetaOptimum(theta, deviance, converged, str(best.message), evaluations,
                        check.gradient, check.scaled)
