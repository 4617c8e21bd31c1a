r"""Penalized iteratively reweighted least squares: the conditional modes of a GLMM (chapter 20,
*The GLMM and its integral*).

With :math:`b = \Lambda_\theta u` and :math:`u \sim N(0, I_q)`, the conditional mode
:math:`\hat u` maximizes the joint log-density, that is, it minimizes the *penalized deviance*

.. math::

    P(u) = -2 \log p(y \mid u) + u^\top u, \qquad
    \eta = X\beta + Z\Lambda_\theta u, \quad \mu = g^{-1}(\eta).

Newton's method on :math:`P` (Fisher scoring; the same for the canonical links here) gives each
step as a weighted penalized least-squares problem, chapter 10's with weights
:math:`W = \operatorname{diag}(w_i)` and a working response :math:`\tilde y`
(``eq-ch20-pirls``):

.. math::

    (\Lambda_\theta^\top Z^\top W Z \Lambda_\theta + I_q)\, u^{\text{new}}
    = \Lambda_\theta^\top Z^\top W (\tilde y - X\beta), \qquad
    \tilde y = \eta + \frac{y - \mu}{d\mu/d\eta}.

:func:`pirls_readable` takes these steps with dense matrices, as the chapter writes them;
:func:`pirls` takes the same steps on the blocked factor of the fast engine (chapter 19), and
with ``update_beta=True`` it also moves :math:`\beta` (lme4's first stage, ``nAGQ = 0``).
Tests check that the two agree and that :math:`\hat u` is a stationary point of :math:`P`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg

from scipy import sparse

from lmm_teach.blocked import (SMALL_Q, BlockedFactor, GramBlocks, TermShape, blocked_factor,
                               cholesky_small, conditional_modes, downdate_method,
                               downdate_pairs, gram_blocks, level_cross_sums, levels_last,
                               log_det_L2_blocked)
from lmm_teach.design import Design, TermDesign
from lmm_teach.families import Family, working_residuals, working_weights
from lmm_teach.pls import Lambda, term_factor, theta_slices

PIRLS_TOLERANCE = 1e-6    # stop when no coordinate of (u, beta) moves more than this
MAX_ITERATIONS = 60
MAX_HALVINGS = 30         # a step that never lowers P is halved at most this many times


@dataclass(frozen=True)
class PirlsSolution:
    r"""The conditional modes at one :math:`(\theta, \beta)` and what the Laplace
    approximation needs there: :math:`\hat u`, :math:`\hat b = \Lambda_\theta \hat u`,
    :math:`\eta`, :math:`\mu`, :math:`\log|L_\theta|^2` (with :math:`L_\theta L_\theta^\top =
    \Lambda_\theta^\top Z^\top W Z \Lambda_\theta + I`, :math:`W` at :math:`\hat u`), the
    diagonal of :math:`L_\theta` and :math:`\beta` (moved only by ``update_beta=True``).
    Chapter 20."""

    u: np.ndarray
    b: np.ndarray
    beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    log_det_L2: float
    L_diagonal: np.ndarray
    iterations: int
    converged: bool


def penalized_deviance(fam: Family, y: np.ndarray, N: np.ndarray, mu: np.ndarray,
                       u: np.ndarray, constant: bool = True) -> float:
    r""":math:`P(u) = -2\log p(y \mid u) + u^\top u` (``eq-ch20-penalized``), the quantity each
    PIRLS step lowers; with ``constant=False``, without the terms of :math:`\log p` that do
    not depend on :math:`u` (the same steps, at less cost). Chapter 20."""
    log_p = fam.log_density(y, mu, N) if constant else fam.log_kernel(y, mu, N)
    return float(-2 * np.sum(log_p) + u @ u)


def Z_times(terms: tuple[TermDesign, ...], b: np.ndarray) -> np.ndarray:
    r""":math:`Z b`, term by term, without forming :math:`Z`: row :math:`r` of term :math:`i`
    adds :math:`x_{i,r}^\top b_{i, g_r}`. Chapter 20."""
    Zb, start = np.zeros(terms[0].codes.shape[0]), 0
    for term in terms:
        J, k = len(term.levels), term.k
        B = b[start:start + J * k].reshape(J, k)
        Zb += np.einsum("rc,rc->r", term.X_i, B[term.codes]) if k > 1 else \
            term.X_i[:, 0] * B[term.codes, 0]
        start += J * k
    return Zb


def working_problem(fam: Family, y: np.ndarray, N: np.ndarray, eta: np.ndarray,
                    mu: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""The weights :math:`w_i` and working response :math:`\tilde y_i = \eta_i + (y_i - \mu_i) /
    (d\mu_i/d\eta_i)` of one Newton step at :math:`\eta` (``eq-ch20-pirls``), with
    :math:`\mu = g^{-1}(\eta)` (computed unless given). Chapter 20."""
    mu = fam.linkinv(eta) if mu is None else mu
    return working_weights(fam, mu, N), eta + working_residuals(fam, y, mu)


def halved_step(P: Callable[[np.ndarray], float], old: np.ndarray, new: np.ndarray,
                P_old: float) -> tuple[np.ndarray, float]:
    r"""``new``, or the point halfway back to ``old`` (again and again) until :math:`P` is no
    larger than at ``old``: step halving, which keeps each iteration from going uphill where
    the quadratic model of :math:`P` is poor. Chapter 20."""
    P_new = P(new)
    for _ in range(MAX_HALVINGS):
        if P_new <= P_old + 1e-10 * abs(P_old):
            break
        new = (old + new) / 2
        P_new = P(new)
    return new, P_new


def iterate(step: Callable[[np.ndarray], tuple[np.ndarray, object]],
            P: Callable[[np.ndarray], float], start: np.ndarray,
            tolerance: float = PIRLS_TOLERANCE) -> tuple[np.ndarray, object, int, bool]:
    r"""Newton iterations from ``start``: ``step(x)`` returns the next point and the factor
    made at ``x``; each step is halved if it raises :math:`P`. Stops when no coordinate moves
    by more than ``tolerance`` (relative to the largest); Newton's steps shrink quadratically,
    so the point is then good to about the square of that. Returns the point, the factor made
    there (one more step's worth of work), the number of steps and whether it converged.
    Chapter 20."""
    x, P_x = start, P(start)
    for iteration in range(1, MAX_ITERATIONS + 1):
        proposal, _ = step(x)
        new, P_x = halved_step(P, x, proposal, P_x)
        moved = np.max(np.abs(new - x), initial=0.0)
        x = new
        if moved <= tolerance * (1 + np.max(np.abs(x), initial=0.0)):
            return x, step(x)[1], iteration, True
    return x, step(x)[1], MAX_ITERATIONS, False


def pirls_readable(theta: ArrayLike, beta: ArrayLike, design: Design, fam: Family,
                   u: ArrayLike | None = None) -> PirlsSolution:
    r""":math:`\hat u` at :math:`(\theta, \beta)` by dense Newton steps (``eq-ch20-pirls``):

    .. math::

        L L^\top = \Lambda^\top Z^\top W Z \Lambda + I, \qquad
        L L^\top u^{\text{new}} = \Lambda^\top Z^\top W (\tilde y - X\beta).

    ``design.y`` holds proportions (binomial) or counts (Poisson), ``design.weights`` the
    numbers of trials :math:`N_i`. Chapter 20; tests check it against :func:`pirls`.
    """
    beta, ZLambda = np.asarray(beta, float), (design.Z @ Lambda(theta, design.terms)).toarray()
    y, N, offset = design.y, design.weights, design.X @ beta
    P = lambda u: penalized_deviance(fam, y, N, fam.linkinv(offset + ZLambda @ u), u, False)

    def step(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, y_tilde = working_problem(fam, y, N, offset + ZLambda @ u)
        L = linalg.cholesky(ZLambda.T @ (w[:, None] * ZLambda) + np.eye(u.size), lower=True)
        return linalg.cho_solve((L, True), ZLambda.T @ (w * (y_tilde - offset))), L

    start = np.zeros(ZLambda.shape[1]) if u is None else np.asarray(u, float)
    u, L, iterations, converged = iterate(step, P, start)
    eta = offset + ZLambda @ u
    return PirlsSolution(u, b_from_u(theta, u, design.terms), beta, eta, fam.linkinv(eta),
                         float(2 * np.sum(np.log(np.diag(L)))), np.diag(L), iterations,
                         converged)


def weighted_design(design: Design, w: np.ndarray, y_tilde: np.ndarray, X: np.ndarray
                    ) -> Design:
    r"""The linear mixed model of one PIRLS step: response :math:`\tilde y`, prior weights
    :math:`w`, fixed-effects matrix ``X`` (:math:`X` itself, or no columns when :math:`\beta`
    is held), the same random terms. Its Gram blocks give the step's blocked factor. Chapter 20."""
    return dataclasses.replace(design, y=y_tilde, X=X, weights=w)


def blocked_step(theta: np.ndarray, design: Design, fam: Family, eta_mu: Callable,
                 offset: np.ndarray | None, pattern: GramPattern
                 ) -> Callable[[np.ndarray], tuple[np.ndarray, BlockedFactor]]:
    r"""One PIRLS step on the fast engine's blocked factor (chapter 19), and the factor made
    at :math:`x`: :math:`x = u` with :math:`X\beta` held at ``offset``, or
    :math:`x = (u, \beta)` when ``offset`` is None. ``eta_mu(x)`` gives :math:`\eta` and
    :math:`\mu` at :math:`x`; the step's Gram blocks come from ``pattern``
    (:func:`reweighted_gram`). Chapter 20."""
    q, no_columns = pattern.q, np.zeros((design.y.size, 0))

    def step(x: np.ndarray) -> tuple[np.ndarray, BlockedFactor]:
        w, y_tilde = working_problem(fam, design.y, design.weights, *eta_mu(x))
        if offset is None:
            gram = reweighted_gram(pattern, w, y_tilde, design.X)
        else:
            gram = reweighted_gram(pattern, w, y_tilde - offset, no_columns)
        factor = blocked_factor(theta, gram)
        new_beta = _beta_from(factor) if offset is None else np.zeros(0)
        u = conditional_modes(factor, new_beta, gram)
        return (np.concatenate([u, new_beta]) if offset is None else u), factor

    return step


def remember_last(f: Callable[[np.ndarray], object]) -> Callable[[np.ndarray], object]:
    r"""``f``, remembering its last argument and value: PIRLS asks for :math:`\eta` and
    :math:`\mu` at the same point twice (for :math:`P`, then for the step). Chapter 20."""
    memory: dict[str, object] = {}

    def remembered(x: np.ndarray) -> object:
        if "x" not in memory or not np.array_equal(memory["x"], x):
            memory["x"], memory["value"] = x.copy(), f(x)
        return memory["value"]

    return remembered


def _beta_from(factor: BlockedFactor) -> np.ndarray:
    """:math:`\\hat\\beta` from :math:`R_X \\hat\\beta = c_\\beta` (last column of ``R_Xy``)."""
    p = factor.R_Xy.shape[0] - 1
    return linalg.solve_triangular(factor.R_Xy[:p, :p], factor.R_Xy[:p, p])


def b_from_u(theta: np.ndarray, u: np.ndarray, terms: tuple[TermDesign, ...]) -> np.ndarray:
    r""":math:`b = \Lambda_\theta u` term by term, :math:`b_{i,j} = T_i u_{i,j}` for all levels
    :math:`j` at once, without forming :math:`\Lambda_\theta`. Chapter 20."""
    parts, start = [], 0
    for term, piece in zip(terms, theta_slices(terms)):
        J, k = len(term.levels), term.k
        T = term_factor(theta[piece], k)
        parts.append((u[start:start + J * k].reshape(J, k) @ T.T).ravel())
        start += J * k
    return np.concatenate(parts)


def _Zu(theta: np.ndarray, u: np.ndarray, design: Design) -> np.ndarray:
    r""":math:`Z \Lambda_\theta u`, term by term."""
    return Z_times(design.terms, b_from_u(theta, u, design.terms))


def pirls(theta: ArrayLike, beta: ArrayLike, design: Design, fam: Family,
          u: ArrayLike | None = None, update_beta: bool = False,
          pattern: GramPattern | None = None,
          tolerance: float = PIRLS_TOLERANCE) -> PirlsSolution:
    r""":math:`\hat u` at :math:`(\theta, \beta)` by PIRLS on the blocked factor (fast engine),
    from ``u`` (zeros by default). With ``update_beta=True``, :math:`\beta` moves too: each step
    is then chapter 10's full penalized least-squares problem, in :math:`(u, \beta)` (lme4's
    ``nAGQ = 0`` stage). A model with at most ``SMALL_Q`` random effects and :math:`\beta`
    held takes dense steps instead (:func:`dense_step`). ``pattern`` (:func:`gram_pattern`),
    made once per fit, saves finding the Gram blocks' pattern again; ``tolerance`` is
    :func:`iterate`'s. Chapter 20; the same :math:`\hat u` as :func:`pirls_readable`.
    """
    theta, beta = np.asarray(theta, float), np.asarray(beta, float)
    pattern = gram_pattern(design) if pattern is None else pattern
    q, offset = pattern.q, design.X @ beta
    small = pattern.Z_dense is not None and not update_beta
    ZLambda = pattern.Z_dense @ dense_Lambda(theta, design.terms) if small else None
    Zu = (lambda u: _Zu(theta, u, design)) if ZLambda is None else (lambda u: ZLambda @ u)
    eta = lambda x: (design.X @ x[q:] if update_beta else offset) + Zu(x[:q])
    eta_mu = remember_last(lambda x: (eta(x), fam.linkinv(eta(x))))
    P = lambda x: penalized_deviance(fam, design.y, design.weights, eta_mu(x)[1], x[:q], False)
    start = np.zeros(q) if u is None else np.asarray(u, float)
    step = (dense_step(ZLambda, design, fam, eta_mu, offset) if ZLambda is not None else
            blocked_step(theta, design, fam, eta_mu, None if update_beta else offset, pattern))
    x, factor, iterations, converged = iterate(
        step, P, np.concatenate([start, beta]) if update_beta else start, tolerance)
    u, beta = x[:q], (x[q:] if update_beta else beta)
    return PirlsSolution(u, b_from_u(theta, u, design.terms), beta, *eta_mu(x),
                         *log_det_and_diagonal(factor), iterations, converged)


def dense_Lambda(theta: np.ndarray, terms: tuple[TermDesign, ...]) -> np.ndarray:
    r""":math:`\Lambda_\theta` as a dense :math:`q \times q` array, block diagonal with
    :math:`I_{J_i} \otimes T_i` for term :math:`i`, for a model with few random effects
    (chapter 10's :func:`lmm_teach.pls.Lambda`, without a sparse matrix). Chapter 20."""
    blocks = [np.kron(np.eye(len(term.levels)), term_factor(theta[piece], term.k))
              for term, piece in zip(terms, theta_slices(terms))]
    return linalg.block_diag(*blocks)


def dense_step(ZLambda: np.ndarray, design: Design, fam: Family, eta_mu: Callable,
               offset: np.ndarray) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    r"""One PIRLS step with :math:`X\beta` held at ``offset`` by one dense Cholesky
    factorization of :math:`\Lambda_\theta^\top Z^\top W Z \Lambda_\theta + I`
    (``eq-ch20-pirls``), LAPACK's ``dpotrf`` and ``dpotrs`` called directly: for at most
    ``SMALL_Q`` random effects the blocks of :func:`blocked_step` cost more in overhead than
    this does in arithmetic (chapter 19's small-model route). Returns the next :math:`u` and
    :math:`L` at :math:`u`. Chapter 20."""
    identity = np.eye(ZLambda.shape[1])

    def step(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, y_tilde = working_problem(fam, design.y, design.weights, *eta_mu(u))
        L = cholesky_small(ZLambda.T @ (w[:, None] * ZLambda) + identity)
        right = ZLambda.T @ (w * (y_tilde - offset))
        return linalg.lapack.dpotrs(L, right, lower=1)[0], L

    return step


def log_det_and_diagonal(factor: BlockedFactor | np.ndarray) -> tuple[float, np.ndarray]:
    r""":math:`\log|L_\theta|^2` and the diagonal of :math:`L_\theta`, from the blocked factor
    or a dense one. Chapter 20."""
    if isinstance(factor, np.ndarray):
        diagonal = np.diag(factor)
        return float(2 * np.sum(np.log(diagonal))), diagonal
    diagonal = np.concatenate([np.diagonal(factor.L_11, axis1=1, axis2=2).ravel(),
                               np.diag(factor.L_22)])
    return log_det_L2_blocked(factor), diagonal


# -- the fast path: the Gram blocks of each step from a pattern made once ------------------------

@dataclass(frozen=True)
class Scatter:
    r"""Sums over rows into fixed slots: contribution :math:`c` adds
    :math:`\text{product}_c \cdot v_{\text{row}_c}` to slot :math:`\text{slot}_c`. Which rows feed
    which entry of :math:`Z^\top W Z` does not change between PIRLS steps; only :math:`W` does.
    Chapter 20."""

    slot: np.ndarray
    row: np.ndarray
    product: np.ndarray
    size: int

    def sums(self, v: np.ndarray) -> np.ndarray:
        """The slot sums of ``product * v[row]``."""
        return np.bincount(self.slot, weights=self.product * v[self.row], minlength=self.size)


def _scatter(keys: np.ndarray, rows: np.ndarray, products: np.ndarray
             ) -> tuple[Scatter, np.ndarray]:
    """A :class:`Scatter` onto the distinct ``keys`` (sorted), and those keys."""
    distinct, slot = np.unique(keys, return_inverse=True)
    return Scatter(slot.ravel(), rows, products, distinct.size), distinct


def later_entries(terms: tuple[TermDesign, ...]) -> tuple[np.ndarray, np.ndarray]:
    r"""For every row, its column of :math:`Z_{2:m}` and its value there, one per column of
    every later term: two :math:`(n, \sum_{i \ge 2} k_i)` arrays. Chapter 20."""
    columns, values, offset = [], [], 0
    for term in terms[1:]:
        for a in range(term.k):
            columns.append(offset + term.codes * term.k + a)
            values.append(term.X_i[:, a])
        offset += len(term.levels) * term.k
    n = terms[0].codes.size
    return (np.column_stack(columns) if columns else np.zeros((n, 0), dtype=np.int64),
            np.column_stack(values) if values else np.zeros((n, 0)))


@dataclass(frozen=True)
class GramPattern:
    r"""What every PIRLS step of one model shares: the shapes of its terms, its first term's
    codes and :math:`X_1`, and where each row's products fall in :math:`Z_{2:m}^\top W Z_1`
    (sparse: its column indices and row pointers), :math:`Z_{2:m}^\top W Z_{2:m}` (dense: flat
    positions) and :math:`Z_{2:m}^\top W [X\ \tilde y]`. Made once per fit
    (:func:`gram_pattern`).
    Chapter 20."""

    terms: tuple[TermShape, ...]
    codes_1: np.ndarray
    X_1: np.ndarray
    Z2mtZ1: Scatter | None
    Z2mtZ1_indices: np.ndarray
    Z2mtZ1_indptr: np.ndarray
    Z2mtZ2m: Scatter | None
    Z2mtZ2m_positions: np.ndarray
    Z2mtXy: Scatter | None
    downdate: str = "none"     # "dense", "pairs" or "sparse": downdate_method's choice, made once
    Z_dense: np.ndarray | None = None   # Z itself, for at most SMALL_Q random effects

    @property
    def q(self) -> int:
        """The number of random effects."""
        return sum(t.J * t.k for t in self.terms)


def _products(first: np.ndarray, second: np.ndarray, columns_1: np.ndarray,
              columns_2: np.ndarray, values_1: np.ndarray, values_2: np.ndarray, width: int
              ) -> tuple[Scatter, np.ndarray]:
    """The :class:`Scatter` of every product of a row's entries ``first`` and ``second``
    (column indices ``columns_*``, values ``values_*``), at key ``row index * width +
    column index``; and the distinct keys."""
    n = columns_1.shape[0]
    keys = [columns_1[:, a] * width + columns_2[:, c] for a in first for c in second]
    products = [values_1[:, a] * values_2[:, c] for a in first for c in second]
    rows = np.tile(np.arange(n), len(keys))
    return _scatter(np.concatenate(keys), rows, np.concatenate(products))


def gram_pattern(design: Design) -> GramPattern:
    r"""The :class:`GramPattern` of ``design``, found once, with no loop over rows or
    levels. Chapter 20; tests check that :func:`reweighted_gram` from it equals
    :func:`lmm_teach.blocked.gram_blocks` of the weighted model."""
    first, shapes = design.terms[0], tuple(TermShape(len(t.levels), t.k) for t in design.terms)
    columns_2, values_2 = later_entries(design.terms)
    Z_dense = design.Z.toarray() if sum(t.J * t.k for t in shapes) <= SMALL_Q else None
    if columns_2.shape[1] == 0:
        return GramPattern(shapes, first.codes, first.X_i, None, np.zeros(0, int),
                           np.zeros(1, int), None, np.zeros(0, int), None, "none", Z_dense)
    q_1, q_2m = len(first.levels) * first.k, sum(t.J * t.k for t in shapes[1:])
    columns_1 = first.codes[:, None] * first.k + np.arange(first.k)
    K_1, K_2 = range(first.k), range(columns_2.shape[1])
    Z2mtZ1, keys_21 = _products(K_2, K_1, columns_2, columns_1, values_2, first.X_i, q_1)
    Z2mtZ2m, keys_22 = _products(K_2, K_2, columns_2, columns_2, values_2, values_2, q_2m)
    n = first.codes.size
    Z2mtXy = Scatter(columns_2.T.ravel(), np.tile(np.arange(n), len(K_2)),
                     values_2.T.ravel(), q_2m)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(keys_21 // q_1, minlength=q_2m))])
    unweighted = sparse.csr_matrix((Z2mtZ1.sums(np.ones(n)), keys_21 % q_1, indptr),
                                   shape=(q_2m, q_1))
    pairs, dense = downdate_method(unweighted, first.k)
    method = "dense" if dense is not None else "pairs" if pairs is not None else "sparse"
    return GramPattern(shapes, first.codes, first.X_i, Z2mtZ1, keys_21 % q_1, indptr,
                       Z2mtZ2m, keys_22, Z2mtXy, method, Z_dense)


def reweighted_gram(pattern: GramPattern, w: np.ndarray, y_tilde: np.ndarray, X: np.ndarray
                    ) -> GramBlocks:
    r"""The Gram blocks of the weighted problem of one PIRLS step, :math:`[Z\ X\ \tilde y]^\top W
    [Z\ X\ \tilde y]`, from the pattern: one ``bincount`` per block and column. The same blocks as
    :func:`lmm_teach.blocked.gram_blocks` of :func:`weighted_design`. Chapter 20."""
    J_1, k_1 = pattern.terms[0].J, pattern.terms[0].k
    Xy, wX_1 = np.column_stack([X, y_tilde]), w[:, None] * pattern.X_1
    Z1tZ1 = level_cross_sums(pattern.codes_1, J_1, wX_1, pattern.X_1)
    Z1tXy = levels_last(level_cross_sums(pattern.codes_1, J_1, wX_1, Xy))
    if pattern.Z2mtZ1 is None:
        q_2m, Z2mtZ1 = 0, sparse.csr_matrix((0, J_1 * k_1))
        Z2mtZ2m, Z2mtXy = np.zeros((0, 0)), np.zeros((0, Xy.shape[1]))
    else:
        q_2m = pattern.Z2mtXy.size
        Z2mtZ1 = sparse.csr_matrix((pattern.Z2mtZ1.sums(w), pattern.Z2mtZ1_indices,
                                    pattern.Z2mtZ1_indptr), shape=(q_2m, J_1 * k_1))
        Z2mtZ2m = np.zeros(q_2m * q_2m)
        Z2mtZ2m[pattern.Z2mtZ2m_positions] = pattern.Z2mtZ2m.sums(w)
        Z2mtZ2m = Z2mtZ2m.reshape(q_2m, q_2m)
        Z2mtXy = np.column_stack([pattern.Z2mtXy.sums(w * c) for c in Xy.T])
    return GramBlocks(pattern.terms, Z1tZ1, Z1tXy, Z2mtZ1, Z2mtZ2m, Z2mtXy,
                      (w[:, None] * Xy).T @ Xy, y_tilde.size, float(np.sum(np.log(w))),
                      *_downdate(pattern.downdate, Z2mtZ1, k_1))


def _downdate(method: str, Z2mtZ1: sparse.csr_matrix, k_1: int) -> tuple:
    """The (pairs, dense) fields of the Gram blocks for the method the pattern chose."""
    if method == "dense":
        return None, Z2mtZ1.toarray()
    return (downdate_pairs(Z2mtZ1, k_1) if method == "pairs" else None), None
