"""lmm_teach: how linear mixed models are fitted, one small function per step of the derivation.

The modules follow the chapters of the book:

- ``lmm_teach.data``: the data sets (shipped with the package) and lme4's reference fits
- ``lmm_teach.model``: chapter 2, the model y = X beta + Z b + e, its matrices X and Z, and V
- ``lmm_teach.joint``: chapter 3, the joint density log f(y, b)
- ``lmm_teach.laplace``: chapter 4, integrating b out; the marginal likelihood
- ``lmm_teach.henderson``: chapter 5, Henderson's mixed-model equations and GLS
- ``lmm_teach.ml``: chapter 6, maximum likelihood over the variance parameters
- ``lmm_teach.inference``: chapter 7, standard errors, Wald tests and intervals for beta
- ``lmm_teach.errata``: chapter 8, the source post's mistakes, kept runnable

Part II, the general engine (lme4's four stages; ``lmm_teach.fit`` runs them all):

- ``lmm_teach.reml``: chapter 9, restricted maximum likelihood (integrating beta out too)
- ``lmm_teach.pls``: chapter 10, penalized least squares and the profiled deviance
- ``lmm_teach.formula``, ``lmm_teach.design``: chapter 11, formulas, X, sparse Z, the terms
- ``lmm_teach.optimizer``: chapter 13, the bounded optimizer, singular fits
- ``lmm_teach.expressions``: chapter 14, R's meaning of ``I(x^2)``, ``log``, ``factor``,
  ``scale``, ``poly`` in a formula
- ``lmm_teach.lmer``: the fitted model and ``fit(formula, data, reml=True, weights=None,
  engine="fast")``

Part III, after the fit (what a course asks of a fitted model):

- ``lmm_teach.fixed_inference``: chapter 15, Wald and Satterthwaite tables for the fixed
  effects (``fit.coef_table``), checked against lmerTest
- ``lmm_teach.intervals``: chapter 16, Wald, profile-likelihood and bootstrap intervals for
  every parameter (``fit.confint``, ``fit.profile``) and simulated responses
  (``fit.simulate``), checked against lme4
- ``lmm_teach.comparison``: chapter 17, likelihood-ratio tables (``anova``, ``fit.anova``) with refits by
  ML where REML criteria cannot be compared, the boundary mixture and the bootstrap LRT,
  checked against lme4
- ``lmm_teach.random_effects``: chapter 18, the conditional covariances of the random effects
  (``fit.conditional_covariances``), fitted values, residuals and predictions
  (``fit.predict``), checked against lme4
- ``lmm_teach.plots``: chapters 16-18, pictures of a fit (matplotlib): caterpillar, shrinkage, profile,
  deviance contour, residual and quantile plots, fitted lines by group

Part IV, speed:

- ``lmm_teach.blocked``: chapter 19, the fast engine: blocks of [Z X y]'[Z X y] made once, a
  blocked Cholesky factor vectorized over levels (``fit``'s default; ``engine="readable"`` runs
  chapter 10's dense steps)
- ``lmm_teach.gradient``: chapter 19, the gradient of the deviance in closed form for small
  models, which lets a quasi-Newton search (``optimizer="lbfgs"``) replace BOBYQA there

Part V, beyond the Gaussian: generalized linear mixed models (``lmm_teach.fit_glmm``):

- ``lmm_teach.families``: chapter 20, the binomial and Poisson responses: densities, links,
  working weights
- ``lmm_teach.pirls``: chapter 20, penalized iteratively reweighted least squares: the
  conditional modes, readable and on the fast engine's blocks
- ``lmm_teach.quadrature``: chapter 21, the Laplace approximation and adaptive Gauss-Hermite
  quadrature of the marginal likelihood
- ``lmm_teach.glmer``: chapters 20-22, ``fit_glmm(formula, data, family, nagq, weights)`` and
  the fitted model, checked against lme4's ``glmer``
"""

from lmm_teach import data, errata, henderson, inference, joint, laplace, ml, model
from lmm_teach import blocked, comparison, design, expressions, fixed_inference, formula
from lmm_teach import gradient, intervals, lmer, optimizer, plots, pls, random_effects, reml
from lmm_teach import families, glmer, pirls, quadrature
from lmm_teach.glmer import GlmmFit, fit_glmm
from lmm_teach.lmer import LmmFit, fit

__all__ = ["data", "model", "joint", "laplace", "henderson", "ml", "inference", "errata",
           "reml", "pls", "formula", "design", "optimizer", "expressions", "lmer", "blocked",
           "gradient", "fixed_inference", "intervals", "comparison", "random_effects",
           "plots", "families", "pirls", "quadrature", "glmer", "fit", "fit_glmm",
           "LmmFit", "GlmmFit"]
__version__ = "0.1.0"
