r"""The response distributions of a generalized linear mixed model (chapter 20, *The GLMM and
its integral*).

Given the random effects, the responses are independent, from an exponential family with mean
:math:`\mu_i = g^{-1}(\eta_i)`, where :math:`\eta = X\beta + Z b` is the linear predictor and
:math:`g` the link:

- **binomial**, logit link: :math:`y_i` is a proportion of :math:`N_i` trials,
  :math:`N_i y_i \sim \operatorname{Binomial}(N_i, \mu_i)`, :math:`\mu = 1 / (1 + e^{-\eta})`;
- **Poisson**, log link: :math:`y_i \sim \operatorname{Poisson}(\mu_i)`, :math:`\mu = e^\eta`.

Each family is a small frozen record of pure functions: the inverse link, its derivative
:math:`d\mu/d\eta`, the variance function :math:`v(\mu)`, and the log-density
:math:`\log p(y_i \mid \mu_i)` with every constant kept. Nothing here knows about random
effects: chapter 20 builds PIRLS (:mod:`lmm_teach.pirls`) from these pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import special


@dataclass(frozen=True)
class Family:
    r"""A response distribution and its canonical link. ``N`` is the number of trials of a
    binomial response and 1 for a Poisson one. Chapter 20."""

    name: str
    link: str
    linkinv: Callable[[np.ndarray], np.ndarray]             # eta -> mu
    mu_eta: Callable[[np.ndarray], np.ndarray]              # d mu / d eta, as a function of mu
    variance: Callable[[np.ndarray], np.ndarray]            # V(mu)
    log_kernel: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]   # y, mu, N
    log_constant: Callable[[np.ndarray, np.ndarray], np.ndarray]             # y, N

    def log_density(self, y: np.ndarray, mu: np.ndarray, N: np.ndarray) -> np.ndarray:
        r""":math:`\log p(y_i \mid \mu_i)`, each row: the kernel, which depends on
        :math:`\mu`, plus the constant, which does not."""
        return self.log_kernel(y, mu, N) + self.log_constant(y, N)


def binomial_log_kernel(y: np.ndarray, mu: np.ndarray, N: np.ndarray) -> np.ndarray:
    r"""The part of :math:`\log p(y \mid \mu) = \log\binom{N}{Ny} + Ny\log\mu +
    N(1-y)\log(1-\mu)` that depends on :math:`\mu`, with :math:`y` the proportion of
    successes in :math:`N` trials (R's ``dbinom(N y, N, mu, log = TRUE)`` is the sum of this
    and :func:`binomial_log_constant`). Chapter 20."""
    return special.xlogy(N * y, mu) + special.xlog1py(N * (1 - y), -mu)


def binomial_log_constant(y: np.ndarray, N: np.ndarray) -> np.ndarray:
    r""":math:`\log\binom{N}{Ny}`, the part of the binomial log-density free of :math:`\mu`.
    Chapter 20."""
    return special.gammaln(N + 1) - special.gammaln(N * y + 1) - special.gammaln(N * (1 - y) + 1)


def poisson_log_kernel(y: np.ndarray, mu: np.ndarray, N: np.ndarray) -> np.ndarray:
    r"""The part of :math:`\log p(y \mid \mu) = y\log\mu - \mu - \log y!` that depends on
    :math:`\mu` (R's ``dpois(y, mu, log = TRUE)`` adds :func:`poisson_log_constant`); ``N`` is
    unused (always 1). Chapter 20."""
    return special.xlogy(y, mu) - mu


def poisson_log_constant(y: np.ndarray, N: np.ndarray) -> np.ndarray:
    r""":math:`-\log y!`. Chapter 20."""
    return -special.gammaln(y + 1)


ETA_LIMIT = 700.0    # exp(700) is about 1e304: beyond it e^eta overflows


def _exp(eta: np.ndarray) -> np.ndarray:
    """:math:`e^\\eta`, with :math:`\\eta` kept below ``ETA_LIMIT`` so that it stays finite."""
    return np.exp(np.minimum(eta, ETA_LIMIT))


MU_FLOOR = 1e-300    # mu and 1 - mu never reach 0: their logs and the weights stay finite


def _logistic(eta: np.ndarray) -> np.ndarray:
    """:math:`1 / (1 + e^{-\\eta})`, kept inside :math:`(0, 1)`."""
    return np.clip(special.expit(eta), MU_FLOOR, 1 - np.finfo(float).epsneg)


BINOMIAL = Family("binomial", "logit", _logistic, lambda mu: mu * (1 - mu),
                  lambda mu: mu * (1 - mu), binomial_log_kernel, binomial_log_constant)
POISSON = Family("poisson", "log", lambda eta: np.maximum(_exp(eta), MU_FLOOR), lambda mu: mu,
                 lambda mu: mu, poisson_log_kernel, poisson_log_constant)
FAMILIES = {"binomial": BINOMIAL, "poisson": POISSON}


def family(name: str | Family) -> Family:
    """The family called ``name`` (``"binomial"`` or ``"poisson"``, in any case, as a reader
    may write R's ``Poisson``), or a ValueError naming the ones there are. Chapter 20."""
    if isinstance(name, Family):
        return name
    key = name.lower() if isinstance(name, str) else name
    if key not in FAMILIES:
        raise ValueError(f"unknown family {name!r}; the families are "
                         f"{', '.join(repr(f) for f in FAMILIES)}")
    return FAMILIES[key]


def log_likelihood_given_b(fam: Family, y: np.ndarray, mu: np.ndarray, N: np.ndarray) -> float:
    r""":math:`\log p(y \mid b) = \sum_i \log p(y_i \mid \mu_i)`, the first factor of the joint
    density :math:`f(y, b) = p(y \mid b)\, \varphi(b)` (``eq-ch20-joint``). Chapter 20."""
    return float(np.sum(fam.log_density(y, mu, N)))


def deviance_residuals(fam: Family, y: np.ndarray, mu: np.ndarray, N: np.ndarray) -> np.ndarray:
    r""":math:`d_i = 2[\log p(y_i \mid \mu_i = y_i) - \log p(y_i \mid \mu_i)]`: twice the
    log-likelihood lost against the saturated model, which fits every :math:`y_i` exactly
    (R's ``family$dev.resids``). Their sum is the conditional deviance. Chapter 21."""
    saturated = fam.log_density(y, np.clip(y, MU_FLOOR, None), N)
    return 2 * (saturated - fam.log_density(y, mu, N))


def working_weights(fam: Family, mu: np.ndarray, N: np.ndarray) -> np.ndarray:
    r"""The IRLS weights :math:`w_i = N_i\, (d\mu_i/d\eta_i)^2 / v(\mu_i)`: for the canonical
    links here, :math:`N_i \mu_i (1 - \mu_i)` (binomial) and :math:`\mu_i` (Poisson), the
    negative second derivative of :math:`\log p(y_i \mid \eta_i)` in :math:`\eta_i`.
    Chapter 20 (``eq-ch20-weights``)."""
    return N * fam.mu_eta(mu) ** 2 / fam.variance(mu)


def working_residuals(fam: Family, y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    r""":math:`(y_i - \mu_i) / (d\mu_i/d\eta_i)`: the residual on the scale of :math:`\eta`.
    Added to :math:`\eta` it gives IRLS's working response. Chapter 20."""
    return (y - mu) / fam.mu_eta(mu)
