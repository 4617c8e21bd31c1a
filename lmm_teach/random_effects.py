r"""After the fit: the random effects and what the model predicts (lme4's ``ranef(condVar =
TRUE)``, ``fitted``, ``residuals``, ``predict``; chapter 18).

Given :math:`\beta` and :math:`\theta`, the spherical random effects have the conditional
distribution :math:`u \mid y \sim N(\hat u, \sigma^2 (L_\theta L_\theta^\top)^{-1})`
(chapter 12, ``eq-ch12-condvar``), so each level's random effects :math:`b_{i,j} = T_i
u_{i,j}` have

.. math::

    \operatorname{Var}(b_{i,j} \mid y) = \sigma^2\, T_i\,
        \bigl[(L_\theta L_\theta^\top)^{-1}\bigr]_{jj}\, T_i^\top,

with :math:`[\cdot]_{jj}` the :math:`k_i \times k_i` diagonal block of level :math:`j`. Only
those blocks are needed, and the blocked factor of chapter 19 gives them without the
:math:`q \times q` inverse (:func:`inverse_diagonal_blocks`).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import linalg

from lmm_teach.blocked import (
    BlockedFactor,
    GramBlocks,
    Lambda_2m_times,
    batched_forward,
    blocked_factor,
    solve_blocked,
    stack_matmul,
)
from lmm_teach.design import formula_variables, term_matrix
from lmm_teach.expressions import data_names, variable_columns
from lmm_teach.formula import model_terms, parse_expression, parse_formula
from lmm_teach.pls import term_factor, theta_slices

CHUNK_ENTRIES = 4_000_000   # columns of L_22^-1 Lambda' Z_2:m' Z_1 are made this many at a time


def first_term_blocks(factor: BlockedFactor, gram: GramBlocks) -> np.ndarray:
    r"""The diagonal blocks of :math:`(L_\theta L_\theta^\top)^{-1}` for the levels of the
    first term, :math:`(J_1, k_1, k_1)`. With :math:`L^{-1} = \begin{bmatrix} L_{11}^{-1} & 0
    \\ -L_{22}^{-1} L_{21} L_{11}^{-1} & L_{22}^{-1}\end{bmatrix}`, block :math:`j` is

    .. math::

        L_{11,j}^{-\top} L_{11,j}^{-1} + Y_j^\top Y_j, \qquad
        Y_j = L_{22}^{-1} L_{21,j} L_{11,j}^{-1}
            = \bigl(L_{22}^{-1} \Lambda_{2:m}^\top (Z_{2:m}^\top Z_1)_j\bigr)\,
              K_j^\top L_{11,j}^{-1},

    where :math:`L_{21,j} = \Lambda_{2:m}^\top (Z_{2:m}^\top Z_1)_j K_j^\top` (chapter 19).
    The :math:`q_{2:m} \times k_1` pieces are made a chunk of levels at a time. Chapter 12's
    ``eq-ch12-condvar``, by chapter 19's blocks.
    """
    J_1, k_1 = factor.L_11.shape[:2]
    L_11_inv = batched_forward(factor.L_11, np.broadcast_to(np.eye(k_1), factor.L_11.shape))
    blocks = stack_matmul(L_11_inv.swapaxes(1, 2), L_11_inv)
    if factor.K is None:
        return blocks
    G = stack_matmul(factor.K.swapaxes(1, 2), L_11_inv)              # K_j' L_11,j^-1
    q_2m = factor.L_22.shape[0]
    per_chunk = max(1, CHUNK_ENTRIES // max(1, q_2m * k_1))
    for start in range(0, J_1, per_chunk):
        levels = slice(start, min(J_1, start + per_chunk))
        columns = gram.Z2mtZ1[:, levels.start * k_1:levels.stop * k_1].toarray()
        P = linalg.solve_triangular(factor.L_22, Lambda_2m_times(factor.Lambda_2m, columns,
                                                                 True), lower=True)
        P = P.reshape(q_2m, -1, k_1)
        PtP = np.einsum("rja,rjb->jab", P, P)                        # P_j' P_j per level
        blocks[levels] += stack_matmul(G[levels].swapaxes(1, 2), stack_matmul(PtP, G[levels]))
    return blocks


def later_term_blocks(factor: BlockedFactor, gram: GramBlocks) -> list[np.ndarray]:
    r"""The diagonal blocks of :math:`(L_\theta L_\theta^\top)^{-1}` for the terms after the
    first: those of :math:`L_{22}^{-\top} L_{22}^{-1}`, one :math:`(J_i, k_i, k_i)` stack per
    term (the first term's levels come first in :math:`L_\theta`, so its rows do not
    enter)."""
    if factor.L_22.size == 0:
        return []
    L_22_inv = linalg.solve_triangular(factor.L_22, np.eye(factor.L_22.shape[0]), lower=True)
    stacks, start = [], 0
    for term in gram.terms[1:]:
        columns = L_22_inv[:, start:start + term.J * term.k].reshape(-1, term.J, term.k)
        stacks.append(np.einsum("rja,rjb->jab", columns, columns))
        start += term.J * term.k
    return stacks


def inverse_diagonal_blocks(factor: BlockedFactor, gram: GramBlocks) -> list[np.ndarray]:
    r"""The diagonal blocks of :math:`(L_\theta L_\theta^\top)^{-1}`, one
    :math:`(J_i, k_i, k_i)` stack per term, in the order of the terms."""
    return [first_term_blocks(factor, gram)] + later_term_blocks(factor, gram)


def conditional_covariances(theta: np.ndarray, sigma: float, gram: GramBlocks
                            ) -> list[np.ndarray]:
    r""":math:`\operatorname{Var}(b_{i,j} \mid y) = \sigma^2 T_i [(L_\theta
    L_\theta^\top)^{-1}]_{jj} T_i^\top` for every level of every term, one
    :math:`(J_i, k_i, k_i)` stack per term: lme4's ``attr(ranef(fit, condVar = TRUE)[[g]],
    "postVar")``. Validated against lme4 1.1-31 on Rail, sleepstudy, Penicillin and Pastes
    (``tests/test_random_effects.py``)."""
    factor = blocked_factor(theta, gram)
    stacks = []
    for term, piece, blocks in zip(gram.terms, theta_slices(gram.terms),
                                   inverse_diagonal_blocks(factor, gram)):
        T = term_factor(theta[piece], term.k)
        stacks.append(sigma**2 * stack_matmul(stack_matmul(T, blocks), T.T))
    return stacks


def fitted_values(fit) -> np.ndarray:
    r""":math:`X\hat\beta + Z\hat b`, the conditional fitted values of the rows the fit used
    (lme4's ``fitted``). Chapter 10's solution at :math:`\hat\theta`."""
    solution = solve_blocked(fit.theta, fit.design)
    return fit.design.X @ solution.beta + fit.design.Z @ solution.b


def residuals(fit, kind: str = "conditional") -> np.ndarray:
    r"""Residuals of the rows the fit used: ``"conditional"``, :math:`y - X\hat\beta -
    Z\hat b` (lme4's ``residuals``), or ``"marginal"``, :math:`y - X\hat\beta`, which
    leaves the random effects in. A ValueError names an unknown kind."""
    if kind not in ("conditional", "marginal"):
        raise ValueError(f"kind must be 'conditional' or 'marginal', not {kind!r}")
    if kind == "marginal":
        return fit.design.y - fit.design.X @ fit.beta_values
    return fit.design.y - fitted_values(fit)


STATEFUL = re.compile(r"\b(scale|poly)\(")   # their values depend on the data they saw


def prediction_frame(fit, newdata: pd.DataFrame) -> pd.DataFrame:
    r"""The variables of ``fit``'s formula (not its response) evaluated on ``newdata``, each
    factor coded with the levels it had in the fit. A ValueError names: a missing column, a
    missing value, a level of a fixed-effect factor the fit never saw, and ``scale(x)`` or
    ``poly(x, k)``, whose centring and basis come from the data they are evaluated on (R keeps
    the fitting data's; this engine does not yet)."""
    if not isinstance(newdata, pd.DataFrame):
        raise TypeError(f"newdata must be a pandas DataFrame, not {type(newdata).__name__}")
    parsed = parse_formula(fit.design.formula)
    variables = [v for v in formula_variables(parsed) if v != parsed.response]
    stateful = [v for v in variables if STATEFUL.search(v)]
    if stateful:
        raise ValueError(f"predict(newdata) cannot evaluate {stateful} on new data as R does "
                         "(with the fitting data's centre, scale or basis); precompute the "
                         "column and refit")
    groups = [c for term in parsed.random for c in term.group_columns]
    needed = list(dict.fromkeys([name for v in variables
                                 for name in data_names(parse_expression(v))] + groups))
    _check_columns(newdata, needed)
    frame = pd.concat([variable_columns(v, newdata) for v in variables]
                      + [newdata[[g for g in dict.fromkeys(groups) if g not in variables]]],
                      axis=1).reset_index(drop=True)
    return _coded_as_fitted(frame, fit.design.factor_levels, variables)


def _check_columns(newdata: pd.DataFrame, needed: list[str]) -> None:
    """A ValueError naming columns that are missing from newdata, or hold missing values."""
    missing = [c for c in needed if c not in newdata.columns]
    if missing:
        raise ValueError(f"newdata lacks the column(s) {missing} that the formula reads")
    holes = [c for c in needed if newdata[c].isna().any()]
    if holes:
        raise ValueError(f"newdata has missing values in {holes}: there is nothing to predict "
                         "from in those rows")


def _coded_as_fitted(frame: pd.DataFrame, levels: dict, variables: list[str]) -> pd.DataFrame:
    """Each factor variable recoded with the fit's levels, or a ValueError naming new ones."""
    for name in variables:
        if name in levels and name in frame.columns:
            values = frame[name].astype(str)
            unseen = sorted(set(values) - set(levels[name]))
            if unseen:
                raise ValueError(f"factor {name!r} has level(s) {unseen} that the fit never "
                                 f"saw (its levels: {list(levels[name])})")
            frame[name] = pd.Categorical(values, categories=list(levels[name]))
        elif name in frame.columns and isinstance(frame[name].dtype, pd.CategoricalDtype):
            raise ValueError(f"variable {name!r} was numeric in the fit but is not numeric "
                             "in newdata")
    return frame


def group_codes(term, frame: pd.DataFrame) -> np.ndarray:
    """The fit's level number of each row's group for ``term``, or -1 for a level the fit
    never saw, whose random effects are 0 (lme4's ``allow.new.levels = TRUE``)."""
    text = [frame[column].astype(str) for column in term.group.split(":")]
    labels = text[0].str.cat(text[1:], sep=":") if len(text) > 1 else text[0]
    number = {level: j for j, level in enumerate(term.levels)}
    return labels.map(number).fillna(-1).to_numpy(dtype=int)


def predict(fit, newdata: pd.DataFrame | None = None, random: bool = True) -> np.ndarray:
    r"""One prediction per row: :math:`x^\top\hat\beta + z^\top\hat b` (``random=True``,
    lme4's ``predict``) or :math:`x^\top\hat\beta` (``random=False``, lme4's ``re.form =
    NA``). Without ``newdata``, for the rows the fit used. In ``newdata``, a group the fit never
    saw contributes 0: the prediction for a new group is the population's (lme4's
    ``allow.new.levels = TRUE``). Validated against lme4 1.1-31's ``predict``."""
    if newdata is None:
        return fitted_values(fit) if random else fit.design.X @ fit.beta_values
    frame = prediction_frame(fit, newdata)
    parsed = parse_formula(fit.design.formula)
    X, names = term_matrix(model_terms(parsed.fixed), frame)
    eta = X[:, [names.index(name) for name in fit.fixed_names]] @ fit.beta_values
    if random:
        eta += _random_part(fit, parsed, frame)
    return eta


def conditional_modes_of(fit) -> np.ndarray:
    r""":math:`\hat b` of a fit: stored by a GLMM fit (:class:`lmm_teach.glmer.GlmmFit`),
    solved again from :math:`\hat\theta` for a linear one."""
    stored = getattr(fit, "b_values", None)
    return stored if stored is not None else solve_blocked(fit.theta, fit.design).b


def _random_part(fit, parsed, frame: pd.DataFrame) -> np.ndarray:
    """:math:`z^\\top\\hat b` for the rows of ``frame``: each term's columns times its
    level's conditional modes, 0 for a level the fit never saw."""
    b = conditional_modes_of(fit)
    expressions = {term.name: term.expr for term in parsed.random}
    part, start = np.zeros(len(frame)), 0
    for term in fit.design.terms:
        B = b[start:start + len(term.levels) * term.k].reshape(len(term.levels), term.k)
        X_i, _ = term_matrix(model_terms(expressions[term.name]), frame)
        codes = group_codes(term, frame)
        seen = codes >= 0
        part[seen] += np.sum(X_i[seen] * B[codes[seen]], axis=1)
        start += len(term.levels) * term.k
    return part
