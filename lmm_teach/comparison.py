r"""Comparing fitted models: lme4's likelihood-ratio table (``anova``), the :math:`\chi^2`
mixture for a variance tested at the boundary, and the parametric-bootstrap
likelihood-ratio test.

For nested models fitted to the same data, twice the difference of their log-likelihoods,
:math:`\chi^2 = 2(\ell_1 - \ell_0)`, is approximately :math:`\chi^2_\nu` with :math:`\nu` the
difference in the number of parameters, when the null hypothesis is inside the parameter
space. REML criteria are comparable only between models with the same fixed effects: the
restricted likelihood is that of :math:`y`'s projection on the complement of :math:`X`'s
columns, so another :math:`X` is another response. ``anova`` therefore refits REML fits by
ML where their fixed effects differ, and says so. AIC :math:`= d + 2k` and BIC :math:`= d +
k\log n`, with :math:`k` the number of parameters as lme4 counts them. Chapter 17.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
from scipy import stats
from tqdm import tqdm

from lmm_teach.lmer import LmmFit, information_criteria, make_fit
from lmm_teach.optimizer import optimize_theta

REFIT = ("auto", True, False)


def n_parameters(fit: LmmFit) -> int:
    r""":math:`k = p + \dim\theta + 1`: the fixed effects, :math:`\theta` and :math:`\sigma`,
    as lme4's ``npar``."""
    return len(fit.fixed_names) + fit.theta.size + 1


def refit_ml(fit: LmmFit) -> LmmFit:
    """The same model fitted by ML (the fit itself if it is by ML already), from its design:
    no data frame is needed."""
    if not fit.reml:
        return fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # the fit already warned about its model
        optimum = optimize_theta(fit.design, reml=False)
    return make_fit(fit.design, optimum, reml=False)


def _same_fixed_effects(fits: tuple[LmmFit, ...]) -> bool:
    """Whether every fit has the same X (names and values)."""
    first = fits[0]
    return all(f.fixed_names == first.fixed_names and np.array_equal(f.design.X, first.design.X)
               for f in fits[1:])


def _compared(fits: tuple[LmmFit, ...], refit: object) -> tuple[list[LmmFit], list[str]]:
    """The fits to compare and how each was fitted: ``refit="auto"`` refits REML fits by ML
    when their fixed effects differ; ``True`` always (lme4's default); ``False`` never."""
    if refit not in REFIT:
        raise ValueError(f"refit must be one of {list(REFIT)}, not {refit!r}")
    if len({f.reml for f in fits}) > 1:
        raise ValueError("the fits mix ML and REML; fit them the same way, or use refit=True")
    reml = fits[0].reml
    if reml and refit is False and not _same_fixed_effects(fits):
        raise ValueError("REML criteria of models with different fixed effects cannot be "
                         "compared: refit them by ML (refit='auto' or True)")
    if reml and (refit is True or (refit == "auto" and not _same_fixed_effects(fits))):
        return [refit_ml(f) for f in fits], ["ML (refitted from REML)"] * len(fits)
    return list(fits), ["REML" if reml else "ML"] * len(fits)


def _check_same_data(fits: tuple[LmmFit, ...]) -> None:
    """A ValueError unless every fit used the same observations."""
    y = fits[0].design.y
    if any(f.design.y.shape != y.shape or not np.array_equal(f.design.y, y) for f in fits):
        raise ValueError("the fits were made to different data (other rows or another "
                         "response): their likelihoods cannot be compared")


def anova(*fits: LmmFit, refit: object = "auto") -> pd.DataFrame:
    r"""lme4's likelihood-ratio table: one row per model, sorted by the number of parameters,
    with ``npar, AIC, BIC, logLik, deviance, Chisq, Df, p`` and ``fit`` (how the
    criterion was computed: ML, REML, or ML after refitting a REML fit). ``Chisq`` compares
    each model with the one above it, :math:`2(\ell_i - \ell_{i-1})` on ``Df`` degrees of
    freedom, :math:`p` from :math:`\chi^2_{\mathrm{Df}}`; when the tested parameter is a
    variance, the null value is on the boundary and :func:`mixture_p_value` is the better
    reference. Validated against lme4 1.1-31's ``anova`` (``tests/test_comparison.py``).
    """
    if len(fits) < 2:
        raise ValueError("anova compares two or more fits")
    if not all(isinstance(f, LmmFit) for f in fits):
        raise TypeError("anova compares results of lmm_teach.fit, not "
                        f"{[type(f).__name__ for f in fits if not isinstance(f, LmmFit)]}")
    _check_same_data(fits)
    compared, how = _compared(fits, refit)
    order = sorted(range(len(compared)), key=lambda i: n_parameters(compared[i]))
    rows, previous = [], None
    for i in order:
        f = compared[i]
        k = n_parameters(f)
        aic, bic = information_criteria(f.deviance, k, f.nobs)
        row = {"npar": k, "AIC": aic, "BIC": bic, "logLik": f.loglik, "deviance": f.deviance,
               "Chisq": np.nan, "Df": np.nan, "p": np.nan, "fit": how[i]}
        if previous is not None:
            row["Chisq"] = max(2 * (f.loglik - previous.loglik), 0.0)
            row["Df"] = k - n_parameters(previous)
            row["p"] = stats.chi2.sf(row["Chisq"], row["Df"]) if row["Df"] > 0 else np.nan
        rows.append(row)
        previous = f
    return pd.DataFrame(rows, index=[f"model {i + 1}" for i in order])


def mixture_p_value(chisq: float, df: int) -> float:
    r"""The p-value of a likelihood-ratio statistic for adding one variance component (and
    ``df - 1`` covariances with it), whose null value :math:`\sigma^2 = 0` is on the boundary:
    the 50:50 mixture :math:`\tfrac12\chi^2_{\mathrm{df}-1} + \tfrac12\chi^2_{\mathrm{df}}`
    (Self and Liang 1987; Stram and Lee 1994), :math:`\chi^2_0` the point mass at 0. It is
    about half the naive :math:`\chi^2_{\mathrm{df}}` p-value."""
    if df < 1:
        raise ValueError(f"df must be at least 1, not {df!r}")
    lower = stats.chi2.sf(chisq, df - 1) if df > 1 else float(chisq <= 0)
    return float(0.5 * lower + 0.5 * stats.chi2.sf(chisq, df))


def bootstrap_lrt(null: LmmFit, alternative: LmmFit, nsim: int, seed: int | None = None,
                  progress: bool | None = None) -> dict:
    r"""The parametric-bootstrap likelihood-ratio test: ``nsim`` responses simulated from the
    null model fitted by ML, both models refitted by ML to each, and the p-value
    :math:`(1 + \#\{\chi^{2*} \ge \chi^2\}) / (1 + n_{\mathrm{sim}})`. It needs no asymptotics
    and no boundary correction. Returns ``chisq`` (observed), ``p`` and the ``replicates``."""
    from lmm_teach.intervals import PROGRESS_FROM, simulate
    _check_same_data((null, alternative))
    null_ml, alternative_ml = refit_ml(null), refit_ml(alternative)
    observed = max(2 * (alternative_ml.loglik - null_ml.loglik), 0.0)
    y_star = simulate(null_ml, nsim, seed)
    show = nsim >= PROGRESS_FROM if progress is None else progress
    replicates = np.empty(nsim)
    for s in tqdm(range(nsim), disable=not show, desc="bootstrap LRT"):
        d0, d1 = (_ml_deviance(dataclasses.replace(f.design, y=y_star[:, s]))
                  for f in (null_ml, alternative_ml))
        replicates[s] = max(d0 - d1, 0.0)
    p = (1 + np.sum(replicates >= observed)) / (1 + nsim)
    return {"chisq": observed, "p": float(p), "replicates": replicates}


def _ml_deviance(design) -> float:
    """The minimized ML deviance of a design (boundary warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return optimize_theta(design, reml=False).deviance
