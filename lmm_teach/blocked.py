r"""The fast engine: the profiled deviance from blocks of :math:`[Z\ X\ y]^\top [Z\ X\ y]`
(chapter 19, *From readable to fast*).

The readable engine of chapter 10 (:mod:`lmm_teach.pls`) forms the dense
:math:`q \times q` matrix :math:`\Lambda_\theta^\top Z^\top Z \Lambda_\theta + I_q` at every
:math:`\theta` and factors it: its cost grows with :math:`q^3` and with :math:`n`. This engine
computes the same deviance in two stages.

1. **Once** (cost :math:`O(n)`): the cross-products of the columns of :math:`[Z\ X\ y]`, in
   blocks by term (:func:`gram_blocks`). Write :math:`Z = [Z_1\ Z_{2:m}]`, with :math:`Z_1`
   the term with the most levels (lme4's first term) and :math:`Z_{2:m} = [Z_2, \dots, Z_m]`
   all the others (``2m`` in the code's names). Because every row belongs to one level of the
   first factor, :math:`Z_1^\top Z_1` is block diagonal, one :math:`k_1 \times k_1` block per
   level.
2. **At every** :math:`\theta` (cost independent of :math:`n`): the blocked Cholesky factor

   .. math::

       \begin{bmatrix} L_{11} & 0 \\ L_{21} & L_{22} \end{bmatrix}
       \begin{bmatrix} L_{11}^\top & L_{21}^\top \\ 0 & L_{22}^\top \end{bmatrix}
       = \Lambda_\theta^\top Z^\top Z \Lambda_\theta + I_q,

   with :math:`L_{11}` block diagonal (all :math:`J_1` blocks factored at once, no loop over
   levels), :math:`L_{21}` sparse with the pattern of :math:`Z_{2:m}^\top Z_1`, and :math:`L_{22}`
   dense, of size :math:`q_{2:m} = q - J_1 k_1` only. Then :math:`y` is treated as one more column
   of :math:`X`: the Cholesky factor of what is left of :math:`[X\ y]^\top [X\ y]` holds
   :math:`R_X`, :math:`c_\beta` and :math:`r(\theta)` (:func:`factor_Xy`).

Same answers as :func:`lmm_teach.pls.profiled_deviance`, to :math:`10^{-8}` in the deviance
(tests/test_blocked.py, on every model of the tests and on random ones); the same ideas as
lme4's ``predModule`` and MixedModels.jl's blocked ``L``, written for reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg, sparse

from lmm_teach.pls import Lambda, deviance_from_parts, term_factor, theta_slices, theta_size

# Lambda_{2:m}: the vector of its diagonal, or the pairs (J_i, T_i) of the later terms
LaterLambda = np.ndarray | tuple[tuple[int, np.ndarray], ...]

if TYPE_CHECKING:
    from lmm_teach.design import Design


@dataclass(frozen=True)
class TermShape:
    """What the per-:math:`\\theta` steps need of a term: its :math:`J_i` levels and
    :math:`k_i` columns (``levels`` is ``range(J)``, so :func:`lmm_teach.pls.Lambda` takes it as
    it takes a :class:`~lmm_teach.design.TermDesign`). Chapter 19."""

    J: int
    k: int

    @property
    def levels(self) -> range:
        return range(self.J)


@dataclass(frozen=True)
class GramBlocks:
    r"""The cross-products of :math:`[Z\ X\ y]` that the deviance needs, by block.

    ``1`` is the first term (the most levels), ``2m`` the terms 2 to :math:`m` together; ``Xy`` is
    :math:`[X\ y]`, so its last row and column belong to :math:`y`. All rows are multiplied by
    :math:`\sqrt{w_i}` first (prior weights, chapter 14). With ``terms``, the shapes of the
    random terms, this is all that an evaluation of the deviance needs. Chapter 19.
    """

    terms: tuple[TermShape, ...]
    Z1tZ1: np.ndarray                       # (J_1, k_1, k_1): diagonal blocks of Z_1' Z_1
    Z1tXy: np.ndarray                       # (J_1, k_1, p + 1): Z_1' [X y], level by level
    Z2mtZ1: sparse.csr_matrix               # (q_2m, J_1 k_1)
    Z2mtZ2m: np.ndarray                     # (q_2m, q_2m), dense
    Z2mtXy: np.ndarray                      # (q_2m, p + 1)
    XytXy: np.ndarray                       # (p + 1, p + 1)
    n: int
    sum_log_w: float                        # sum of log w_i (0 without weights)
    pairs: DowndatePairs | None = None      # for schur_downdate_pairs, when chosen
    Z2mtZ1_dense: np.ndarray | None = None  # for schur_downdate_dense, when chosen

    @cached_property
    def dense(self) -> DenseGram | None:
        """The same cross-products as two dense blocks, when the model has at most
        ``SMALL_Q`` random effects (:func:`dense_gram`); None otherwise."""
        return dense_gram(self) if sum(t.J * t.k for t in self.terms) <= SMALL_Q else None


@dataclass(frozen=True)
class DowndatePairs:
    r"""Every pair of nonzeros of :math:`Z_{2:m}^\top Z_1` that share a level :math:`j` of the first
    term: entry :math:`(r, a)` and :math:`(s, c)` of block column :math:`j` add
    :math:`v_{ra} H_{j,ac} v_{sc}` to row :math:`r`, column :math:`s` of the downdate (only
    the lower triangle, :math:`r \ge s`: the downdate is symmetric). ``target`` is
    :math:`r q_{2:m} + s`, ``H_index`` is :math:`j k_1^2 + a k_1 + c`, ``product`` is
    :math:`v_{ra} v_{sc}` (twice that for two non-zeros in one row, which stand for both
    orders). Made once, with the Gram blocks. Chapter 19.
    """

    target: np.ndarray
    H_index: np.ndarray
    product: np.ndarray


def level_cross_sums(codes: np.ndarray, J: int, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    r"""For every level :math:`j`, :math:`\sum_{r:\,g_r = j} a_r b_r^\top`: shape
    :math:`(J, \text{cols of } A, \text{cols of } B)`.

    One ``bincount`` per pair of columns: a sum over the rows, with no :math:`n \times q`
    matrix formed. With :math:`A = X_i` it gives the diagonal blocks of :math:`Z_i^\top Z_i`;
    with :math:`B = [X\ y]`, :math:`Z_i^\top [X\ y]`. The stack is stored levels last
    (:func:`levels_last`). Chapter 19.
    """
    sums = np.empty((A.shape[1], B.shape[1], J))
    for a in range(A.shape[1]):
        for c in range(B.shape[1]):
            sums[a, c] = np.bincount(codes, weights=A[:, a] * B[:, c], minlength=J)
    return sums.transpose(2, 0, 1)


def levels_last(stack: np.ndarray) -> np.ndarray:
    r"""The stack ``stack`` :math:`(J, a, b)`, the same numbers, stored with the levels last:
    a :math:`(J, a, b)` view of an :math:`(a, b, J)` array. Entry :math:`(r, c)` of every
    level is then one contiguous vector of length :math:`J`, and the per-level steps below,
    which work entry by entry for all levels at once, read and write whole vectors. A stack
    that is stored so already is returned as it is. Chapter 19."""
    if stack.transpose(1, 2, 0).flags.c_contiguous:
        return stack
    return np.ascontiguousarray(stack.transpose(1, 2, 0)).transpose(2, 0, 1)


def gram_blocks(design: Design) -> GramBlocks:
    r"""The :math:`O(n)` pass, done once: every block of :math:`[Z\ X\ y]^\top [Z\ X\ y]`.

    .. math::

        \begin{bmatrix} Z_1^\top Z_1 & \cdot & \cdot \\
        Z_{2:m}^\top Z_1 & Z_{2:m}^\top Z_{2:m} & \cdot \\
        [X\ y]^\top Z_1 & [X\ y]^\top Z_{2:m} & [X\ y]^\top [X\ y] \end{bmatrix}

    After it, no step of the fit touches :math:`n` rows again. Chapter 19.
    """
    X, y = _weighted_rows(design, design.X), _weighted_rows(design, design.y[:, None])
    first = design.terms[0]
    X_1, J_1 = _weighted_rows(design, first.X_i), len(first.levels)
    Z1tXy = levels_last(np.concatenate([level_cross_sums(first.codes, J_1, X_1, X),
                                        level_cross_sums(first.codes, J_1, X_1, y)], axis=2))
    Z2mtZ1, Z2mtZ2m, Z2mtXy = later_blocks(design, X, y)
    XytXy = np.block([[X.T @ X, X.T @ y], [y.T @ X, y.T @ y]])
    shapes = tuple(TermShape(len(t.levels), t.k) for t in design.terms)
    return GramBlocks(shapes, level_cross_sums(first.codes, J_1, X_1, X_1), Z1tXy, Z2mtZ1,
                      Z2mtZ2m, Z2mtXy, XytXy, len(design.y),
                      float(np.sum(np.log(design.weights))), *downdate_method(Z2mtZ1, first.k))


def _weighted_rows(design: Design, A: np.ndarray) -> np.ndarray:
    r"""The rows of ``A`` times :math:`\sqrt{w_i}`; ``A`` itself, not a copy, without weights
    (every :math:`w_i = 1`), which saves memory on large data. Chapter 19."""
    if np.all(design.weights == 1.0):
        return A
    return np.sqrt(design.weights)[:, None] * A


def later_blocks(design: Design, X: np.ndarray, y: np.ndarray
                 ) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    r""":math:`Z_{2:m}^\top Z_1` (sparse), :math:`Z_{2:m}^\top Z_{2:m}` (dense) and
    :math:`Z_{2:m}^\top [X\ y]`, from the weighted rows ``X`` and ``y``; empty when there is
    one term. Chapter 19."""
    first, rest = design.terms[0], design.terms[1:]
    if not rest:
        return (sparse.csr_matrix((0, len(first.levels) * first.k)), np.zeros((0, 0)),
                np.zeros((0, X.shape[1] + 1)))
    dense_fits(rest)
    sqrt_w = sparse.diags(np.sqrt(design.weights))
    Z_1 = sqrt_w @ first.Z
    Z_2m = sqrt_w @ sparse.hstack([t.Z for t in rest], format="csc")
    Z2mtXy = np.column_stack([Z_2m.T @ X, Z_2m.T @ y])
    return (Z_2m.T @ Z_1).tocsr(), (Z_2m.T @ Z_2m).toarray(), Z2mtXy


MAX_DENSE_COLUMNS = 16_384   # L_22 of this size takes 2 GiB; more is refused, by name


def dense_fits(later: tuple) -> None:
    r"""Raise a ValueError, naming the terms, when the terms after the first have more than
    ``MAX_DENSE_COLUMNS`` random effects together: their block :math:`L_{22}` is dense
    (:math:`8 q_{2:m}^2` bytes), and a factor that large needs the sparse methods of lme4
    (CHOLMOD) or MixedModels.jl, which this engine does not have. Chapter 19."""
    q_2m = sum(len(term.levels) * term.k for term in later)
    if q_2m > MAX_DENSE_COLUMNS:
        names = ", ".join(term.name for term in later)
        raise ValueError(f"the terms after the first, {names}, have {q_2m:,} random effects "
                         f"together; the fast engine keeps them in a dense {q_2m:,} x {q_2m:,} "
                         f"block ({8 * q_2m**2 / 2**30:.0f} GiB), and refuses more than "
                         f"{MAX_DENSE_COLUMNS:,} (chapter 19)")


def gram_from_sums(terms: tuple[TermShape, ...], Z1tZ1: np.ndarray, Z1tXy: np.ndarray,
                   XytXy: np.ndarray, n: int, Z2mtZ1: sparse.spmatrix | None = None,
                   Z2mtZ2m: np.ndarray | None = None, Z2mtXy: np.ndarray | None = None,
                   sum_log_w: float = 0.0) -> GramBlocks:
    r"""Gram blocks from sums computed elsewhere, for example over a data set read in pieces:
    each block is a sum over rows, so the blocks of the whole are the sums of the blocks of the
    pieces (with every piece coded by the same levels). The blocks of :math:`Z_{2:m}` may be left
    out when there is one term. Chapter 19, *Data that do not fit in memory*.
    """
    q_1, m = terms[0].J * terms[0].k, XytXy.shape[0]
    Z2mtZ1 = sparse.csr_matrix((0, q_1)) if Z2mtZ1 is None else sparse.csr_matrix(Z2mtZ1)
    Z2mtZ2m = np.zeros((0, 0)) if Z2mtZ2m is None else np.asarray(Z2mtZ2m)
    Z2mtXy = np.zeros((0, m)) if Z2mtXy is None else np.asarray(Z2mtXy)
    return GramBlocks(tuple(terms), levels_last(np.asarray(Z1tZ1, dtype=float)),
                      levels_last(np.asarray(Z1tXy, dtype=float)), Z2mtZ1, Z2mtZ2m, Z2mtXy,
                      XytXy, int(n), float(sum_log_w), *downdate_method(Z2mtZ1, terms[0].k))


def term_gram(gram: GramBlocks, i: int) -> GramBlocks:
    r"""The Gram blocks of the model with term ``i`` alone (and the same :math:`X`, :math:`y`),
    cut out of those of the whole model: for a later term, its diagonal blocks of
    :math:`Z_{2:m}^\top Z_{2:m}` and its rows of :math:`Z_{2:m}^\top [X\ y]` (its columns
    are level by level, :math:`k_i` each). A fit of it costs little: :math:`L` is block
    diagonal. Chapter 19, *A better start*.
    """
    if i == 0:
        return gram_from_sums(gram.terms[:1], gram.Z1tZ1, gram.Z1tXy, gram.XytXy, gram.n,
                              sum_log_w=gram.sum_log_w)
    J, k = gram.terms[i].J, gram.terms[i].k
    offset = sum(t.J * t.k for t in gram.terms[1:i])
    rows = slice(offset, offset + J * k)
    block = gram.Z2mtZ2m[rows, rows].reshape(J, k, J, k)
    levels = np.arange(J)
    return gram_from_sums((gram.terms[i],), block[levels, :, levels, :],
                          gram.Z2mtXy[rows].reshape(J, k, -1), gram.XytXy, gram.n,
                          sum_log_w=gram.sum_log_w)


MAX_PAIRS = 30_000_000   # beyond this many pairs (~0.5 GB), the sparse products are used


DENSE_BYTES = 64 * 2**20  # Z_{2:m}'Z_1 is kept dense only when it takes at most 64 MiB
FLOPS_PER_PAIR = 50       # one pair (a gather and a bincount) costs about 50 BLAS flops


def downdate_method(Z2mtZ1: sparse.csr_matrix, k_1: int
                    ) -> tuple[DowndatePairs | None, np.ndarray | None]:
    r"""How to compute the Schur downdate at every :math:`\theta`, chosen once: pair by pair
    (:func:`schur_downdate_pairs`, when :math:`Z_{2:m}^\top Z_1` is sparse and large, as for
    crossed factors with many levels), as a dense product (:func:`schur_downdate_dense`, when
    the later terms have few levels and BLAS does the :math:`q_{2:m}^2 q_1` flops faster than
    the pairs), or by sparse products (neither: both too large). Returns (pairs, dense), at
    most one of them not None. Chapter 19.
    """
    q_2m, q_1 = Z2mtZ1.shape
    counts = np.diff(Z2mtZ1.tocsc().indptr[::k_1]).astype(np.int64)   # non-zeros per level
    n_pairs = int(np.sum(counts * (counts + 1) // 2))                   # before making them
    if q_2m and 8 * q_2m * q_1 <= DENSE_BYTES and q_2m**2 * q_1 <= FLOPS_PER_PAIR * n_pairs:
        return None, Z2mtZ1.toarray()
    return downdate_pairs(Z2mtZ1, k_1), None


def downdate_pairs(Z2mtZ1: sparse.csr_matrix, k_1: int) -> DowndatePairs | None:
    """The :class:`DowndatePairs` of :math:`Z_{2:m}^\\top Z_1`, found once, with no loop over
    levels; None when there are none or more than ``MAX_PAIRS``. Chapter 19.

    Each unordered pair of non-zeros of a block column is listed once and sent to the lower
    triangle (row :math:`\\max(r, s)`, column :math:`\\min(r, s)`); :math:`H_j` is symmetric,
    so the order of :math:`a, c` does not matter. Two different non-zeros in the same row
    :math:`r` stand for both orders, so they count twice on the diagonal.
    """
    by_column = Z2mtZ1.tocsc()
    starts = by_column.indptr[::k_1]                   # block column j: starts[j]:starts[j + 1]
    counts = np.diff(starts).astype(np.int64)
    sizes = counts * (counts + 1) // 2                 # pairs (s, t) with t <= s
    if sizes.sum() == 0 or sizes.sum() > MAX_PAIRS:
        return None
    block = np.repeat(np.arange(counts.size), sizes)
    within = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    s = triangular_root(within)
    first, second = starts[block] + s, starts[block] + within - s * (s + 1) // 2
    rows, q_2m = by_column.indices.astype(np.int64), Z2mtZ1.shape[0]
    column = np.repeat(np.arange(Z2mtZ1.shape[1]), np.diff(by_column.indptr)) % k_1
    r, c = rows[first], rows[second]
    twice = np.where((first != second) & (r == c), 2.0, 1.0)
    return DowndatePairs(np.maximum(r, c) * q_2m + np.minimum(r, c),
                         block * k_1 * k_1 + column[first] * k_1 + column[second],
                         twice * by_column.data[first] * by_column.data[second])


def triangular_root(p: np.ndarray) -> np.ndarray:
    """The :math:`s` with :math:`s(s+1)/2 \\le p < (s+1)(s+2)/2`, for every entry of ``p``."""
    s = np.floor((np.sqrt(8.0 * p + 1) - 1) / 2).astype(np.int64)
    s -= s * (s + 1) // 2 > p                          # guard against rounding of the root
    s += (s + 1) * (s + 2) // 2 <= p
    return s


def block_diagonal(blocks: np.ndarray) -> sparse.csr_matrix:
    """The sparse block-diagonal matrix of ``blocks`` (shape :math:`(J, k, k)`). Chapter 19."""
    J, k, _ = blocks.shape
    return sparse.bsr_matrix((blocks, np.arange(J), np.arange(J + 1)), shape=(J * k, J * k)).tocsr()


def batched_cholesky(M: np.ndarray) -> np.ndarray:
    r"""Lower Cholesky factors of a stack of :math:`k \times k` matrices, shape :math:`(J, k, k)`.

    The textbook column-by-column algorithm,

    .. math::

        L_{cc} = \sqrt{M_{cc} - \textstyle\sum_{s<c} L_{cs}^2}, \qquad
        L_{rc} = \bigl(M_{rc} - \textstyle\sum_{s<c} L_{rs} L_{cs}\bigr) / L_{cc}\ (r > c),

    with each step done for all :math:`J` levels at once: :math:`k^2/2` operations on vectors
    of length :math:`J` instead of :math:`J` small factorizations. ``Mt[r, c]`` is entry
    :math:`(r, c)` of every level, a vector; the result is stored levels last. Chapter 19.
    """
    Mt = M.transpose(1, 2, 0)
    L = np.zeros(Mt.shape)
    for c in range(Mt.shape[0]):
        L[c, c] = np.sqrt(Mt[c, c] - np.sum(L[c, :c] ** 2, axis=0))
        for r in range(c + 1, Mt.shape[0]):
            L[r, c] = (Mt[r, c] - np.sum(L[r, :c] * L[c, :c], axis=0)) / L[c, c]
    return L.transpose(2, 0, 1)


def batched_forward(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    r"""Solve :math:`L_j X_j = B_j` for every level :math:`j` at once (forward substitution,
    row by row): ``L`` is :math:`(J, k, k)` lower triangular, ``B`` is :math:`(J, k, m)`.
    Row :math:`r` of :math:`X` is :math:`(B_r - \sum_{c<r} L_{rc} X_c) / L_{rr}`, each term a
    vector operation over the :math:`J` levels (levels last, as in :func:`batched_cholesky`).
    Chapter 19."""
    Lt, Bt = L.transpose(1, 2, 0), B.transpose(1, 2, 0)
    X = np.empty(np.broadcast_shapes(Bt.shape, Lt.shape[:1] + (1,) + Lt.shape[2:]))
    for r in range(Lt.shape[0]):
        row = Bt[r]
        for c in range(r):
            row = row - Lt[r, c] * X[c]
        X[r] = row / Lt[r, r]
    return X.transpose(2, 0, 1)


def batched_backward(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    r"""Solve :math:`L_j^\top X_j = B_j` for every level at once (back substitution, last row
    first): ``L`` is :math:`(J, k, k)` lower triangular, ``B`` is :math:`(J, k, m)`. Chapter 19."""
    Lt, Bt = L.transpose(1, 2, 0), B.transpose(1, 2, 0)
    X = np.empty(Bt.shape)
    for r in reversed(range(Lt.shape[0])):
        later = np.sum(Lt[r + 1:, r, None] * X[r + 1:], axis=0)
        X[r] = (Bt[r] - later) / Lt[r, r]
    return X.transpose(2, 0, 1)


def stack_matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    r""":math:`A_j B_j` for every :math:`j` of two stacks of small matrices (either may be one
    matrix, used for every :math:`j`), as a sum of :math:`k` outer products,
    :math:`\sum_c A_{:,c} B_{c,:}`, each computed for all levels at once (levels last).
    Chapter 19.
    """
    At = A[..., None] if A.ndim == 2 else A.transpose(1, 2, 0)
    Bt = B[..., None] if B.ndim == 2 else B.transpose(1, 2, 0)
    product = At[:, 0, None] * Bt[None, 0]
    for c in range(1, At.shape[1]):
        product += At[:, c, None] * Bt[None, c]
    return product.transpose(2, 0, 1)


def times_each(M: np.ndarray, B: np.ndarray) -> np.ndarray:
    r""":math:`M B_j` for every block of a stack ``B`` :math:`(J, k, m)`, with one matrix
    :math:`M`: the blocks side by side, :math:`M [B_1 \cdots B_J]`, as one matrix product
    (free of copies when ``B`` is stored levels last). Chapter 19."""
    Bt = B.transpose(1, 2, 0)
    k, m, J = Bt.shape
    return (M @ Bt.reshape(k, m * J)).reshape(M.shape[0], m, J).transpose(2, 0, 1)


def each_times(B: np.ndarray, M: np.ndarray) -> np.ndarray:
    r""":math:`B_j M` for every block of a stack ``B`` :math:`(J, k, m)`: row :math:`r` of
    every block, side by side, is :math:`M^\top` times an :math:`m \times J` matrix, one
    matrix product per row. Chapter 19."""
    return np.matmul(M.T, B.transpose(1, 2, 0)).transpose(2, 0, 1)


def congruence(T: np.ndarray, D: np.ndarray) -> np.ndarray:
    r""":math:`T^\top D_j T` for every block of a stack :math:`(J, k, k)`, as two matrix
    products (:func:`each_times`, :func:`times_each`). Chapter 19."""
    return times_each(T.T, each_times(D, T))


@dataclass(frozen=True)
class BlockedFactor:
    r"""The blocked Cholesky factor at one :math:`\theta`, and the solved right-hand sides.

    ``R_Xy`` is upper triangular, :math:`(p + 1) \times (p + 1)`: its leading :math:`p \times p`
    block is :math:`R_X`, its last column above the diagonal :math:`c_\beta`, and its last
    diagonal entry :math:`r(\theta)`, the square root of the penalized residual sum of squares.
    :math:`L_{21}` is not stored: the Schur complement needs only
    :math:`K_j = L_{11,j}^{-1} T_1^\top` (:func:`L21` forms it for display). Chapter 19.
    """

    theta: np.ndarray
    L_11: np.ndarray            # (J_1, k_1, k_1), lower triangular blocks
    K: np.ndarray | None        # (J_1, k_1, k_1): L_11,j^-1 T_1' (None with one term)
    L_22: np.ndarray            # (q_2m, q_2m), lower triangular
    R_1: np.ndarray             # (J_1, k_1, p + 1): L_11^-1 Lambda_1' Z_1' [X y]
    R_2: np.ndarray             # (q_2m, p + 1): the same rows for Z_2:m
    R_Xy: np.ndarray
    Lambda_2m: LaterLambda   # Lambda of terms 2..m: its diagonal, or (J_i, T_i) by term


NO_LATER_TERMS = np.zeros(0)   # the diagonal of Lambda_{2:m} of a model with one term: empty


def schur_downdate(H: np.ndarray, gram: GramBlocks) -> np.ndarray:
    r""":math:`Z_{2:m}^\top Z_1\, H\, Z_1^\top Z_{2:m}`, dense, with :math:`H` block diagonal
    (``H`` is :math:`(J_1, k_1, k_1)`): what eliminating the first term takes from
    :math:`Z_{2:m}^\top Z_{2:m}`. The readable version: two sparse products. Chapter 19.
    """
    return (gram.Z2mtZ1 @ block_diagonal(H) @ gram.Z2mtZ1.T).toarray()


def schur_downdate_pairs(H: np.ndarray, pairs: DowndatePairs, q_2m: int,
                         lower_only: bool = False) -> np.ndarray:
    r"""The same matrix as :func:`schur_downdate`, summed pair by pair in one ``bincount``:

    .. math::

        \left(Z_{2:m}^\top Z_1 H Z_1^\top Z_{2:m}\right)_{rs}
            = \sum_j \sum_{a, c} v_{ra}\, H_{j,ac}\, v_{sc} .

    The pairs are fixed; only :math:`H` changes with :math:`\theta`. No sparse product is
    formed at each evaluation. The pairs cover :math:`r \ge s`; with ``lower_only`` the strict
    upper triangle is left 0, for a Cholesky factorization that reads the lower one only.
    Chapter 19; tests check it equals :func:`schur_downdate`.
    """
    weights = pairs.product * H.ravel()[pairs.H_index]
    lower = np.bincount(pairs.target, weights=weights, minlength=q_2m * q_2m).reshape(q_2m, q_2m)
    if lower_only:
        return lower
    return lower + lower.T - np.diag(np.diag(lower))


def schur_downdate_dense(H: np.ndarray, Z2mtZ1: np.ndarray) -> np.ndarray:
    r"""The same matrix as :func:`schur_downdate`, with :math:`Z_{2:m}^\top Z_1` dense:
    :math:`(Z_{2:m}^\top Z_1 H)\,(Z_{2:m}^\top Z_1)^\top`, the first product level by level
    (:math:`H` is block diagonal), the second one matrix product. Chapter 19."""
    q_2m = Z2mtZ1.shape[0]
    J_1, k_1, _ = H.shape
    B_H = stack_matmul(Z2mtZ1.reshape(q_2m, J_1, k_1).swapaxes(0, 1), H)   # (J_1, q_2m, k_1)
    return B_H.swapaxes(0, 1).reshape(q_2m, J_1 * k_1) @ Z2mtZ1.T


def schur_downdate_fast(H: np.ndarray, gram: GramBlocks, lower_only: bool = False
                        ) -> np.ndarray:
    """:func:`schur_downdate` by the method :func:`downdate_method` chose; with ``lower_only``
    only its lower triangle is sure to be filled in. Chapter 19."""
    if gram.Z2mtZ1_dense is not None:
        return schur_downdate_dense(H, gram.Z2mtZ1_dense)
    if gram.pairs is not None:
        return schur_downdate_pairs(H, gram.pairs, gram.Z2mtZ2m.shape[0], lower_only)
    return schur_downdate(H, gram)


def factor_L22(theta_2m: np.ndarray, gram: GramBlocks, H: np.ndarray
               ) -> tuple[np.ndarray, LaterLambda]:
    r""":math:`L_{22}` from the Schur complement, with :math:`H = \Lambda_1 (L_{11}
    L_{11}^\top)^{-1} \Lambda_1^\top` block diagonal:

    .. math::

        L_{22} L_{22}^\top = \Lambda_{2:m}^\top \left(Z_{2:m}^\top Z_{2:m}
            - Z_{2:m}^\top Z_1 H Z_1^\top Z_{2:m}\right) \Lambda_{2:m} + I_{q_{2:m}}
            \quad (= A_{22} - L_{21} L_{21}^\top).

    Also returns :math:`\Lambda_{2:m}`: the vector of its diagonal when every later term is a
    scalar one, otherwise the pairs :math:`(J_i, T_i)` of the later terms
    (:func:`Lambda_2m_times`); no sparse matrix is made at each evaluation. Chapter 19.
    """
    later = gram.terms[1:]
    if all(term.k == 1 for term in later):               # Lambda_{2:m} is diagonal
        Lambda_2m = np.repeat(theta_2m, [term.J for term in later])
        return cholesky_lower(scaled_schur_complement(gram, H, Lambda_2m)), Lambda_2m
    Lambda_2m = tuple((term.J, term_factor(theta_2m[piece], term.k))
                      for term, piece in zip(later, theta_slices(later)))
    S = gram.Z2mtZ2m - schur_downdate_fast(H, gram)
    A_22 = Lambda_2m_times(Lambda_2m, Lambda_2m_times(Lambda_2m, S, True).T, True)
    A_22[np.diag_indices_from(A_22)] += 1.0
    return linalg.cholesky(A_22, lower=True, check_finite=False, overwrite_a=True), Lambda_2m


def scaled_schur_complement(gram: GramBlocks, H: np.ndarray, lam: np.ndarray) -> np.ndarray:
    r"""The lower triangle of :math:`\Lambda_{2:m}^\top S \Lambda_{2:m} + I` when
    :math:`\Lambda_{2:m} = \operatorname{diag}(\lambda)`: entry :math:`(r, s)` is
    :math:`\lambda_r S_{rs} \lambda_s`, with :math:`S` the Schur complement of
    :func:`factor_L22`. Made in place, in one array; the strict upper triangle is not
    meaningful. Chapter 19."""
    A_22 = schur_downdate_fast(H, gram, lower_only=True)
    np.subtract(gram.Z2mtZ2m, A_22, out=A_22)
    A_22 *= lam[:, None]
    A_22 *= lam[None, :]
    A_22[np.diag_indices_from(A_22)] += 1.0
    return A_22


def cholesky_lower(A: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor of ``A`` (C-ordered), read from its lower triangle only, with
    no copy: LAPACK sees the transpose, Fortran-ordered, and factors its upper triangle in
    place; ``A`` is overwritten. Chapter 19."""
    return linalg.cholesky(A.T, lower=False, check_finite=False, overwrite_a=True).T


def Lambda_2m_times(Lambda_2m: LaterLambda, M: np.ndarray, transpose: bool = False
                    ) -> np.ndarray:
    r""":math:`\Lambda_{2:m} M`, or :math:`\Lambda_{2:m}^\top M` with ``transpose``, with no
    sparse product: ``Lambda_2m`` is the vector of the diagonal (a row scaling) or the pairs
    :math:`(J_i, T_i)`, and each term's rows of :math:`M`, level by level, are multiplied by
    :math:`T_i` (:func:`times_each`). Chapter 19."""
    if isinstance(Lambda_2m, np.ndarray):
        return Lambda_2m[:, None] * M if M.ndim == 2 else Lambda_2m * M
    rows, pieces, start = M.reshape(M.shape[0], -1), [], 0
    for J, T in Lambda_2m:
        k = T.shape[0]
        block = rows[start:start + J * k].reshape(J, k, -1)
        pieces.append(times_each(T.T if transpose else T, block).reshape(J * k, -1))
        start += J * k
    return np.concatenate(pieces).reshape(M.shape)


def sparse_Lambda_2m(Lambda_2m: LaterLambda) -> sparse.csr_matrix:
    r""":math:`\Lambda_{2:m}` as a sparse matrix, for display and tests. Chapter 19."""
    if isinstance(Lambda_2m, np.ndarray):
        return sparse.diags(Lambda_2m, format="csr")
    return sparse.block_diag([sparse.kron(sparse.identity(J), T) for J, T in Lambda_2m],
                             format="csr")


def factor_Xy(R_1: np.ndarray, R_2: np.ndarray, XytXy: np.ndarray) -> np.ndarray:
    r""":math:`R_{Xy}`, upper triangular, from what :math:`Z` leaves of :math:`[X\ y]^\top[X\ y]`:

    .. math::

        R_{Xy}^\top R_{Xy} = [X\ y]^\top [X\ y] - R_1^\top R_1 - R_2^\top R_2,
        \qquad R_{Xy} = \begin{bmatrix} R_X & c_\beta \\ 0 & r(\theta) \end{bmatrix}.

    Treating :math:`y` as a last column of :math:`X` makes one factorization give
    :math:`R_X`, :math:`c_\beta` and :math:`r^2(\theta)` together. Chapter 19.
    """
    R_1 = R_1.reshape(-1, XytXy.shape[0])
    return linalg.cholesky(XytXy - R_1.T @ R_1 - R_2.T @ R_2, lower=False, check_finite=False)


def blocked_factor(theta: ArrayLike, gram: GramBlocks) -> BlockedFactor:
    r"""The blocked Cholesky factor of chapter 19 at :math:`\theta`, from the Gram blocks alone.

    .. math::

        L_{11,j} L_{11,j}^\top = T_1^\top (Z_1^\top Z_1)_j T_1 + I, \qquad
        L_{11} R_1 = \Lambda_1^\top Z_1^\top [X\ y], \qquad
        L_{22} R_2 = \Lambda_{2:m}^\top \left(Z_{2:m}^\top [X\ y]
            - Z_{2:m}^\top Z_1 H Z_1^\top [X\ y]\right).
    """
    theta, terms = _checked_theta(theta, gram.terms), gram.terms
    first = theta_slices(terms)[0]
    T_1 = term_factor(theta[first], terms[0].k)
    L_11 = batched_cholesky(congruence(T_1, gram.Z1tZ1) + np.eye(terms[0].k))
    R_1 = batched_forward(L_11, times_each(T_1.T, gram.Z1tXy))
    if len(terms) == 1:                                        # no Schur complement: no K
        return BlockedFactor(theta, L_11, None, np.zeros((0, 0)), R_1, gram.Z2mtXy,
                             factor_Xy(R_1, gram.Z2mtXy, gram.XytXy), NO_LATER_TERMS)
    K = batched_forward(L_11, np.broadcast_to(T_1.T, L_11.shape))   # L_11,j^-1 T_1'
    H = stack_matmul(K.swapaxes(1, 2), K)                      # T_1 (L_11 L_11')^-1 T_1'
    L_22, Lambda_2m = factor_L22(theta[first.stop:], gram, H)
    H_Z1tXy = stack_matmul(H, gram.Z1tXy).reshape(-1, gram.XytXy.shape[0])
    R_2 = linalg.solve_triangular(L_22, Lambda_2m_times(Lambda_2m, gram.Z2mtXy
                                                        - gram.Z2mtZ1 @ H_Z1tXy, True),
                                  lower=True, check_finite=False)
    return BlockedFactor(theta, L_11, K, L_22, R_1, R_2, factor_Xy(R_1, R_2, gram.XytXy),
                         Lambda_2m)


def L21(factor: BlockedFactor, gram: GramBlocks) -> sparse.csr_matrix:
    r""":math:`L_{21} = \Lambda_{2:m}^\top Z_{2:m}^\top Z_1 \Lambda_1 L_{11}^{-\top}
    = \Lambda_{2:m}^\top Z_{2:m}^\top Z_1 \operatorname{diag}(K_j^\top)`, sparse, with the
    pattern of :math:`Z_{2:m}^\top Z_1`. The deviance never needs it (:func:`factor_L22` uses
    :math:`H`); it is formed here to show and test the factor. Chapter 19."""
    if factor.K is None:                                       # one term: L_21 is empty
        return gram.Z2mtZ1
    Lambda_2m = sparse_Lambda_2m(factor.Lambda_2m)
    return (Lambda_2m.T @ gram.Z2mtZ1 @ block_diagonal(factor.K.swapaxes(1, 2))
            ).tocsr()


def dense_L(factor: BlockedFactor, gram: GramBlocks) -> np.ndarray:
    r"""The whole :math:`q \times q` factor :math:`L_\theta`, assembled from its blocks, for
    small models: the same lower-triangular matrix as the readable engine's ``L``. Chapter 19."""
    L_11 = block_diagonal(factor.L_11).toarray()
    if factor.L_22.size == 0:
        return L_11
    L_21 = L21(factor, gram).toarray()
    return np.block([[L_11, np.zeros(L_21.T.shape)], [L_21, factor.L_22]])


def _checked_theta(theta: ArrayLike, terms: tuple[TermShape, ...]) -> np.ndarray:
    """theta as a float vector of the right length, or a ValueError naming the length."""
    theta = np.asarray(theta, dtype=float)
    size = sum(theta_size(t.k) for t in terms)
    if theta.shape != (size,):
        raise ValueError(f"theta has {theta.size} values; these terms need {size}")
    return theta


def log_det_L2_blocked(factor: BlockedFactor) -> float:
    r""":math:`\log|L_\theta|^2 = 2\sum \log` of the diagonals of :math:`L_{11}` and
    :math:`L_{22}` (the determinant of a block-triangular matrix). Chapter 19."""
    diagonal_11 = np.diagonal(factor.L_11, axis1=1, axis2=2)
    return float(2 * (np.sum(np.log(diagonal_11)) + np.sum(np.log(np.diag(factor.L_22)))))


SMALL_Q = 64   # up to this many random effects, one dense q x q factor costs less than blocks


@dataclass(frozen=True)
class DenseGram:
    r"""The whole Gram matrix :math:`G = [Z\ X\ y]^\top [Z\ X\ y]` as one dense array,
    the number :math:`q` of random effects (its first rows and columns), and where each
    :math:`\theta` goes in :math:`\Lambda_\theta`: ``Lambda[rows, cols] = theta[index]``. For
    models with few random effects, whose blocks are so small that the per-block steps cost
    more in overhead than one dense factorization does in arithmetic. Chapter 19."""

    G: np.ndarray       # (q + p + 1, q + p + 1)
    q: int
    rows: np.ndarray
    cols: np.ndarray
    index: np.ndarray


def dense_gram(gram: GramBlocks) -> DenseGram:
    r"""The blocks of ``gram`` put together into
    :math:`G = \begin{bmatrix} Z^\top Z & Z^\top [X\ y] \\ [X\ y]^\top Z & [X\ y]^\top [X\ y]
    \end{bmatrix}`, with :math:`Z^\top Z = \begin{bmatrix} Z_1^\top Z_1 & Z_1^\top Z_{2:m} \\
    Z_{2:m}^\top Z_1 & Z_{2:m}^\top Z_{2:m} \end{bmatrix}`, and the pattern of
    :math:`\Lambda_\theta` (chapter 10's :func:`lmm_teach.pls.Lambda`, filled with the
    positions of the :math:`\theta`'s). Chapter 19.
    """
    m = gram.XytXy.shape[0]
    Z1tZ2m = gram.Z2mtZ1.T.toarray()
    ZtZ = np.block([[block_diagonal(gram.Z1tZ1).toarray(), Z1tZ2m],
                    [Z1tZ2m.T, gram.Z2mtZ2m]])
    ZtXy = np.concatenate([gram.Z1tXy.reshape(-1, m), gram.Z2mtXy])
    size = sum(theta_size(t.k) for t in gram.terms)
    pattern = sparse.csr_matrix(Lambda(np.arange(1.0, size + 1), gram.terms))
    pattern.eliminate_zeros()                     # T_i's upper triangle: no theta there
    pattern = pattern.tocoo()
    return DenseGram(np.block([[ZtZ, ZtXy], [ZtXy.T, gram.XytXy]]), ZtZ.shape[0],
                     pattern.row, pattern.col, pattern.data.astype(int) - 1)


def deviance_from_dense(theta: ArrayLike, gram: GramBlocks, reml: bool) -> float:
    r"""The deviance of :func:`deviance_from_gram` from one Cholesky factorization of the
    whole Gram matrix (:class:`DenseGram`), scaled and penalized (``eq-ch19-Rxy``):

    .. math::

        \tilde\Lambda_\theta^\top G \tilde\Lambda_\theta
        + \begin{bmatrix} I_q & 0 \\ 0 & 0 \end{bmatrix}
        = \begin{bmatrix} L_\theta & 0 \\ R_{ZXy}^\top & R_{Xy}^\top \end{bmatrix}
          \begin{bmatrix} L_\theta & 0 \\ R_{ZXy}^\top & R_{Xy}^\top \end{bmatrix}^\top,
        \qquad \tilde\Lambda_\theta = \begin{bmatrix} \Lambda_\theta & 0 \\
        0 & I_{p+1} \end{bmatrix}.

    The diagonal of the factor holds those of :math:`L_\theta`, :math:`R_X` and, last,
    :math:`r(\theta)`. For models with at most ``SMALL_Q`` random effects. Chapter 19; tests
    check it against both engines.
    """
    _, L_tilde = dense_factor(theta, gram)
    diagonal, q = np.diagonal(L_tilde), gram.dense.q
    p = diagonal.size - q - 1
    return deviance_from_parts(2 * float(np.sum(np.log(diagonal[:q]))),
                               2 * float(np.sum(np.log(diagonal[q:q + p]))),
                               diagonal[-1] ** 2, gram.n, p, reml, gram.sum_log_w)


def dense_factor(theta: ArrayLike, gram: GramBlocks) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\tilde\Lambda_\theta^\top G` and the lower Cholesky factor of
    :math:`M_\theta = \tilde\Lambda_\theta^\top G \tilde\Lambda_\theta + \operatorname{diag}(I_q, 0)`
    (:func:`deviance_from_dense`), for a model with at most ``SMALL_Q`` random effects;
    the analytic gradient (:mod:`lmm_teach.gradient`) needs both. Chapter 19."""
    theta, dense = _checked_theta(theta, gram.terms), gram.dense
    Lambda_tilde = np.eye(dense.G.shape[0])
    Lambda_tilde[dense.rows, dense.cols] = theta[dense.index]
    Lambda_tilde_t_G = Lambda_tilde.T @ dense.G
    M = Lambda_tilde_t_G @ Lambda_tilde
    M[np.arange(dense.q), np.arange(dense.q)] += 1.0
    return Lambda_tilde_t_G, cholesky_small(M)


def cholesky_small(M: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor of a small symmetric matrix, by LAPACK's ``dpotrf`` itself:
    ``scipy.linalg.cholesky`` makes the same call after checks that cost more than the
    factorization of a matrix this small. A LinAlgError where ``M`` is not positive definite,
    as scipy's. Chapter 19."""
    L, info = linalg.lapack.dpotrf(M, lower=1, clean=1)
    if info != 0:
        raise linalg.LinAlgError(f"{info}-th leading minor not positive definite")
    return L


def deviance_from_gram(theta: ArrayLike, gram: GramBlocks, reml: bool) -> float:
    r"""The profiled deviance (ML) or REML criterion at :math:`\theta` from the Gram blocks.

    The formula of :func:`lmm_teach.pls.deviance_from_pls`, with :math:`\log|L_\theta|^2` from
    the blocks, :math:`\log|R_X|^2` and :math:`r^2(\theta)` from :math:`R_{Xy}`:

    .. math::

        d(\theta) = \log|L_\theta|^2 + n\left[1 + \log\frac{2\pi r^2(\theta)}{n}\right]
            - \sum_i \log w_i \quad (+ \log|R_X|^2,\ n - p \text{ for } n \text{ with REML}).

    Nothing here has :math:`n` rows: the blocks may come from data read in pieces. A model
    with at most ``SMALL_Q`` random effects takes the dense route instead
    (:func:`deviance_from_dense`), the same number in fewer steps. Chapter 19.
    """
    if gram.dense is not None:
        return deviance_from_dense(theta, gram, reml)
    return deviance_from_blocks(theta, gram, reml)


def deviance_from_blocks(theta: ArrayLike, gram: GramBlocks, reml: bool) -> float:
    """:func:`deviance_from_gram` by the blocked factor (:func:`blocked_factor`), whatever
    the number of random effects. Chapter 19."""
    factor = blocked_factor(theta, gram)
    p = factor.R_Xy.shape[0] - 1
    log_det_RX2 = 2 * float(np.sum(np.log(np.abs(np.diag(factor.R_Xy)[:p]))))
    return deviance_from_parts(log_det_L2_blocked(factor), log_det_RX2, factor.R_Xy[p, p] ** 2,
                               gram.n, p, reml, gram.sum_log_w)


def blocked_deviance(theta: ArrayLike, design: Design, reml: bool) -> float:
    """The fast engine's profiled deviance: :func:`deviance_from_gram` of ``design.gram``.

    Same signature and value as :func:`lmm_teach.pls.profiled_deviance` (to :math:`10^{-8}`).
    Chapter 19.
    """
    return deviance_from_gram(theta, design.gram, reml)


@dataclass(frozen=True)
class BlockedSolution:
    """What ``make_fit`` needs at :math:`\\hat\\theta`: the same fields as the readable
    :class:`lmm_teach.pls.PLSSolution` except the dense ``L``. Chapter 19."""

    theta: np.ndarray
    R_X: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    b: np.ndarray
    r2: float


def conditional_modes(factor: BlockedFactor, beta: np.ndarray, gram: GramBlocks) -> np.ndarray:
    r""":math:`\hat u` by back-substitution through the blocks,
    :math:`L_\theta^\top \hat u = c_u - R_{ZX}\hat\beta`:

    .. math::

        L_{22}^\top u_2 = c_2 - R_{ZX,2}\hat\beta, \qquad
        L_{11}^\top u_1 = c_1 - R_{ZX,1}\hat\beta - L_{21}^\top u_2,

    with :math:`L_{21}^\top u_2 = K\, Z_1^\top Z_{2:m} \Lambda_{2:m} u_2` level by level.
    Chapter 19.
    """
    p, (J_1, k_1) = beta.shape[0], factor.L_11.shape[:2]
    right_1 = factor.R_1[:, :, p] - factor.R_1[:, :, :p] @ beta
    if factor.L_22.size == 0:
        u_2 = np.zeros(0)
    else:
        right_2 = factor.R_2[:, p] - factor.R_2[:, :p] @ beta
        u_2 = linalg.solve_triangular(factor.L_22, right_2, lower=True, trans="T")
        Z1tZ2m_u = (gram.Z2mtZ1.T @ Lambda_2m_times(factor.Lambda_2m, u_2)).reshape(J_1, k_1, 1)
        right_1 = right_1 - stack_matmul(factor.K, Z1tZ2m_u)[:, :, 0]
    u_1 = batched_backward(factor.L_11, right_1[:, :, None])[:, :, 0]
    return np.concatenate([u_1.ravel(), u_2])


def solve_blocked(theta: ArrayLike, design: Design) -> BlockedSolution:
    r""":math:`\hat\beta` from :math:`R_X \hat\beta = c_\beta`, then :math:`\hat u`, and
    :math:`\hat b = \Lambda_\theta \hat u`, by the fast engine. Chapter 19."""
    factor = blocked_factor(theta, design.gram)
    p = factor.R_Xy.shape[0] - 1
    R_X = factor.R_Xy[:p, :p]
    beta = linalg.solve_triangular(R_X, factor.R_Xy[:p, p])
    u = conditional_modes(factor, beta, design.gram)
    return BlockedSolution(factor.theta, R_X, beta, u, b_from_u(factor, u, design.gram),
                           float(factor.R_Xy[p, p] ** 2))


def b_from_u(factor: BlockedFactor, u: np.ndarray, gram: GramBlocks) -> np.ndarray:
    r""":math:`b = \Lambda_\theta u` block by block, without forming :math:`\Lambda_\theta`:
    :math:`b_{1,j} = T_1 u_{1,j}` for every level :math:`j` at once, and
    :math:`b_{2:m} = \Lambda_{2:m} u_{2:m}`. Chapter 19."""
    J_1, k_1 = factor.L_11.shape[:2]
    T_1 = term_factor(factor.theta[theta_slices(gram.terms)[0]], k_1)
    b_1 = u[:J_1 * k_1].reshape(J_1, k_1) @ T_1.T
    return np.concatenate([b_1.ravel(), Lambda_2m_times(factor.Lambda_2m, u[J_1 * k_1:])])

