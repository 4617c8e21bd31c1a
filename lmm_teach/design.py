r"""From a formula and a data frame to :math:`y`, :math:`X`, a sparse :math:`Z` and the terms
that shape :math:`\Lambda_\theta` (chapter 11, *Covariance structures*; lme4's ``lFormula``).

A random term :math:`(\text{expr} \mid g)` with :math:`k` columns in its model matrix
:math:`X_i` and :math:`\ell` levels of :math:`g` gives a block :math:`Z_i` of :math:`\ell k`
columns, ordered by level and, within a level, by column:

.. math::

    (Z_i)_{r,\,jk + c} = (X_i)_{r c}\,[\,g_r = \text{level } j\,].

:math:`Z = [Z_1, \dots, Z_m]`, with the terms sorted by decreasing number of levels, as lme4
does whenever that order is not already the given one (Bates et al. 2015, section 2.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix
from scipy import sparse

from lmm_teach._checks import warn_user
from lmm_teach.formula import ParsedFormula, RandomTerm, parse_formula


@dataclass(frozen=True)
class TermDesign:
    """One random term after it met the data: its columns, its levels, its block of Z."""

    name: str
    group: str
    columns: tuple[str, ...]
    levels: tuple[str, ...]
    Z: sparse.csc_matrix

    @property
    def k(self) -> int:
        """Random effects per level (columns of the term's model matrix)."""
        return len(self.columns)


@dataclass(frozen=True)
class Design:
    """Everything the deviance needs: y, X (dense), Z (sparse) and the random terms."""

    formula: str
    y: np.ndarray
    X: np.ndarray
    fixed_names: tuple[str, ...]
    Z: sparse.csc_matrix
    terms: tuple[TermDesign, ...]


def _used_columns(parsed: ParsedFormula) -> list[str]:
    """Every data column the formula names, response first."""
    columns = [parsed.response, *sorted(Formula(parsed.fixed).required_variables)]
    for term in parsed.random:
        columns += sorted(Formula(term.expr).required_variables) + list(term.group_columns)
    return list(dict.fromkeys(columns))


def model_frame(parsed: ParsedFormula, data: pd.DataFrame) -> pd.DataFrame:
    """The rows and columns the model uses, after checks; incomplete rows dropped with a warning.

    Chapter 11. Raises ``TypeError`` for data that is not a DataFrame and ``ValueError`` naming
    a missing column, a non-numeric response, an infinite value or empty data.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    columns = _used_columns(parsed)
    missing = [column for column in columns if column not in data.columns]
    if missing:
        raise ValueError(f"column(s) {missing} named in the formula are not in the data")
    frame = data[columns]
    incomplete = frame.isna().any(axis=1)
    if incomplete.any():
        named = [column for column in columns if frame[column].isna().any()]
        warn_user(f"dropped {int(incomplete.sum())} row(s) with missing values in {named}")
        frame = frame[~incomplete]
    if len(frame) == 0:
        raise ValueError("no rows to fit: the data are empty (after dropping missing values)")
    return _checked_values(frame, parsed.response)


def _checked_values(frame: pd.DataFrame, response: str) -> pd.DataFrame:
    """Raise if the response is not numeric or any numeric column holds an infinite value."""
    is_numeric = pd.api.types.is_numeric_dtype(frame[response])
    if not is_numeric or pd.api.types.is_bool_dtype(frame[response]):
        raise ValueError(f"response {response!r} must be numeric, but its dtype is {frame[response].dtype}")
    for column in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[column]) and np.isinf(frame[column].to_numpy(float)).any():
            raise ValueError(f"column {column!r} holds infinite values")
    return frame.reset_index(drop=True)


def _named_matrix(formula: str, frame: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...]]:
    """formulaic's model matrix, with the intercept named ``(Intercept)`` as in lme4."""
    matrix = model_matrix(formula, frame)
    names = tuple("(Intercept)" if name == "Intercept" else name for name in matrix.columns)
    return np.asarray(matrix, dtype=float), names


def full_rank_columns(X: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Drop each column of X that is a linear combination of the columns before it, with a warning.

    lme4 does the same (``lmer`` reports "fixed-effect model matrix is rank deficient").
    Chapter 11.
    """
    keep: list[int] = []
    for j in range(X.shape[1]):
        if np.linalg.matrix_rank(X[:, keep + [j]]) == len(keep) + 1:
            keep.append(j)
    dropped = [names[j] for j in range(X.shape[1]) if j not in keep]
    if dropped:
        warn_user(f"the fixed-effects matrix is rank deficient: dropped column(s) {dropped}")
    return X[:, keep], tuple(names[j] for j in keep)


def grouping_factor(columns: tuple[str, ...], frame: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...]]:
    """Level codes and level names of a grouping factor (an interaction for ``a:b``). Chapter 11.

    Levels of one column sort as pandas sorts them (numbers as numbers); levels of an
    interaction are the combinations that occur, sorted as text, written ``a_level:b_level``.
    """
    values = frame[columns[0]] if len(columns) == 1 else frame[list(columns)].astype(str).agg(":".join, axis=1)
    factor = pd.Categorical(values)
    name = ":".join(columns)
    if len(factor.categories) < 2:
        raise ValueError(f"grouping factor {name!r} has {len(factor.categories)} level; it needs at least 2")
    if len(factor.categories) >= len(frame):
        raise ValueError(f"grouping factor {name!r} has as many levels as observations "
                         f"({len(frame)}): its variance cannot be told apart from the residual")
    return factor.codes.astype(int), tuple(str(level) for level in factor.categories)


def term_design(term: RandomTerm, frame: pd.DataFrame) -> TermDesign:
    """The block :math:`Z_i` of one random term (equation ``eq-Zi``). Chapter 11."""
    X_i, columns = _named_matrix(term.expr, frame)
    if X_i.shape[1] == 0:
        raise ValueError(f"the random term {term.name} has no columns")
    codes, levels = grouping_factor(term.group_columns, frame)
    k, rows = X_i.shape[1], np.repeat(np.arange(len(frame)), X_i.shape[1])
    cols = (codes[:, None] * k + np.arange(k)).ravel()
    Z_i = sparse.csc_matrix((X_i.ravel(), (rows, cols)), shape=(len(frame), len(levels) * k))
    return TermDesign(term.name, term.group, columns, levels, Z_i)


def lme4_term_order(n_levels: list[int]) -> list[int]:
    """lme4's order of the terms: decreasing number of levels, if that is not already the order.

    lme4's ``mkReTrms`` reorders only when some term has more levels than the term before it,
    and then uses ``rev(order(nl))``, so ties come out reversed. Chapter 11.
    """
    if not any(later > earlier for earlier, later in zip(n_levels, n_levels[1:])):
        return list(range(len(n_levels)))
    ascending = sorted(range(len(n_levels)), key=lambda i: n_levels[i])  # stable, as R's order
    return ascending[::-1]


def model_matrices(formula: str, data: pd.DataFrame) -> Design:
    """Stage 1 of the engine: formula and data give :math:`y`, :math:`X`, :math:`Z` and the terms.

    Chapter 11, *Covariance structures* (lme4's ``lFormula``).
    """
    parsed = parse_formula(formula)
    frame = model_frame(parsed, data)
    X, fixed_names = full_rank_columns(*_named_matrix(parsed.fixed, frame))
    terms = [term_design(term, frame) for term in parsed.random]
    terms = [terms[i] for i in lme4_term_order([len(t.levels) for t in terms])]
    Z = sparse.hstack([t.Z for t in terms], format="csc")
    y = frame[parsed.response].to_numpy(dtype=float)
    return Design(formula, _not_fitted_exactly(y, X, parsed.response), X, fixed_names, Z, tuple(terms))


def _not_fitted_exactly(y: np.ndarray, X: np.ndarray, response: str) -> np.ndarray:
    """y, or a ValueError when the fixed effects alone fit it exactly (the deviance is then -inf)."""
    residual = y - X @ np.linalg.lstsq(X, y, rcond=None)[0] if X.shape[1] else y
    if residual @ residual <= 1e-20 * max(y @ y, 1.0):
        raise ValueError(f"the fixed effects fit the response {response!r} exactly (is it constant?): "
                         "there is no variation left for the random effects and the residual")
    return y


def term_summary(design: Design) -> pd.DataFrame:
    r"""One row per random term: its group, its effects (the columns of :math:`X_i`), its
    :math:`\ell_i` levels, :math:`k_i`, the columns of :math:`Z_i` and the size of its slice of
    :math:`\theta`. Chapter 11.

    .. math::

        \text{columns of } Z_i = \ell_i k_i, \qquad
        \text{size of } \theta_i = \frac{k_i (k_i + 1)}{2}

    (equation ``eq-Zi``; :math:`T_i` is lower triangular). The rows follow the order of the
    terms in :math:`Z`, which is lme4's order.
    """
    if not isinstance(design, Design):
        raise ValueError(f"design must be a Design from model_matrices, not {type(design).__name__}")
    return pd.DataFrame(
        [dict(term=t.name, group=t.group, effects=", ".join(t.columns), levels=len(t.levels),
              k=t.k, Z_columns=t.Z.shape[1], theta_size=t.k * (t.k + 1) // 2) for t in design.terms]
    )
