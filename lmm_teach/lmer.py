r"""The fitted model, and ``fit``: the four stages in one call (chapter 10; lme4's ``mkMerMod``).

``fit(formula, data)`` runs the stages that the chapters take one at a time:

1. :func:`lmm_teach.design.model_matrices`: formula and data give :math:`y, X, Z` and the terms;
2. :func:`lmm_teach.pls.profiled_deviance`: a function of :math:`\theta` alone;
3. :func:`lmm_teach.optimizer.optimize_theta`: its minimum;
4. :func:`make_fit`: :math:`\hat\theta` gives :math:`\hat\beta`, :math:`\hat\sigma`, the
   conditional modes and the standard errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import linalg

from lmm_teach import fixed_inference, intervals, random_effects
from lmm_teach._checks import read_only_copies
from lmm_teach.blocked import BlockedSolution, solve_blocked
from lmm_teach.design import Design, TermDesign, model_matrices, term_labels
from lmm_teach.optimizer import ThetaOptimum, deviance_function, is_singular, optimize_theta
from lmm_teach.pls import PLSSolution, sigma2_hat, solve_pls, term_factor, theta_lower, theta_slices


class EffectsTables:
    """The tables that a fitted linear and a fitted generalized linear mixed model share,
    made from their fields ``fixed_names``, ``beta_values``, ``cov_beta_values``,
    ``varcorr_rows`` and ``ranef_blocks``: new pandas objects on every access, so that
    changing one changes nothing in the fit. Chapters 10 and 22."""

    @property
    def beta(self) -> pd.Series:
        """Fixed effects, indexed by column name, in model-matrix order."""
        return pd.Series(self.beta_values, index=list(self.fixed_names))

    @property
    def cov_beta(self) -> pd.DataFrame:
        """Covariance of the fixed effects: :math:`\\hat\\sigma^2 (R_X^\\top R_X)^{-1}` for a
        linear mixed model, from the Hessian of the deviance for a GLMM (lme4's ``vcov``)."""
        names = list(self.fixed_names)
        return pd.DataFrame(self.cov_beta_values, index=names, columns=names)

    @property
    def se_beta(self) -> pd.Series:
        """Standard errors of the fixed effects (square roots of the diagonal of ``cov_beta``)."""
        return pd.Series(np.sqrt(np.diag(self.cov_beta_values)), index=list(self.fixed_names))

    @property
    def varcorr(self) -> pd.DataFrame:
        """Variances and correlations, like lme4's ``as.data.frame(VarCorr(fit))`` (a GLMM has
        no residual row)."""
        return pd.DataFrame(list(self.varcorr_rows),
                            columns=["grp", "var1", "var2", "vcov", "sdcor"])

    @property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes, one table per grouping factor (lme4's ``ranef``)."""
        return {group: pd.DataFrame(values, index=pd.Index(list(levels), name=group),
                                    columns=list(columns))
                for group, levels, columns, values in self.ranef_blocks}


@dataclass(frozen=True, repr=False)
class LmmFit(EffectsTables):
    """A fitted linear mixed model. Validated against lme4 1.1-31 (``lmer``) on six data sets.

    ``loglik`` is the log-likelihood (ML) or the log restricted likelihood (REML), on lme4's
    scale; ``deviance`` is :math:`-2` times it (for REML, lme4's "REML criterion"). The fit is
    immutable: its arrays are read-only, and ``beta``, ``se_beta``, ``cov_beta``, ``varcorr`` and
    ``ranef`` build new pandas objects on every access, so changing one changes nothing here.
    """

    formula: str
    reml: bool
    loglik: float
    deviance: float
    aic: float
    bic: float
    fixed_names: tuple[str, ...]
    beta_values: np.ndarray
    cov_beta_values: np.ndarray
    sigma: float
    theta: np.ndarray
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
        method = "REML" if self.reml else "ML"
        return f"<LmmFit {self.formula!r} by {method}: loglik {self.loglik:.4f}>"

    def coef_table(self, ddf: str = "wald") -> pd.DataFrame:
        """The fixed effects with estimate, se, df, t and p; ``ddf="satterthwaite"`` for
        lmerTest's degrees of freedom (:func:`lmm_teach.fixed_inference.coef_table`)."""
        return fixed_inference.coef_table(self, ddf)

    def confint(self, method: str = "wald", level: float = 0.95, nsim: int = 500,
                seed: int | None = None) -> pd.DataFrame:
        """Confidence intervals named as lme4 names them: ``"wald"``, ``"profile"`` or
        ``"bootstrap"`` (``nsim`` replicates, ``seed``; :func:`lmm_teach.intervals.confint`)."""
        return intervals.confint(self, method, level, nsim, seed)

    def profile(self, level: float = 0.99, n_points: int = 9) -> pd.DataFrame:
        """The zeta curves of every parameter (:func:`lmm_teach.intervals.profile`)."""
        return intervals.profile(self, level, n_points)

    def simulate(self, nsim: int = 1, seed: int | None = None) -> np.ndarray:
        """Responses drawn from the fitted model (:func:`lmm_teach.intervals.simulate`)."""
        return intervals.simulate(self, nsim, seed)

    def conditional_covariances(self) -> dict[str, np.ndarray]:
        """:math:`\\operatorname{Var}(b_{i,j} \\mid y)` per level, a :math:`(J_i, k_i, k_i)`
        array per term, keyed like ``varcorr``'s groups (lme4's ``ranef(condVar = TRUE)``
        ``postVar``; :func:`lmm_teach.random_effects.conditional_covariances`)."""
        stacks = random_effects.conditional_covariances(self.theta, self.sigma, self.design.gram)
        return dict(zip(term_labels(self.design.terms), (np.array(s) for s in stacks)))

    def predict(self, newdata: pd.DataFrame | None = None, random: bool = True) -> np.ndarray:
        """Predictions, with (``random=True``) or without the random effects; a group the
        fit never saw contributes 0 (:func:`lmm_teach.random_effects.predict`)."""
        return random_effects.predict(self, newdata, random)

    def fitted(self) -> np.ndarray:
        """:math:`X\\hat\\beta + Z\\hat b` for the rows the fit used."""
        return random_effects.fitted_values(self)

    def residuals(self, kind: str = "conditional") -> np.ndarray:
        """Conditional (:math:`y - X\\hat\\beta - Z\\hat b`) or marginal
        (:math:`y - X\\hat\\beta`) residuals (:func:`lmm_teach.random_effects.residuals`)."""
        return random_effects.residuals(self, kind)

    def anova(self, *others: "LmmFit", refit: object = "auto") -> pd.DataFrame:
        """The likelihood-ratio table of this fit and ``others``
        (:func:`lmm_teach.comparison.anova`)."""
        from lmm_teach.comparison import anova     # comparison refits, so it needs this module
        return anova(self, *others, refit=refit)

    def summary(self) -> str:
        """A table like lme4's ``summary()``: the random effects, then the fixed effects.

        Standard deviations and fixed effects are shown to 4 significant digits, as lme4 shows
        its coefficients: more would print where the optimizer happened to stop, which differs
        between machines. The exact numbers are the fit's fields.
        """
        return _summary_text(self)


def cov_beta(solution: PLSSolution | BlockedSolution, sigma2: float) -> np.ndarray:
    r""":math:`\operatorname{Var}(\hat\beta) = \sigma^2 (R_X^\top R_X)^{-1}` (``eq-pls-cov-beta``). Chapter 10."""
    R_X_inv = linalg.solve_triangular(solution.R_X, np.eye(solution.R_X.shape[0]))
    return sigma2 * R_X_inv @ R_X_inv.T


def term_covariance(T: np.ndarray, sigma2: float) -> np.ndarray:
    r"""A term's covariance of its :math:`k` random effects, :math:`\sigma^2 T_i T_i^\top`. Chapter 10."""
    return sigma2 * T @ T.T


def _varcorr_rows(group: str, columns: tuple[str, ...], cov: np.ndarray) -> list[dict]:
    """lme4's as.data.frame(VarCorr(fit)) rows of one term: variances, then correlations."""
    sd = np.sqrt(np.diag(cov))
    rows = [dict(grp=group, var1=c, var2="", vcov=cov[i, i], sdcor=sd[i]) for i, c in enumerate(columns)]
    for i, j in zip(*np.tril_indices(len(columns), -1)[::-1]):
        correlation = cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan
        rows.append(dict(grp=group, var1=columns[i], var2=columns[j], vcov=cov[i, j], sdcor=correlation))
    return rows


def varcorr_table(theta: np.ndarray, sigma: float, terms: tuple[TermDesign, ...]) -> pd.DataFrame:
    """Standard deviations and correlations per term, then the residual, as lme4 lists them.

    A correlation with a zero standard deviation is undefined and shown as NaN. Chapter 10.
    """
    rows = []
    for term, s, label in zip(terms, theta_slices(terms), term_labels(terms)):
        cov = term_covariance(term_factor(theta[s], term.k), sigma**2)
        rows += _varcorr_rows(label, term.columns, cov)
    rows.append(dict(grp="Residual", var1="", var2="", vcov=sigma**2, sdcor=sigma))
    return pd.DataFrame(rows)


def ranef_tables(b: np.ndarray, terms: tuple[TermDesign, ...]) -> dict[str, pd.DataFrame]:
    """Conditional modes :math:`\\hat b = \\Lambda_\\theta \\hat u`, one table per grouping factor.

    Terms on the same factor, such as ``(1 | g) + (0 + x | g)``, share one table. Chapter 10.
    """
    tables: dict[str, list[pd.DataFrame]] = {}
    offsets = np.cumsum([0] + [len(t.levels) * t.k for t in terms])
    for term, start in zip(terms, offsets):
        block = b[start:start + len(term.levels) * term.k].reshape(len(term.levels), term.k)
        frame = pd.DataFrame(block, index=pd.Index(term.levels, name=term.group), columns=list(term.columns))
        tables.setdefault(term.group, []).append(frame)
    return {group: pd.concat(frames, axis=1) for group, frames in tables.items()}


def information_criteria(deviance: float, n_parameters: int, n: int) -> tuple[float, float]:
    """AIC :math:`= d + 2k` and BIC :math:`= d + k\\log n`, with :math:`k` the number of parameters.

    :math:`k = p + \\dim\\theta + 1` (the fixed effects, :math:`\\theta` and :math:`\\sigma`), as
    lme4 counts them. Chapter 10.
    """
    return deviance + 2 * n_parameters, deviance + np.log(n) * n_parameters


def make_fit(design: Design, optimum: ThetaOptimum, reml: bool, engine: str = "fast") -> LmmFit:
    """Stage 4 of the engine: the fitted model at :math:`\\hat\\theta` (lme4's ``mkMerMod``).

    :math:`\\hat\\beta`, :math:`\\hat b` and :math:`R_X` come from :func:`solve_pls`
    (``engine="readable"``, chapter 10) or :func:`lmm_teach.blocked.solve_blocked`
    (``"fast"``, chapter 19). Chapter 10.
    """
    deviance_function(engine)                      # a clear error for an unknown engine
    solution = (solve_blocked if engine == "fast" else solve_pls)(optimum.theta, design)
    n, p = design.X.shape
    sigma2 = sigma2_hat(solution.r2, n, p, reml)
    aic, bic = information_criteria(optimum.deviance, p + optimum.theta.size + 1, n)
    varcorr = varcorr_table(optimum.theta, np.sqrt(sigma2), design.terms)
    ranef = ranef_tables(solution.b, design.terms)
    return LmmFit(
        formula=design.formula, reml=reml, loglik=-optimum.deviance / 2, deviance=optimum.deviance,
        aic=aic, bic=bic, fixed_names=design.fixed_names, beta_values=solution.beta,
        cov_beta_values=cov_beta(solution, sigma2), sigma=float(np.sqrt(sigma2)), theta=optimum.theta,
        varcorr_rows=tuple(varcorr.itertuples(index=False, name=None)),
        ranef_blocks=tuple((g, tuple(t.index), tuple(t.columns), t.to_numpy()) for g, t in ranef.items()),
        nobs=n, ngroups=MappingProxyType({t.group: len(t.levels) for t in design.terms}),
        converged=optimum.converged, singular=is_singular(optimum.theta, theta_lower(design.terms)),
        design=design,
    )


def fit(formula: str, data: pd.DataFrame, reml: bool = True,
        weights: ArrayLike | str | None = None, engine: str = "fast",
        optimizer: str | None = None, start: str = "separate") -> LmmFit:
    r"""Fit a linear mixed model written in lme4's formula syntax, by REML (default) or ML.

    ``fit("Reaction ~ Days + (Days | Subject)", sleepstudy)`` does what lme4's
    ``lmer(Reaction ~ Days + (Days | Subject), sleepstudy)`` does, in the same four stages.
    ``weights`` (a column name, or one number per row of ``data``) are prior weights: the
    residual variance of observation :math:`i` is :math:`\sigma^2 / w_i`, as with lme4's
    ``lmer(..., weights = w)``. ``engine="fast"`` (the default) evaluates the deviance from
    blocks of :math:`[Z\ X\ y]^\top[Z\ X\ y]` made once (chapter 19); ``engine="readable"``
    runs the dense steps of chapter 10. Both give the same fit, to about :math:`10^{-8}` in
    the deviance. ``optimizer`` is ``"bobyqa"`` (NLopt's, as lme4), ``"cobyqa"`` (scipy's;
    chapter 13) or ``"lbfgs"`` (a quasi-Newton search with the analytic gradient, for the
    fast engine on models with at most 64 random effects); the default, None, takes
    ``"lbfgs"`` where it can and ``"bobyqa"`` elsewhere (chapter 19). ``start="lme4"`` begins
    the search at lme4's :math:`T_i = I`; the default may begin at the fits of each term
    alone (chapter 19, *A better start*). Chapter 10; formulas and weights in chapter 14.
    Validated
    against lme4 1.1-31 on Rail, Dyestuff, Dyestuff2, sleepstudy, Penicillin and Pastes, and on
    the formula references of ``tests/reference/lme4_formulas.json``, by ML and REML.
    """
    if not isinstance(reml, bool):
        raise TypeError(f"reml must be True or False, not {reml!r}")
    deviance_function(engine)                      # a clear error for an unknown engine
    design = model_matrices(formula, data, weights)
    if engine == "readable":
        readable_fits(design)
    optimum = optimize_theta(design, reml, engine=engine, optimizer=optimizer, start=start)
    return make_fit(design, optimum, reml, engine)


READABLE_MAX_Q = 16_384      # the readable engine's dense q x q matrix would take 2 GiB


def readable_fits(design: Design) -> None:
    """Raise a ValueError when ``engine="readable"`` would form a dense :math:`q \\times q`
    matrix of more than 2 GiB at every evaluation; the fast engine (chapter 19) needs none."""
    q = sum(len(term.levels) * term.k for term in design.terms)
    if q > READABLE_MAX_Q:
        raise ValueError(f"engine='readable' would form a dense {q:,} x {q:,} matrix "
                         f"({8 * q**2 / 2**30:.0f} GiB) at every evaluation; use the default "
                         "engine='fast' (chapter 19)")


def _random_effects_text(result: LmmFit) -> list[str]:
    """The 'Random effects' block of the summary: groups, names, standard deviations, correlations."""
    lines, previous = [f" {'Groups':<10} {'Name':<14} {'Std.Dev.':>9}  Corr"], None
    correlations = result.varcorr[result.varcorr.var2 != ""]
    for row in result.varcorr[result.varcorr.var2 == ""].itertuples():
        corr = correlations[(correlations.grp == row.grp) & (correlations.var2 == row.var1)]
        corr_text = " ".join(f"{value:5.2f}" for value in corr.sdcor)
        group = "" if row.grp == previous else row.grp
        lines.append(f" {group:<10} {row.var1:<14} {row.sdcor:9.4g}  {corr_text}".rstrip())
        previous = row.grp
    groups = ", ".join(f"{group}, {count}" for group, count in result.ngroups.items())
    return lines + [f"Number of obs: {result.nobs}, groups: {groups}"]


def _summary_text(result: LmmFit) -> str:
    """The whole summary of a fit, in lme4's layout."""
    method, criterion = ("REML", "REML criterion") if result.reml else ("maximum likelihood", "deviance")
    fixed = pd.DataFrame({"Estimate": result.beta, "Std. Error": result.se_beta,
                          "t value": result.beta / result.se_beta})
    notes = [] if result.converged else ["Warning: the optimizer did not converge."]
    notes += ["Note: boundary (singular) fit."] if result.singular else []
    return "\n".join([
        f"Linear mixed model fit by {method} (lmm_teach)", f"Formula: {result.formula}",
        f"{criterion} at convergence: {result.deviance:.4f}",
        f"AIC {result.aic:.4f}   BIC {result.bic:.4f}   logLik {result.loglik:.4f}", "",
        "Random effects:", *_random_effects_text(result), "", "Fixed effects:",
        fixed.to_string(float_format=lambda value: f"{value:.4g}") if len(fixed) else " none",
        *notes,
    ])
