r"""Fitting a generalized linear mixed model: ``fit_glmm`` (chapters 20-22; lme4's ``glmer``).

The stages are lme4's:

1. :func:`glmm_design`: the formula and data give :math:`y` (a proportion or a count), the
   numbers of trials :math:`N`, :math:`X` and the random terms, with the response checked;
2. **first stage** (:func:`first_stage`, lme4's ``nAGQ = 0``): minimize the Laplace deviance over
   :math:`\theta` alone, with :math:`\beta` moved inside PIRLS;
3. **second stage** (:func:`second_stage`): minimize the Laplace (or, with ``nagq > 1``, the
   adaptive Gauss-Hermite) deviance over :math:`(\theta, \beta)` together, with PIRLS over
   :math:`u` alone at every evaluation;
4. :func:`make_glmm_fit`: standard errors from the Hessian of that deviance, as lme4's
   ``vcov``, and the immutable :class:`GlmmFit`.

Every evaluation starts PIRLS from the conditional modes of the evaluation before (lme4 does
the same): the search moves little between evaluations, so PIRLS needs few steps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import linalg, stats

from lmm_teach import random_effects
from lmm_teach._checks import read_only_copies, warn_user
from lmm_teach.design import Design, model_matrices, term_labels
from lmm_teach.expressions import data_names, variable_columns
from lmm_teach.families import Family, family as family_named, working_residuals, working_weights
from lmm_teach.fixed_inference import central_hessian
from lmm_teach.formula import Call, FormulaError, deparse, parse_expression
from lmm_teach.optimizer import (ConvergenceWarning, SingularFitWarning, is_singular,
                                 minimize_bobyqa)
from lmm_teach.blocked import blocked_factor, gram_blocks
from lmm_teach.lmer import EffectsTables, ranef_tables, varcorr_table
from lmm_teach.pirls import (PIRLS_TOLERANCE, PirlsSolution, Z_times, gram_pattern, pirls,
                             weighted_design, working_problem)
from lmm_teach.pls import theta_lower, theta_start
from lmm_teach.quadrature import agq_deviance, laplace_deviance, single_scalar_term

TRIALS = "(trials)"     # the model frame's column of binomial trials made from cbind(s, f)


# -- stage 1: the response, checked ------------------------------------------------------------

def split_response(formula: str) -> tuple[str, str | None, str]:
    """``(successes, failures, right side)`` of ``cbind(s, f) ~ ...``; ``(y, None, right
    side)`` of any other formula. A ValueError when cbind does not have two arguments.
    Chapter 20."""
    if not isinstance(formula, str) or formula.count("~") != 1:
        return formula, None, ""                   # model_matrices names what is wrong
    left, right = formula.split("~")
    node = parse_expression(left.strip()) if left.strip() else None
    if not (isinstance(node, Call) and node.function == "cbind"):
        return left.strip(), None, right
    if len(node.args) != 2 or node.keywords:
        raise FormulaError(f"{deparse(node)!r} in {formula!r}: cbind() takes two columns, "
                           "the successes and the failures")
    return deparse(node.args[0]), deparse(node.args[1]), right


def _evaluated(text: str, data: pd.DataFrame, role: str) -> np.ndarray:
    """One side of cbind evaluated on ``data``, or a ValueError naming missing columns."""
    missing = [c for c in data_names(parse_expression(text)) if c not in data.columns]
    if missing:
        raise ValueError(f"column(s) {missing} of the {role} {text!r} are not in the data")
    return variable_columns(text, data).iloc[:, 0].to_numpy(dtype=float)


def trials_from_cbind(successes: str, failures: str, data: pd.DataFrame) -> np.ndarray:
    """:math:`N = s + f`, row by row, after checking both are counts: a ValueError names
    negative or non-integer values, and failures below 0 (successes above the trials).
    Rows with a missing value stay missing, to be dropped as any other. Chapter 20."""
    s, f = _evaluated(successes, data, "successes"), _evaluated(failures, data, "failures")
    for values, text, role in [(s, successes, "successes"), (f, failures, "failures")]:
        _check_counts(values[~np.isnan(values)], f"{role} {text!r}")
    N = s + f
    if np.any(N[~np.isnan(N)] == 0):
        raise ValueError(f"some rows have no trials ({successes} + {failures} = 0); drop them")
    return N


def _check_counts(values: np.ndarray, what: str) -> None:
    """A ValueError naming ``what`` unless every value is a whole number of at least 0."""
    if np.any(values < 0):
        hint = " (successes above the trials?)" if what.startswith("failures") else ""
        raise ValueError(f"{what} must be counts, but {int(np.sum(values < 0))} are "
                         f"negative{hint}")
    if np.any(np.abs(values - np.round(values)) > 1e-8 * np.maximum(1, values)):
        raise ValueError(f"{what} must be whole numbers (counts), but some are not")


def check_response(fam: Family, y: np.ndarray, N: np.ndarray, response: str) -> None:
    """A ValueError naming the response when it cannot come from the family: a binomial
    proportion outside [0, 1] or whose successes :math:`N y` are not whole; a Poisson
    count that is negative or not whole. Chapter 20."""
    if fam.name == "binomial":
        if np.any((y < 0) | (y > 1)):
            raise ValueError(f"a binomial response must be a proportion in [0, 1] (0/1, or "
                             f"successes / trials with weights=trials), but {response!r} "
                             f"has values from {y.min():g} to {y.max():g}")
        _check_counts(N * y, f"successes (response {response!r} times the trials; a "
                             "proportion needs weights= the numbers of trials)")
    else:
        _check_counts(y, f"Poisson response {response!r}")


def two_level_response(data: pd.DataFrame, response: str, fam: Family) -> pd.DataFrame:
    """``data`` with a binomial response given as a factor of two levels (text, categorical or
    boolean) recoded as 0 for the first level and 1 for the second, levels sorted as R sorts
    them (``"N"``, ``"Y"``), as lme4 reads such a response; other data unchanged. A ValueError
    names a factor response with another number of levels, or of a Poisson model. Chapter 20."""
    if not isinstance(data, pd.DataFrame) or response not in data.columns:
        return data
    column = data[response]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return data
    levels = (list(column.cat.categories) if isinstance(column.dtype, pd.CategoricalDtype)
              else sorted(column.dropna().unique()))
    if fam.name != "binomial" or len(levels) != 2:
        raise ValueError(f"response {response!r} is a factor with levels {levels[:4]}; a "
                         "factor response needs family='binomial' and two levels (the "
                         f"second counts as a success), not family={fam.name!r} and "
                         f"{len(levels)} levels")
    return data.assign(**{response: column.map({levels[0]: 0.0, levels[1]: 1.0})})


def glmm_design(formula: str, data: pd.DataFrame, fam: Family,
                weights: ArrayLike | str | None = None) -> Design:
    r"""The design of a GLMM: ``design.y`` holds proportions (binomial) or counts (Poisson),
    ``design.weights`` the numbers of trials :math:`N_i` (1 for 0/1 data and for Poisson).
    ``cbind(s, f) ~ ...`` gives :math:`y = s / (s + f)` and :math:`N = s + f`, as lme4 does;
    so does ``s / N ~ ...`` with ``weights = N``. Chapter 20."""
    successes, failures, right = split_response(formula)
    if fam.name == "poisson" and (weights is not None or failures is not None):
        raise ValueError("a Poisson GLMM takes a count response and no weights= or cbind()")
    if failures is not None:
        if weights is not None:
            raise ValueError("cbind(successes, failures) already gives the trials; "
                             "leave weights= out")
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
        data = data.assign(**{TRIALS: trials_from_cbind(successes, failures, data)})
        design = model_matrices(f"{successes} ~{right}", data, TRIALS, residual=False)
        design = dataclasses.replace(design, y=design.y / design.weights)
    else:
        design = model_matrices(formula, two_level_response(data, successes, fam), weights,
                                residual=False)
    check_response(fam, design.y, design.weights, successes)
    return design


# -- the start, and the two stages ---------------------------------------------------------------

def glm_start(design: Design, fam: Family, iterations: int = 25) -> np.ndarray:
    r""":math:`\beta` of the GLM without random effects, by IRLS from
    :math:`\mu = (N y + 1/2)/(N + 1)` (binomial) or :math:`y + 1/10` (Poisson): the start of
    the first stage. Chapter 20."""
    y, N, X = design.y, design.weights, design.X
    mu = (N * y + 0.5) / (N + 1) if fam.name == "binomial" else y + 0.1
    eta = np.log(mu / (1 - mu)) if fam.name == "binomial" else np.log(mu)
    beta = np.zeros(X.shape[1])
    for _ in range(iterations):
        w, y_tilde = working_weights(fam, mu, N), eta + working_residuals(fam, y, mu)
        new = np.linalg.lstsq(np.sqrt(w)[:, None] * X, np.sqrt(w) * y_tilde, rcond=None)[0]
        if np.max(np.abs(new - beta), initial=0.0) < 1e-10:
            return new
        beta, eta = new, X @ new
        mu = fam.linkinv(eta)
    return beta


def warm_pirls(design: Design, fam: Family, update_beta: bool,
               tolerance: float = PIRLS_TOLERANCE
               ) -> Callable[[np.ndarray, np.ndarray], PirlsSolution]:
    r"""PIRLS at :math:`(\theta, \beta)` that starts from the conditional modes of its last
    call (and, with ``update_beta``, from its last :math:`\beta`), as lme4 does between
    evaluations. The memory is local to one fit. Chapter 20."""
    last: dict[str, np.ndarray | None] = {"u": None, "beta": None}
    pattern = gram_pattern(design)

    def solve(theta: np.ndarray, beta: np.ndarray) -> PirlsSolution:
        start_beta = beta if last["beta"] is None or not update_beta else last["beta"]
        solution = pirls(theta, start_beta, design, fam, last["u"], update_beta, pattern,
                         tolerance)
        if solution.converged and np.all(np.isfinite(solution.u)):
            last["u"], last["beta"] = solution.u, solution.beta
        return solution

    return solve


def first_stage(design: Design, fam: Family) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\theta` minimizing the Laplace deviance with :math:`\beta` inside PIRLS (lme4's
    ``nAGQ = 0``), from :math:`T_i = I` and the GLM's :math:`\beta`; returns
    :math:`(\theta, \beta)`, the second stage's start. Chapter 21."""
    solve, beta_0 = warm_pirls(design, fam, update_beta=True), glm_start(design, fam)
    deviance = lambda theta: laplace_deviance(fam, design, solve(theta, beta_0))
    lower = theta_lower(design.terms)
    result = minimize_bobyqa(deviance, theta_start(design.terms), lower, xtol=1e-6)
    return result.x, solve(result.x, beta_0).beta


def glmm_deviance(design: Design, fam: Family, nagq: int,
                  tolerance: float = PIRLS_TOLERANCE) -> Callable[[np.ndarray], float]:
    r"""The second stage's objective, a function of :math:`x = (\theta, \beta)`: the Laplace
    deviance (``nagq = 1``) or the adaptive Gauss-Hermite one, with PIRLS over :math:`u`
    alone. Chapter 21."""
    solve = warm_pirls(design, fam, update_beta=False, tolerance=tolerance)
    size = theta_start(design.terms).size

    def deviance(x: np.ndarray) -> float:
        theta, beta = x[:size], x[size:]
        solution = solve(theta, beta)
        if nagq == 1:
            return laplace_deviance(fam, design, solution)
        return agq_deviance(fam, design, float(theta[0]), beta, solution, nagq)

    return deviance


STAGE2_XTOL = 1e-4     # BOBYQA stops when its steps in (theta, beta) are below this,
STAGE2_FTOL = 1e-6     # ... or when the deviance changes by less than this; Newton polishes


def second_stage(design: Design, fam: Family, nagq: int, theta: np.ndarray, beta: np.ndarray
                 ) -> tuple[np.ndarray, float, bool]:
    r""":math:`(\hat\theta, \hat\beta)` minimizing :func:`glmm_deviance` from the first
    stage's point, by BOBYQA (bounds on :math:`\theta` only); returns the point, the
    deviance there and whether BOBYQA converged. Chapter 21."""
    lower = np.concatenate([theta_lower(design.terms), np.full(beta.size, -np.inf)])
    result = minimize_bobyqa(glmm_deviance(design, fam, nagq), np.concatenate([theta, beta]),
                             lower, xtol=STAGE2_XTOL, ftol=STAGE2_FTOL)
    return result.x, float(result.fun), bool(result.success)


# -- the fitted model ----------------------------------------------------------------------------

@dataclass(frozen=True, repr=False)
class GlmmFit(EffectsTables):
    """A fitted generalized linear mixed model. Validated against lme4 1.1-31 (``glmer``).

    ``loglik`` is the log-likelihood with every constant kept: the Laplace approximation for
    ``nagq = 1``, adaptive Gauss-Hermite quadrature otherwise (lme4 prints the latter without
    the saturated model's log-likelihood, chapter 21). ``deviance`` is :math:`-2` times it.
    Immutable, like :class:`lmm_teach.lmer.LmmFit`.
    """

    formula: str
    family: str
    nagq: int
    loglik: float
    deviance: float
    aic: float
    bic: float
    fixed_names: tuple[str, ...]
    beta_values: np.ndarray
    cov_beta_values: np.ndarray
    theta: np.ndarray
    b_values: np.ndarray
    varcorr_rows: tuple[tuple, ...]
    ranef_blocks: tuple[tuple[str, tuple[str, ...], tuple[str, ...], np.ndarray], ...]
    nobs: int
    ngroups: Mapping[str, int]
    converged: bool
    singular: bool
    design: Design | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        read_only_copies(self)

    def __repr__(self) -> str:
        method = "Laplace" if self.nagq == 1 else f"adaptive Gauss-Hermite, {self.nagq} nodes"
        return f"<GlmmFit {self.formula!r}, {self.family}, {method}: loglik {self.loglik:.4f}>"

    def predict(self, newdata: pd.DataFrame | None = None, random: bool = True,
                type: str = "link") -> np.ndarray:
        """Predictions on the scale of :math:`\\eta` (``type="link"``) or of :math:`\\mu`
        (``"response"``), with or without the random effects; a group the fit never saw
        contributes 0 (lme4's ``predict(..., allow.new.levels = TRUE)``). Chapter 22."""
        return glmm_predict(self, newdata, random, type)

    def summary(self) -> str:
        """A table like lme4's ``summary()`` of a ``glmer`` fit: the fit criteria, the random
        effects, then the fixed effects with z and p. Chapter 22."""
        return _summary_text(self)


HESSIAN_STEP = 1e-4    # lme4's deriv12(delta = 1e-4), on (theta, beta)


def deviance_hessian(deviance: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    r""":math:`H`, the Hessian of the deviance in :math:`(\theta, \beta)` at ``x``, by central
    differences with lme4's step. Chapter 22."""
    return central_hessian(deviance, x, np.full(x.size, HESSIAN_STEP))


def cov_beta_hessian(H: np.ndarray, size: int) -> np.ndarray | None:
    r""":math:`\operatorname{Var}(\hat\beta)`, the :math:`\beta` block of :math:`2 H^{-1}`
    (the inverse of the observed information, as lme4's ``vcov``), with ``size`` the length
    of :math:`\theta`; None when :math:`H` is not positive definite. Chapter 22."""
    try:
        inverse = linalg.cho_solve(linalg.cho_factor(H), np.eye(H.shape[0]))
    except linalg.LinAlgError:
        return None
    return 2 * inverse[size:, size:]


def polish_step(deviance: Callable[[np.ndarray], float], x: np.ndarray, value: float,
                H: np.ndarray, lower: np.ndarray) -> tuple[np.ndarray, float]:
    r"""One Newton step :math:`x - H^{-1} g`, with :math:`g` the gradient by central
    differences; ``(x, value)`` unchanged when the step leaves the bounds or does not lower
    the deviance. Chapter 21."""
    h = np.full(x.size, HESSIAN_STEP)
    g = np.array([(deviance(x + e) - deviance(x - e)) / (2 * e[i])
                  for i, e in enumerate(np.diag(h))])
    try:
        new = x - linalg.solve(H, g, assume_a="pos")
    except linalg.LinAlgError:
        return x, value
    if np.any(new < lower):
        return x, value
    new_value = deviance(new)
    return (new, new_value) if new_value < value else (x, value)


def forward_hessian(f: Callable[[np.ndarray], float], x: np.ndarray, h: float
                    ) -> np.ndarray:
    r"""A Hessian by forward differences,
    :math:`H_{ij} \approx [f(x + h e_i + h e_j) - f(x + h e_i) - f(x + h e_j) + f(x)] / h^2`:
    :math:`1 + d + d(d+1)/2` evaluations instead of the :math:`2d^2 + 1` of central ones, with
    an error of order :math:`h`. Good enough to take Newton steps with, not for standard
    errors. Chapter 21."""
    E, center = np.eye(x.size) * h, f(x)
    single = np.array([f(x + e) for e in E])
    H = np.empty((x.size, x.size))
    for i in range(x.size):
        for j in range(i + 1):
            H[i, j] = H[j, i] = (f(x + E[i] + E[j]) - single[i] - single[j] + center) / h**2
    return H


POLISHED = 1e-7        # a Newton step shorter than this ends the polish
POLISH_ROUNDS = 3


def polished_optimum(deviance: Callable[[np.ndarray], float], x: np.ndarray, value: float,
                     lower: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    r"""Newton steps from BOBYQA's point until a step is shorter than ``POLISHED``, then the
    Hessian :math:`H` there by central differences. BOBYQA stops where its own steps are
    small, which on a flat ridge (an intercept against the random effects' mean) leaves the
    point off by about its tolerance; a Hessian there would carry that error, which differs
    from machine to machine, into the standard errors. The steps use a cheaper Hessian
    (:func:`forward_hessian`), made once. Returns the point, the deviance and :math:`H`.
    Chapter 21."""
    H_steps = forward_hessian(deviance, x, HESSIAN_STEP)
    for _ in range(POLISH_ROUNDS):
        new, new_value = polish_step(deviance, x, value, H_steps, lower)
        moved = np.max(np.abs(new - x))
        x, value = new, new_value
        if moved < POLISHED:
            break
    return x, value, deviance_hessian(deviance, x)


def cov_beta_conditional(design: Design, fam: Family, theta: np.ndarray,
                         solution: PirlsSolution) -> np.ndarray:
    r""":math:`(R_X^\top R_X)^{-1}` of the last PIRLS step at :math:`(\hat\theta, \hat\beta)`:
    the covariance of :math:`\hat\beta` with :math:`\theta` held at :math:`\hat\theta` (lme4's
    ``vcov(use.hessian = FALSE)``), used where the Hessian is not positive definite.
    Chapter 22."""
    w, y_tilde = working_problem(fam, design.y, design.weights, solution.eta)
    factor = blocked_factor(theta, gram_blocks(weighted_design(design, w, y_tilde, design.X)))
    p = design.X.shape[1]
    R_X_inv = linalg.solve_triangular(factor.R_Xy[:p, :p], np.eye(p))
    return R_X_inv @ R_X_inv.T


def make_glmm_fit(formula: str, design: Design, fam: Family, nagq: int, x: np.ndarray,
                  deviance: float, converged: bool, H: np.ndarray) -> GlmmFit:
    r"""The fitted GLMM at :math:`(\hat\theta, \hat\beta)` = ``x``: conditional modes, the
    covariance of :math:`\hat\beta` from the Hessian ``H``, variance components, AIC and
    BIC with :math:`\dim\theta + p` parameters (no :math:`\sigma`). Chapter 22."""
    size = theta_start(design.terms).size
    theta, beta = x[:size], x[size:]
    cov = cov_beta_hessian(H, size)
    solution = pirls(theta, beta, design, fam)
    if cov is None:
        cov = cov_beta_conditional(design, fam, theta, solution)
    n, k = design.y.size, x.size
    varcorr = varcorr_table(theta, 1.0, design.terms).iloc[:-1]     # no residual row
    ranef = ranef_tables(solution.b, design.terms)
    return GlmmFit(
        formula=formula, family=fam.name, nagq=nagq, loglik=-deviance / 2, deviance=deviance,
        aic=deviance + 2 * k, bic=deviance + np.log(n) * k, fixed_names=design.fixed_names,
        beta_values=beta, cov_beta_values=cov, theta=theta, b_values=solution.b,
        varcorr_rows=tuple(varcorr.itertuples(index=False, name=None)),
        ranef_blocks=tuple((g, tuple(t.index), tuple(t.columns), t.to_numpy())
                           for g, t in ranef.items()),
        nobs=n, ngroups=MappingProxyType({t.group: len(t.levels) for t in design.terms}),
        converged=converged and solution.converged,
        singular=is_singular(theta, theta_lower(design.terms)), design=design)


def check_nagq(nagq: object, design: Design) -> int:
    """``nagq`` as a whole number of at least 1, or a ValueError: more than one node needs a
    single random term with one column (``(1 | g)``), as in lme4. Chapter 21."""
    if isinstance(nagq, bool) or not isinstance(nagq, (int, np.integer)) or nagq < 1:
        raise ValueError(f"nagq must be a whole number of nodes, at least 1, not {nagq!r}")
    if nagq > 1 and not single_scalar_term(design):
        names = ", ".join(t.name for t in design.terms)
        raise ValueError(f"nagq > 1 needs a single random term with one column, such as "
                         f"(1 | g); this model has {names}. Use nagq=1 (Laplace)")
    return int(nagq)


def fit_glmm(formula: str, data: pd.DataFrame, family: str = "binomial", nagq: int = 1,
             weights: ArrayLike | str | None = None) -> GlmmFit:
    r"""Fit a generalized linear mixed model written in lme4's formula syntax.

    ``fit_glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)`` does what
    lme4's ``glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)``
    does. ``family`` is ``"binomial"`` (logit link; the response 0/1, a two-level factor whose
    second level is a success, a proportion with ``weights`` the numbers of trials, or
    ``cbind(successes, failures)``) or ``"poisson"`` (log link; counts). ``nagq`` is the
    number of adaptive Gauss-Hermite nodes per group (1: the Laplace approximation; more only
    for a single scalar random term). A term may have one level per observation (an
    observation-level effect, chapter 22). Chapters 20-22.
    Validated against lme4 1.1-31's ``glmer`` on cbpp (``nAGQ`` 1, 3, 9 and 25), VerbAgg,
    grouseticks and simulated crossed designs (``lmm_teach/data/lme4_glmer.json``).
    """
    fam = family_named(family)
    design = glmm_design(formula, data, fam, weights)
    nagq = check_nagq(nagq, design)
    theta, beta = first_stage(design, fam)
    x, deviance, converged = second_stage(design, fam, nagq, theta, beta)
    lower = np.concatenate([theta_lower(design.terms), np.full(beta.size, -np.inf)])
    x, deviance, H = polished_optimum(glmm_deviance(design, fam, nagq), x, deviance, lower)
    return warned(make_glmm_fit(formula, design, fam, nagq, x, deviance, converged, H))


def warned(fit: GlmmFit) -> GlmmFit:
    """``fit``, after warning when the optimizer or PIRLS did not converge, or when a
    variance is (near) 0 or a correlation (near) +-1, as lme4 does. Chapters 13 and 21."""
    if not fit.converged:
        warn_user("the optimizer or PIRLS did not converge; the estimates may not be the "
                  "maximum of the likelihood", ConvergenceWarning)
    if fit.singular:
        warn_user("boundary (singular) fit: a variance is (near) 0 or a correlation is (near) "
                  "+-1; see chapter 13", SingularFitWarning)
    return fit


def glmm_predict(fit: GlmmFit, newdata: pd.DataFrame | None = None, random: bool = True,
                 type: str = "link") -> np.ndarray:
    r""":math:`\hat\eta = x^\top\hat\beta + z^\top\hat b` (``random=False``: without
    :math:`z^\top\hat b`) for the fit's rows or those of ``newdata``, and with
    ``type="response"`` :math:`g^{-1}(\hat\eta)`: a probability (binomial) or an expected count
    (Poisson). Without the random effects that is the mean of a group whose effect is 0, not
    the mean over groups. Chapter 22; validated against lme4 1.1-31's ``predict``."""
    if type not in ("link", "response"):
        raise ValueError(f"type must be 'link' or 'response', not {type!r}")
    if newdata is None:
        eta = fit.design.X @ fit.beta_values
        eta = eta + Z_times(fit.design.terms, fit.b_values) if random else eta
    else:
        eta = random_effects.predict(fit, newdata, random)
    return eta if type == "link" else family_named(fit.family).linkinv(eta)


def _summary_text(fit: GlmmFit) -> str:
    """The summary of a GLMM fit, in lme4's layout: criteria, random effects, fixed effects
    with z and two-sided normal p-values (Wald). Four significant digits, three for the
    p-values, which magnify the last digits of a standard error (a finite-difference Hessian)
    by about :math:`z^2`."""
    z = fit.beta / fit.se_beta
    digits = lambda values, n: [f"{v:.{n}g}" for v in values]
    fixed = pd.DataFrame({"Estimate": digits(fit.beta, 4), "Std. Error": digits(fit.se_beta, 4),
                          "z value": digits(z, 4),
                          "Pr(>|z|)": digits(2 * stats.norm.sf(np.abs(z)), 3)},
                         index=fit.beta.index)
    method = ("Laplace approximation" if fit.nagq == 1
              else f"adaptive Gauss-Hermite quadrature, nagq = {fit.nagq}")
    groups = ", ".join(f"{g}, {count}" for g, count in fit.ngroups.items())
    rows = [f" {r.grp:<10} {r.var1:<14} {r.sdcor:9.4g}" for r in fit.varcorr.itertuples()
            if r.var2 == ""]
    notes = [] if fit.converged else ["Warning: the optimizer did not converge."]
    notes += ["Note: boundary (singular) fit."] if fit.singular else []
    return "\n".join([
        f"Generalized linear mixed model fit by maximum likelihood ({method}) (lmm_teach)",
        f"Family: {fit.family} ({family_named(fit.family).link})", f"Formula: {fit.formula}",
        f"AIC {fit.aic:.4f}   BIC {fit.bic:.4f}   logLik {fit.loglik:.4f}", "",
        "Random effects:", f" {'Groups':<10} {'Name':<14} {'Std.Dev.':>9}", *rows,
        f"Number of obs: {fit.nobs}, groups: {groups}", "", "Fixed effects:",
        fixed.to_string(), *notes])
