r"""From a formula and a data frame to :math:`y`, :math:`X`, a sparse :math:`Z` and the terms
that shape :math:`\Lambda_\theta` (chapter 11, *Covariance structures*; lme4's ``lFormula``).

A random term :math:`(\text{expr} \mid g)` with :math:`k` columns in its model matrix
:math:`X_i` and :math:`J` levels of :math:`g` gives a block :math:`Z_i` of :math:`J k`
columns, ordered by level and, within a level, by column:

.. math::

    (Z_i)_{r,\,jk + c} = (X_i)_{r c}\,[\,g_r = \text{level } j\,].

:math:`Z = [Z_1, \dots, Z_m]`, with the terms sorted by decreasing number of levels, as lme4
does whenever that order is not already the given one (Bates et al. 2015, section 2.3).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse

from lmm_teach._checks import warn_user
from lmm_teach.expressions import data_names, variable_columns
from lmm_teach.formula import ModelTerms, ParsedFormula, RandomTerm, model_terms, parse_expression, parse_formula

if TYPE_CHECKING:
    from lmm_teach.blocked import GramBlocks

WEIGHTS = "(weights)"     # the model frame's column of prior weights, as R names it


@dataclass(frozen=True)
class TermDesign:
    """One random term after it met the data: its columns, its levels, and for every row the
    level it belongs to (``codes``) and its row of the term's model matrix :math:`X_i`."""

    name: str
    group: str
    columns: tuple[str, ...]
    levels: tuple[str, ...]
    codes: np.ndarray    # (n,) the level of each row, 0 .. J_i - 1
    X_i: np.ndarray      # (n, k_i) the term's model matrix

    @property
    def k(self) -> int:
        """Random effects per level (columns of the term's model matrix)."""
        return len(self.columns)

    @cached_property
    def Z(self) -> sparse.csc_matrix:
        r"""The term's block :math:`Z_i` of :math:`J_i k_i` columns (equation ``eq-Zi``), made on
        first use: the fast engine (chapter 19) never needs it.

        .. math::

            (Z_i)_{r,\,jk + c} = (X_i)_{r c}\,[\,g_r = \text{level } j\,]
        """
        n, k = self.X_i.shape
        rows, cols = np.repeat(np.arange(n), k), (self.codes[:, None] * k + np.arange(k)).ravel()
        return sparse.csc_matrix((self.X_i.ravel(), (rows, cols)), shape=(n, len(self.levels) * k))


@dataclass(frozen=True)
class Design:
    """Everything the deviance needs: y, X (dense), the random terms (Z made from them) and the
    prior weights w (all 1 unless ``weights=`` was given)."""

    formula: str
    y: np.ndarray
    X: np.ndarray
    fixed_names: tuple[str, ...]
    terms: tuple[TermDesign, ...]
    weights: np.ndarray | None = None
    factor_levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.weights is None:
            object.__setattr__(self, "weights", np.ones(self.y.shape[0]))

    @cached_property
    def Z(self) -> sparse.csc_matrix:
        """:math:`Z = [Z_1, \\dots, Z_m]`, sparse, made on first use. Chapter 11."""
        return sparse.hstack([t.Z for t in self.terms], format="csc")

    @cached_property
    def gram(self) -> GramBlocks:
        """The blocks of :math:`[Z\\ X\\ y]^\\top [Z\\ X\\ y]` that the fast engine needs,
        made once, on first use (chapter 19, :func:`lmm_teach.blocked.gram_blocks`)."""
        from lmm_teach.blocked import gram_blocks   # the fast engine builds on this module

        return gram_blocks(self)


def formula_variables(parsed: ParsedFormula) -> list[str]:
    """Every variable of the formula, each once: the response, the fixed part, the random terms.

    Chapter 14: a variable is a column or a function of columns, such as ``log(y)`` or ``I(x^2)``.
    """
    variables = [parsed.response, *model_terms(parsed.fixed).variables]
    for term in parsed.random:
        variables += model_terms(term.expr).variables
    return list(dict.fromkeys(variables))


def used_columns(parsed: ParsedFormula) -> list[str]:
    """Every data column any expression reads (grouping factors included), response first."""
    columns = [name for variable in formula_variables(parsed)
               for name in data_names(parse_expression(variable))]
    return list(dict.fromkeys(columns + [c for term in parsed.random for c in term.group_columns]))


def _weights_column(weights: object, data: pd.DataFrame) -> pd.Series | None:
    """Prior weights as a float column aligned with ``data``; NaN where a weights column is missing."""
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in data.columns:
            raise ValueError(f"weights column {weights!r} is not in the data")
        values, name = data[weights], f"weights column {weights!r}"
    else:
        values, name = pd.Series(np.asarray(weights).ravel() if np.ndim(weights) else [weights]), "weights"
        if np.ndim(weights) != 1 or len(values) != len(data):
            raise ValueError(f"weights must be one number per row of the data ({len(data)}), "
                             f"but have shape {np.shape(weights)}")
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise ValueError(f"{name} must be numeric, but its dtype is {values.dtype}")
    if not isinstance(weights, str) and values.isna().any():
        raise ValueError(f"weights hold {int(values.isna().sum())} missing (NaN) value(s)")
    return pd.Series(values.to_numpy(dtype=float, na_value=np.nan), index=data.index, name=WEIGHTS)


def check_weights(w: np.ndarray) -> np.ndarray:
    r"""Prior weights must be finite and positive; lme4 refuses negative ones and reports a
    log-likelihood of -Inf with a zero weight (:math:`\log w_i` enters the deviance). Chapter 14."""
    for bad, what in [(~np.isfinite(w), "infinite"), (w < 0, "negative"), (w == 0, "zero")]:
        if bad.any():
            hint = "; drop those rows instead" if what == "zero" else ""
            raise ValueError(f"weights must be positive and finite, but {int(bad.sum())} are "
                             f"{what}{hint}")
    return w


def _no_infinite_columns(raw: pd.DataFrame) -> None:
    """Raise naming the first numeric data column that holds an infinite value."""
    for column in raw.columns:
        if pd.api.types.is_numeric_dtype(raw[column]):
            if np.isinf(raw[column].to_numpy(dtype=float, na_value=np.nan)).any():
                raise ValueError(f"column {column!r} holds infinite values")


def _finite_variables(frame: pd.DataFrame) -> pd.DataFrame:
    """Raise naming a numeric variable that is not finite on a complete row (log of 0, say):
    R would give it NaN or -Inf, which lme4 cannot fit."""
    for column in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[column]):
            bad = ~np.isfinite(frame[column].to_numpy(dtype=float))
            if bad.any():
                raise ValueError(f"variable {column!r} holds non-finite values in {int(bad.sum())} "
                                 "row(s) (such as log of 0 or of a negative number)")
    return frame


def _evaluated(parsed: ParsedFormula, raw: pd.DataFrame) -> pd.DataFrame:
    """Every variable evaluated on all rows (before any row is dropped, as R's model.frame does),
    then the grouping columns that are not variables themselves."""
    variables = formula_variables(parsed)
    blocks = [variable_columns(variable, raw) for variable in variables]
    groups = [c for term in parsed.random for c in term.group_columns if c not in variables]
    return pd.concat(blocks + [raw[list(dict.fromkeys(groups))]], axis=1)


def _complete_rows(raw: pd.DataFrame, w: pd.Series | None, weights: object) -> pd.Series:
    """Rows with no missing value in any column the model reads (weights included); warns
    naming the columns when some rows are dropped, and raises when none is left."""
    missing = raw.isna()
    if w is not None:
        missing[str(weights)] = w.isna()
    incomplete = missing.any(axis=1)
    if incomplete.any():
        named = [column for column in missing.columns if missing[column].any()]
        warn_user(f"dropped {int(incomplete.sum())} row(s) with missing values in {named}")
    if incomplete.all():
        raise ValueError("no rows to fit: the data are empty (after dropping missing values)")
    return ~incomplete


def model_frame(parsed: ParsedFormula, data: pd.DataFrame, weights: ArrayLike | str | None = None
                ) -> pd.DataFrame:
    """R's model frame: one column per variable (named as R names it, such as ``log(y)``,
    ``I(x^2)``, ``poly(x, 2)1``), the grouping columns and ``(weights)``; rows with a missing
    value in any column the model reads are dropped, with a warning naming those columns.

    Variables are evaluated on all rows first, as in R: ``scale(x)`` uses the rows dropped
    later. Chapters 11 and 14. Raises ``TypeError`` for data that is not a DataFrame and
    ``ValueError`` naming a missing column, a non-numeric response, an infinite value, bad
    weights or empty data.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    columns = used_columns(parsed)
    missing = [column for column in columns if column not in data.columns]
    if missing:
        raise ValueError(f"column(s) {missing} named in the formula are not in the data")
    w, raw = _weights_column(weights, data), data[columns]
    _no_infinite_columns(raw)
    if len(raw) == 0:
        raise ValueError("no rows to fit: the data are empty (after dropping missing values)")
    evaluated = _evaluated(parsed, raw)                  # on all rows, as R's model.frame
    complete = _complete_rows(raw, w, weights)
    frame = _finite_variables(evaluated[complete].reset_index(drop=True))
    if w is not None:
        frame[WEIGHTS] = check_weights(w[complete].to_numpy())
    return _checked_response(_drop_unused_levels(frame), parsed.response)


def _drop_unused_levels(frame: pd.DataFrame) -> pd.DataFrame:
    """Factors keep only the levels that occur in the rows kept (R's drop.unused.levels)."""
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].cat.remove_unused_categories()
    return frame


def _checked_response(frame: pd.DataFrame, response: str) -> pd.DataFrame:
    """Raise unless the response is numeric."""
    if not pd.api.types.is_numeric_dtype(frame[response]):
        raise ValueError(f"response {response!r} must be numeric, but it is a factor "
                         f"(levels {list(frame[response].cat.categories[:3])}...)")
    return frame


def _variable_columns(variable: str, frame: pd.DataFrame) -> list[str]:
    """The frame's columns of one variable: itself, or ``poly(x, 2)1``, ``poly(x, 2)2``, ..."""
    if variable in frame.columns:
        return [variable]
    return [c for c in frame.columns if c.startswith(variable) and c[len(variable):].isdigit()]


def _is_factor(variable: str, frame: pd.DataFrame) -> bool:
    return variable in frame.columns and isinstance(frame[variable].dtype, pd.CategoricalDtype)


def factor_coding(terms: ModelTerms, frame: pd.DataFrame) -> list[dict[str, bool]]:
    r"""R's coding of each factor of each term: True for contrasts, False for indicators.

    R's rule (``TermCode`` in R's model.c; Chambers and Hastie 1992, p. 38): a factor
    :math:`f` of a term :math:`T` is coded by contrasts when :math:`T \setminus \{f\}` is
    empty or lies within an earlier term, and by one indicator per level otherwise. Without an
    intercept, the first factor of the first term that has one takes indicators. So ``a:b``
    alone gives every ``a``-``b`` combination, and ``0 + a + b`` all levels of ``a``. Chapter 14.
    """
    coding: list[dict[str, bool]] = []
    for i, term in enumerate(terms.terms):
        earlier = [set(t) for t in terms.terms[:i]]
        coding.append({v: not set(term) - {v} or any(set(term) - {v} <= e for e in earlier)
                       for v in term if _is_factor(v, frame)})
    first = next((codes for codes in coding if codes), None)
    if not terms.intercept and first:
        first[next(iter(first))] = False
    return coding


def variable_block(variable: str, frame: pd.DataFrame, contrasts: bool
                   ) -> tuple[np.ndarray, list[str]]:
    """The columns of one variable in a term: a number's own column(s), or a factor's
    indicators ``f[level]`` (all levels), or its treatment contrasts ``f[T.level]`` (all but the
    first). Names in formulaic's spelling (chapter 14). Chapter 11."""
    if not _is_factor(variable, frame):
        columns = _variable_columns(variable, frame)
        return frame[columns].to_numpy(dtype=float), columns
    factor = frame[variable].cat
    levels = [str(level) for level in factor.categories]
    if contrasts and len(levels) < 2:
        raise ValueError(f"factor {variable!r} has only the level {levels}: contrasts need two or "
                         "more levels (R: 'contrasts can be applied only to factors with 2 or "
                         "more levels')")
    indicators = (factor.codes.to_numpy()[:, None] == np.arange(len(levels))).astype(float)
    if contrasts:
        return indicators[:, 1:], [f"{variable}[T.{level}]" for level in levels[1:]]
    return indicators, [f"{variable}[{level}]" for level in levels]


def _row_product(left: tuple[np.ndarray, list[str]], right: tuple[np.ndarray, list[str]]
                 ) -> tuple[np.ndarray, list[str]]:
    """The interaction of two blocks: every product of a column of each, the left one varying
    fastest, as R's model.matrix orders them (``ap:bu, aq:bu, ap:bv, ...``)."""
    (A, a_names), (B, b_names) = left, right
    product = (B[:, :, None] * A[:, None, :]).reshape(A.shape[0], -1)
    return product, [f"{a}:{b}" for b in b_names for a in a_names]


def term_matrix(terms: ModelTerms, frame: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...]]:
    """The model matrix of a list of terms (R's ``model.matrix``), with R-spelled names.

    The intercept, then each term's columns: the row-wise products of its variables' blocks
    (:func:`variable_block`), each factor coded as R codes it (:func:`factor_coding`). Names
    are in formulaic's spelling: ``(Intercept)``, ``Diet[T.D2]``, ``Sex[Female]``,
    ``poly(x, 2)1:a[T.q]``; :func:`lmm_teach.formula.lme4_coefficient_name` gives lme4's.
    Chapters 11 and 14.
    """
    n = len(frame)
    blocks = [(np.ones((n, 1)), ["(Intercept)"])] if terms.intercept else []
    for term, coding in zip(terms.terms, factor_coding(terms, frame)):
        parts = [variable_block(v, frame, coding.get(v, False)) for v in term]
        product = parts[0]
        for part in parts[1:]:
            product = _row_product(product, part)
        blocks.append(product)
    if not blocks:
        return np.empty((n, 0)), ()
    return np.hstack([b for b, _ in blocks]), tuple(name for _, names in blocks for name in names)


RANK_TOLERANCE = 1e-7     # lme4's chkRank.drop.cols: qr(X, tol = 1e-7)


def _orthogonal_part(x: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """What is left of ``x`` after projecting it on the orthonormal columns of Q (Gram-Schmidt,
    projected twice for accuracy in floating point)."""
    for _ in range(2):
        x = x - Q @ (Q.T @ x)
    return x


def full_rank_columns(X: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    r"""Drop each column of X that is a linear combination of the columns before it, with a warning.

    Column :math:`x_j` is dropped when the part of it that the kept columns do not explain is
    below :math:`10^{-7}` of its own length, :math:`\lVert (I - QQ^\top) x_j \rVert <
    10^{-7} \lVert x_j \rVert`, as R's ``qr(X, tol = 1e-7)`` decides, which lme4 uses
    (``lmer`` reports "fixed-effect model matrix is rank deficient"). The test is relative to
    each column, so a column of large numbers, such as ``exp(temp)``, does not hide the
    intercept. Chapter 11.
    """
    keep: list[int] = []
    Q = np.empty((X.shape[0], 0))
    for j in range(X.shape[1]):
        left = _orthogonal_part(X[:, j], Q)
        if np.linalg.norm(left) > RANK_TOLERANCE * np.linalg.norm(X[:, j]):
            keep.append(j)
            Q = np.column_stack([Q, left / np.linalg.norm(left)])
    dropped = [names[j] for j in range(X.shape[1]) if j not in keep]
    if not dropped:
        return X, names                                   # no copy: X may be large
    warn_user(f"the fixed-effects matrix is rank deficient: dropped column(s) {dropped}")
    return X[:, keep], tuple(names[j] for j in keep)


def integer_levels(values: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """Codes and sorted levels of a column of integers, found by marking which values occur
    (no hash table, so little memory on large data); None unless the column holds integers
    in a range at most a few times the number of rows. Chapter 19 (large data)."""
    if values.dtype.kind not in "iu" or len(values) == 0:
        return None
    v = values.to_numpy()
    low, high = int(v.min()), int(v.max())
    if high - low > 4 * len(v):
        return None
    present = np.zeros(high - low + 1, dtype=bool)
    present[v - low] = True
    position = np.cumsum(present) - 1                      # code of each value that occurs
    return position[v - low], np.flatnonzero(present) + low


def grouping_factor(columns: tuple[str, ...], frame: pd.DataFrame
                    ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Level codes and level names of a grouping factor (an interaction for ``a:b``). Chapter 11.

    Levels of one column sort as pandas sorts them (numbers as numbers); levels of an
    interaction are the combinations that occur, sorted as text, written ``a_level:b_level``.
    """
    if len(columns) == 1:
        values = frame[columns[0]]
    else:
        text = [frame[column].astype(str) for column in columns]
        values = text[0].str.cat(text[1:], sep=":")
    counted = integer_levels(values)
    if counted is None:
        factor = pd.Categorical(values)
        counted = factor.codes.astype(np.intp), factor.categories
    codes, levels = counted
    name = ":".join(columns)
    if len(levels) < 2:
        raise ValueError(f"grouping factor {name!r} has {len(levels)} level; it needs at least 2")
    return codes, tuple(str(level) for level in levels)


def term_design(term: RandomTerm, frame: pd.DataFrame) -> TermDesign:
    """One random term met with the data: its model matrix :math:`X_i` and the level of each
    row, from which :attr:`TermDesign.Z` builds its block :math:`Z_i` (equation ``eq-Zi``).
    Chapter 11."""
    X_i, columns = term_matrix(model_terms(term.expr), frame)
    if X_i.shape[1] == 0:
        raise ValueError(f"the random term {term.name} has no columns")
    codes, levels = grouping_factor(term.group_columns, frame)
    return TermDesign(term.name, term.group, columns, levels, codes, X_i)


def identifiable(term: TermDesign, n: int) -> TermDesign:
    """The term, or a ValueError when its :math:`J_i k_i` random effects are at least :math:`n`.

    With as many random effects as observations, the term's variances cannot be told apart
    from the residual variance; lme4 stops there too (``check.nobs.vs.nlev``,
    ``check.nobs.vs.nRE``). Chapter 11.
    """
    if len(term.levels) >= n:
        raise ValueError(f"grouping factor {term.group!r} has as many levels as observations "
                         f"({n}): its variance cannot be told apart from the residual")
    if len(term.levels) * term.k >= n:
        raise ValueError(f"the random term {term.name} has {len(term.levels)} x {term.k} = "
                         f"{len(term.levels) * term.k} random effects for {n} observations: "
                         "they cannot be told apart from the residual")
    return term


def lme4_term_order(n_levels: list[int]) -> list[int]:
    """lme4's order of the terms: decreasing number of levels, if that is not already the order.

    lme4's ``mkReTrms`` reorders only when some term has more levels than the term before it,
    and then uses ``rev(order(nl))``, so ties come out reversed. Chapter 11.
    """
    if not any(later > earlier for earlier, later in zip(n_levels, n_levels[1:])):
        return list(range(len(n_levels)))
    ascending = sorted(range(len(n_levels)), key=lambda i: n_levels[i])  # stable, as R's order
    return ascending[::-1]


def model_matrices(formula: str, data: pd.DataFrame, weights: ArrayLike | str | None = None,
                   residual: bool = True) -> Design:
    """Stage 1 of the engine: formula and data give :math:`y`, :math:`X`, :math:`Z`, the terms
    and the prior weights :math:`w` (a column name or one number per row of ``data``).

    ``residual=False`` is for a GLMM, which has no residual variance: a term may then have as
    many random effects as observations (an observation-level effect, chapter 22), as lme4's
    ``glmer`` allows. Chapter 11, *Covariance structures*, and chapter 14 (lme4's
    ``lFormula``).
    """
    parsed = parse_formula(formula)
    frame = model_frame(parsed, data, weights)
    X, fixed_names = full_rank_columns(*term_matrix(model_terms(parsed.fixed), frame))
    checked = identifiable if residual else (lambda term, n: term)
    terms = [_sharing(checked(term_design(term, frame), len(frame)), X)
             for term in parsed.random]
    terms = [terms[i] for i in lme4_term_order([len(t.levels) for t in terms])]
    y = frame[parsed.response].to_numpy(dtype=float)
    w = frame[WEIGHTS].to_numpy() if WEIGHTS in frame else None
    y = _not_fitted_exactly(y, X, parsed.response)
    return Design(formula, y, X, fixed_names, tuple(terms), w, factor_levels(frame))


def factor_levels(frame: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """The levels of every factor of the model frame, kept so that new data can be coded
    the same way (predictions, :func:`lmm_teach.random_effects.predict`)."""
    return {column: tuple(str(level) for level in frame[column].cat.categories)
            for column in frame.columns
            if isinstance(frame[column].dtype, pd.CategoricalDtype)}


def _sharing(term: TermDesign, X: np.ndarray) -> TermDesign:
    """The term, with its :math:`X_i` replaced by the fixed-effects matrix :math:`X` when the
    two are equal, as in ``y ~ x + (1 + x | g)``: one copy in memory instead of two."""
    if term.X_i.shape == X.shape and np.array_equal(term.X_i, X):
        return dataclasses.replace(term, X_i=X)
    return term


def _not_fitted_exactly(y: np.ndarray, X: np.ndarray, response: str) -> np.ndarray:
    """y, or a ValueError when the fixed effects alone fit it exactly (the deviance is then -inf)."""
    residual = y - X @ np.linalg.lstsq(X, y, rcond=None)[0] if X.shape[1] else y
    if residual @ residual <= 1e-20 * max(y @ y, 1.0):
        raise ValueError(f"the fixed effects fit the response {response!r} exactly (is it constant?): "
                         "there is no variation left for the random effects and the residual")
    return y


def term_summary(design: Design) -> pd.DataFrame:
    r"""One row per random term: its group, its effects (the columns of :math:`X_i`), its
    :math:`J_i` levels, :math:`k_i`, the columns of :math:`Z_i` and the size of its slice of
    :math:`\theta`. Chapter 11.

    .. math::

        \text{columns of } Z_i = J_i k_i, \qquad
        \text{size of } \theta_i = \frac{k_i (k_i + 1)}{2}

    (equation ``eq-Zi``; :math:`T_i` is lower triangular). The rows follow the order of the
    terms in :math:`Z`, which is lme4's order.
    """
    if not isinstance(design, Design):
        raise ValueError(f"design must be a Design from model_matrices, not {type(design).__name__}")
    return pd.DataFrame(
        [dict(term=t.name, group=t.group, effects=", ".join(t.columns), levels=len(t.levels),
              k=t.k, Z_columns=len(t.levels) * t.k, theta_size=t.k * (t.k + 1) // 2)
         for t in design.terms]
    )


def term_labels(terms: tuple[TermDesign, ...]) -> list[str]:
    """Each term's grouping factor, with ``.1``, ``.2`` for a second and third term on the
    same factor, as lme4 labels them in ``VarCorr`` and ``confint``. Chapter 10."""
    labels, seen = [], {}
    for term in terms:
        seen[term.group] = seen.get(term.group, -1) + 1
        labels.append(term.group + (f".{seen[term.group]}" if seen[term.group] else ""))
    return labels
