r"""Intervals for every parameter of a fitted model, and responses simulated from it: Wald
intervals for the fixed effects, profile-likelihood intervals for all parameters (lme4's
``profile`` and ``confint``), and ``simulate``.

**The profile.** For one parameter :math:`\psi` (a standard deviation, a correlation,
:math:`\sigma` or a fixed effect), fix it at a value and minimize the ML deviance over all the
others: :math:`\tilde d(\psi)`. lme4's signed square root

.. math::

    \zeta(\psi) = \operatorname{sign}(\psi - \hat\psi)\,\sqrt{\tilde d(\psi) - d(\hat\psi)}

is a straight line with slope :math:`1/\operatorname{se}` when the deviance is quadratic, and
the interval is where :math:`|\zeta| \le z_{1-\alpha/2}`. Where :math:`\zeta` does not reach
:math:`-z_{1-\alpha/2}` before a standard deviation reaches 0 (or a correlation :math:`\pm 1`),
the interval stops at the boundary. The variance parameters are profiled on lme4's scale
:math:`\omega` (the standard deviations and correlations of each term, then
:math:`\sigma`), each mapped to :math:`(\theta, \sigma)` by :func:`theta_sigma`.
Chapter 16; validated against lme4 1.1-31's ``confint(method = "profile")`` on sleepstudy,
Penicillin and Pastes (``tests/test_intervals.py``).
"""

from __future__ import annotations

import dataclasses

import warnings

import numpy as np
import pandas as pd
from scipy import optimize, sparse, stats
from tqdm import tqdm

from lmm_teach.design import Design, term_labels
from lmm_teach.fixed_inference import central_hessian, deviance_gamma
from lmm_teach.optimizer import minimize_bobyqa, optimize_theta
from lmm_teach.blocked import solve_blocked
from lmm_teach.pls import Lambda, sigma2_hat, term_factor, theta_slices

# ---------------------------------------------------------------- simulate


def simulate(fit, nsim: int = 1, seed: int | None = None) -> np.ndarray:
    r"""``nsim`` responses drawn from the fitted model, one per column, :math:`n \times`
    ``nsim``: :math:`y^* = X\hat\beta + Z\Lambda_{\hat\theta} u^* + \varepsilon^*` with
    :math:`u^* \sim N(0, \hat\sigma^2 I_q)` and :math:`\varepsilon^*_i \sim N(0,
    \hat\sigma^2/w_i)` (lme4's ``simulate``). ``seed`` makes them reproducible."""
    if not isinstance(nsim, (int, np.integer)) or nsim < 1:
        raise ValueError(f"nsim must be a positive integer, not {nsim!r}")
    design, rng = fit.design, np.random.default_rng(seed)
    n, q = design.X.shape[0], design.Z.shape[1]
    u = rng.standard_normal((q, nsim)) * fit.sigma
    noise = rng.standard_normal((n, nsim)) * fit.sigma / np.sqrt(design.weights)[:, None]
    ZLambda = design.Z @ Lambda(fit.theta, design.terms)
    return (design.X @ fit.beta_values)[:, None] + sparse.csr_matrix(ZLambda) @ u + noise


# ---------------------------------------------------------------- lme4's scale


def omega_names(design: Design) -> list[str]:
    r"""lme4's names of the variance parameters :math:`\omega`: per term its standard
    deviations and correlations in the order of :math:`\theta`, then ``sigma``."""
    names = []
    for term, group in zip(design.terms, term_labels(design.terms)):
        for c in range(term.k):
            names.append(f"sd_{term.columns[c]}|{group}")
            names += [f"cor_{term.columns[r]}.{term.columns[c]}|{group}"
                      for r in range(c + 1, term.k)]
    return names + ["sigma"]


def omega_from(theta: np.ndarray, sigma: float, design: Design) -> np.ndarray:
    r""":math:`\omega` at :math:`(\theta, \sigma)`: each term's covariance
    :math:`\sigma^2 T_i T_i^\top` as standard deviations and correlations, then
    :math:`\sigma`."""
    omega = []
    for term, piece in zip(design.terms, theta_slices(design.terms)):
        T = term_factor(theta[piece], term.k)
        cov = sigma**2 * T @ T.T
        sd = np.sqrt(np.diag(cov))
        for c in range(term.k):
            omega.append(sd[c])
            omega += [cov[r, c] / (sd[r] * sd[c]) if sd[r] * sd[c] > 0 else 0.0
                      for r in range(c + 1, term.k)]
    return np.array(omega + [sigma])


def theta_sigma(omega: np.ndarray, design: Design) -> tuple[np.ndarray, float]:
    r""":math:`(\theta, \sigma)` at :math:`\omega`: with :math:`D` the standard deviations and
    :math:`R = L_R L_R^\top` the correlations of a term, its covariance is
    :math:`D L_R L_R^\top D`, so :math:`T_i = D L_R / \sigma`, lower triangular. A standard
    deviation of 0 gives a zero row, a correlation of :math:`\pm 1` a singular :math:`R`
    (factored with a tiny ridge)."""
    sigma, theta, position = float(omega[-1]), [], 0
    for term in design.terms:
        size = term.k * (term.k + 1) // 2
        values = omega[position:position + size]
        sd, R, i = np.empty(term.k), np.eye(term.k), 0
        for c in range(term.k):
            sd[c], i = values[i], i + 1
            for r in range(c + 1, term.k):
                R[r, c] = R[c, r] = np.clip(values[i], -1.0, 1.0)
                i += 1
        L_R = np.linalg.cholesky(R + 1e-12 * np.eye(term.k))
        T = sd[:, None] * L_R / sigma
        theta.append(np.concatenate([T[c:, c] for c in range(term.k)]))
        position += size
    return np.concatenate(theta), sigma


def omega_bounds(design: Design) -> list[tuple[float, float]]:
    """Bounds of each entry of omega: standard deviations and sigma at least 0, correlations
    within [-1, 1]."""
    bounds = []
    for term in design.terms:
        for c in range(term.k):
            bounds.append((0.0, np.inf))
            bounds += [(-1.0, 1.0)] * (term.k - c - 1)
    return bounds + [(0.0, np.inf)]


def omega_covariance(fit) -> np.ndarray:
    r"""The asymptotic covariance of :math:`\hat\omega` (standard deviations, correlations,
    :math:`\sigma`) of an ML fit, :math:`2\,(\nabla^2 d(\hat\omega))^{-1}` with the Hessian
    of the ML deviance by central differences: what a Wald interval for a variance parameter
    would use. Near a boundary the deviance is far from quadratic in :math:`\omega`, and the
    Wald interval :math:`\hat\omega_i \pm z\sqrt{\cdot}` can cross it."""
    if fit.reml:
        raise ValueError("omega_covariance uses the ML deviance: fit with reml=False")
    omega = omega_from(fit.theta, fit.sigma, fit.design)
    steps = 1e-4 * np.maximum(np.abs(omega), 1e-2)
    hessian = central_hessian(lambda point: ml_deviance_omega(point, fit.design), omega, steps)
    return 2 * np.linalg.inv(hessian)


# ---------------------------------------------------------------- the profile

PROFILE_TOLERANCE = 1e-9   # the inner searches stop when steps in omega are below this


def ml_deviance_omega(omega: np.ndarray, design: Design) -> float:
    r"""The ML deviance at :math:`\omega`, :math:`\beta` profiled out
    (:func:`lmm_teach.fixed_inference.deviance_gamma` at :func:`theta_sigma`); a correlation
    beyond :math:`\pm 1` counts as :math:`\pm 1`."""
    theta, sigma = theta_sigma(omega, design)
    return deviance_gamma(np.append(theta, sigma), design, reml=False)


def profiled_omega(i: int, value: float, omega_hat: np.ndarray, design: Design
                   ) -> float:
    r""":math:`\tilde d(\omega_i = v)`: the ML deviance minimized over every other entry of
    :math:`\omega` (BOBYQA, from the estimates), :math:`\beta` profiled out."""
    others = np.delete(np.arange(omega_hat.size), i)
    lower = np.array([b[0] for b in omega_bounds(design)])[others]

    def deviance(rest: np.ndarray) -> float:
        omega = np.insert(rest, i, value)
        return ml_deviance_omega(omega, design)

    if others.size == 0:
        return deviance(np.empty(0))
    run = minimize_bobyqa(deviance, np.maximum(omega_hat[others], lower + 1e-6), lower,
                          PROFILE_TOLERANCE, PROFILE_TOLERANCE)
    return float(run.fun)


def profiled_beta(j: int, value: float, design: Design) -> float:
    r""":math:`\tilde d(\beta_j = b)`: the ML deviance of the model with :math:`\beta_j` fixed
    at :math:`b`, that is with :math:`x_j b` taken off :math:`y` and column :math:`j` off
    :math:`X`, minimized over :math:`\theta` (chapter 13's optimizer)."""
    keep = [c for c in range(design.X.shape[1]) if c != j]
    reduced = dataclasses.replace(design, y=design.y - design.X[:, j] * value,
                                  X=design.X[:, keep],
                                  fixed_names=tuple(design.fixed_names[c] for c in keep))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # a boundary fit is expected far out
        return optimize_theta(reduced, reml=False).deviance


def zeta_function(fit, name: str):
    r""":math:`\zeta(\psi)` for the parameter called ``name`` (lme4's names), and its estimate
    :math:`\hat\psi`. A ValueError for a fit by REML: the profile is that of the ML deviance,
    and profiling a fixed effect under REML changes :math:`X`, hence the criterion itself."""
    if fit.reml:
        raise ValueError("profile intervals come from the ML deviance: fit with reml=False")
    design, d_hat = fit.design, fit.deviance
    omega_hat = omega_from(fit.theta, fit.sigma, design)
    names = omega_names(design)
    if name in names:
        i = names.index(name)
        tilde = lambda value: profiled_omega(i, value, omega_hat, design)
        estimate = omega_hat[i]
    else:
        j = list(fit.fixed_names).index(name)
        tilde = lambda value: profiled_beta(j, value, design)
        estimate = fit.beta_values[j]
    return (lambda value: float(np.sign(value - estimate)
                                * np.sqrt(max(tilde(value) - d_hat, 0.0)))), estimate


def _bound(name: str) -> tuple[float, float]:
    """Where a parameter's range ends: 0 for a standard deviation, +-1 for a correlation."""
    if name.startswith("sd_") or name == "sigma":
        return 0.0, np.inf
    if name.startswith("cor_"):
        return -1.0, 1.0
    return -np.inf, np.inf


def profile_limit(zeta, estimate: float, target: float, step: float,
                  bound: float) -> float:
    r"""Where :math:`\zeta = ` ``target`` on the side of ``target``'s sign: steps of ``step``
    (doubling) away from the estimate until :math:`\zeta` passes the target, then Brent's
    root finder; ``bound`` if :math:`\zeta` at the edge of the range (a standard deviation of
    0, a correlation of :math:`\pm 1`) has not reached the target."""
    direction = np.sign(target)
    near, far = estimate, estimate + direction * step
    while True:
        if (far - bound) * direction >= 0:
            far = bound
            if abs(zeta(far)) < abs(target):
                return float(bound)
            break
        if abs(zeta(far)) >= abs(target):
            break
        near, far, step = far, far + direction * 2 * step, 2 * step
    return float(optimize.brentq(lambda v: zeta(v) - target, min(near, far), max(near, far),
                                 xtol=1e-10 * max(1.0, abs(estimate)), rtol=1e-10))


def profile_interval(fit, name: str, level: float = 0.95) -> tuple[float, float]:
    """The profile interval of one parameter (lme4's ``confint(method = "profile")``)."""
    zeta, estimate = zeta_function(fit, name)
    z = stats.norm.ppf(0.5 + level / 2)
    low, high = _bound(name)
    step = _first_step(fit, name, estimate)
    return (profile_limit(zeta, estimate, -z, step, low),
            profile_limit(zeta, estimate, z, step, high))


def _first_step(fit, name: str, estimate: float) -> float:
    """A first step away from the estimate: half a standard error for a fixed effect, a
    tenth of the estimate (at least 0.01) for a variance parameter."""
    if name in fit.fixed_names:
        return 0.5 * float(np.sqrt(np.diag(fit.cov_beta_values))[list(fit.fixed_names).index(name)])
    return max(0.1 * abs(estimate), 0.01)


def parameter_names(fit) -> list[str]:
    r"""lme4's names of all the parameters of ``fit`` (``confint(..., oldNames = FALSE)``):
    :func:`omega_names` (``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``, ...,
    ``sigma``), then the fixed effects as ``fit.beta`` names them."""
    return omega_names(fit.design) + list(fit.fixed_names)


# ---------------------------------------------------------------- the parametric bootstrap

PROGRESS_FROM = 200   # bootstraps of at least this many replicates show a progress bar


def estimates(design: Design, reml: bool) -> np.ndarray:
    r"""A fit's parameters in the order of :func:`parameter_names`: :math:`\omega` (standard
    deviations, correlations, :math:`\sigma`), then :math:`\hat\beta`; chapter 13's
    optimizer and chapter 19's solution, with the warnings of boundary fits silenced (a
    bootstrap meets many)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theta = optimize_theta(design, reml).theta
    solution = solve_blocked(theta, design)
    n, p = design.X.shape
    sigma = float(np.sqrt(sigma2_hat(solution.r2, n, p, reml)))
    return np.concatenate([omega_from(theta, sigma, design), solution.beta])


def bootstrap(fit, nsim: int, seed: int | None = None, progress: bool | None = None
              ) -> pd.DataFrame:
    r"""The parametric bootstrap: ``nsim`` responses simulated from the fit
    (:func:`simulate`), each refitted the way the fit was (ML or REML); one row of
    :func:`parameter_names` per replicate. ``seed`` makes it reproducible; a progress bar
    (tqdm) shows from ``PROGRESS_FROM`` replicates, or as ``progress`` says."""
    y_star = simulate(fit, nsim, seed)
    show = nsim >= PROGRESS_FROM if progress is None else progress
    rows = [estimates(dataclasses.replace(fit.design, y=y_star[:, s]), fit.reml)
            for s in tqdm(range(nsim), disable=not show, desc="bootstrap")]
    return pd.DataFrame(rows, columns=parameter_names(fit))


CONFINT_METHODS = ("wald", "profile", "bootstrap")


def confint(fit, method: str = "wald", level: float = 0.95, nsim: int = 500,
            seed: int | None = None) -> pd.DataFrame:
    r"""Confidence intervals, one row per parameter (:func:`parameter_names`), columns
    ``lower`` and ``upper``.

    - ``"wald"``: :math:`\hat\beta_j \pm z_{1-\alpha/2}\operatorname{se}(\hat\beta_j)` for
      the fixed effects; the rows of the standard deviations, correlations and
      :math:`\sigma` are NaN, as lme4 leaves them NA: a symmetric interval is a poor
      description of a standard deviation near 0.
    - ``"profile"``: where :math:`|\zeta| = z_{1-\alpha/2}` for every parameter
      (:func:`profile_interval`), 0 for a standard deviation whose profile does not reach
      it; for a fit by ML.
    - ``"bootstrap"``: the :math:`\alpha/2` and :math:`1 - \alpha/2` quantiles of ``nsim``
      parametric bootstrap replicates (:func:`bootstrap`, reproducible with ``seed``):
      lme4's ``confint(method = "boot")``, percentile intervals.

    A ValueError for an unknown method or a level outside (0, 1).
    """
    if method not in CONFINT_METHODS:
        raise ValueError(f"method must be one of {list(CONFINT_METHODS)}, not {method!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level!r}")
    names = parameter_names(fit)
    if method == "profile":
        limits = np.array([profile_interval(fit, name, level) for name in names])
    elif method == "bootstrap":
        replicates = bootstrap(fit, nsim, seed).to_numpy()
        limits = np.quantile(replicates, [0.5 - level / 2, 0.5 + level / 2], axis=0).T
    else:
        limits = np.full((len(names), 2), np.nan)
        se, z = np.sqrt(np.diag(fit.cov_beta_values)), stats.norm.ppf(0.5 + level / 2)
        limits[-se.size:] = np.column_stack([fit.beta_values - z * se, fit.beta_values + z * se])
    return pd.DataFrame(limits, index=names, columns=["lower", "upper"])


def profile(fit, level: float = 0.99, n_points: int = 9) -> pd.DataFrame:
    r"""lme4's ``profile``: :math:`\zeta` at ``n_points`` values of every parameter, from the
    lower to the upper limit of its profile interval at ``level`` (so that the curves reach
    :math:`|\zeta| = z_{1-\alpha/2}`, 2.58 at 0.99, or the boundary). Columns ``parameter``,
    ``value``, ``zeta``, in the order of :func:`parameter_names`; for plots."""
    rows = []
    for name in parameter_names(fit):
        zeta, estimate = zeta_function(fit, name)
        lower, upper = profile_interval(fit, name, level)
        grid = np.linspace(lower, upper, n_points)
        grid = grid[np.abs(grid - estimate) > 1e-8 * max(1.0, abs(estimate))]
        values = np.sort(np.append(grid, estimate))
        rows += [(name, value, 0.0 if value == estimate else zeta(value)) for value in values]
    return pd.DataFrame(rows, columns=["parameter", "value", "zeta"])
