"""Input checks shared by the modules: each raises ``ValueError`` naming what is wrong.

Python's ``assert`` vanishes under ``python -O``, so every check here raises explicitly.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike


def as_vector(values: ArrayLike, name: str) -> np.ndarray:
    """Return ``values`` as a finite 1-D float array, or raise naming ``name``."""
    vector = np.asarray(values, dtype=float)
    if vector.ndim == 0:
        vector = vector.reshape(1)
    if vector.ndim != 1:
        raise ValueError(f"{name} must be a vector, but it has shape {vector.shape}")
    if not np.all(np.isfinite(vector)):
        raise ValueError(f"{name} holds {np.sum(~np.isfinite(vector))} non-finite value(s)")
    return vector


def as_matrix(
    values: ArrayLike, name: str, rows: int | None = None, rows_of: str = "y"
) -> np.ndarray:
    """Return ``values`` as a finite 2-D float array with ``rows`` rows (as many as ``rows_of``)."""
    matrix = np.asarray(values, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be a matrix (2-D), but it has shape {matrix.shape}")
    if rows is not None and matrix.shape[0] != rows:
        raise ValueError(f"{name} has {matrix.shape[0]} rows, but {rows_of} has {rows}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{name} holds {np.sum(~np.isfinite(matrix))} non-finite value(s)")
    return matrix


def check_length(vector: np.ndarray, length: int, name: str, against: str) -> None:
    """Raise unless ``vector`` has ``length`` entries (the number of columns of ``against``)."""
    if vector.shape[0] != length:
        raise ValueError(
            f"{name} has {vector.shape[0]} entries, but {against} has {length} columns"
        )


def positive_scalar(value: float, name: str) -> float:
    """Return ``value`` as a float, or raise unless it is finite and strictly positive."""
    number = float(value)
    if not np.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a positive, finite number, but it is {number}")
    return number


def read_only_copies(instance: object) -> None:
    """Replace every NumPy array field of a frozen dataclass by a read-only copy.

    A frozen dataclass stops ``fit.beta = ...``; this also stops ``fit.beta[0] = ...``.
    """
    for name, value in vars(instance).items():
        if isinstance(value, np.ndarray):
            frozen = value.copy()
            frozen.flags.writeable = False
            object.__setattr__(instance, name, frozen)


def covariance_matrix(values: ArrayLike, name: str, size: int) -> np.ndarray:
    """Return a symmetric ``size`` x ``size`` matrix, or raise naming ``name``."""
    matrix = as_matrix(values, name)
    if matrix.shape != (size, size):
        raise ValueError(f"{name} must be {size} x {size}, but it has shape {matrix.shape}")
    if not np.allclose(matrix, matrix.T):
        raise ValueError(f"{name} must be symmetric")
    return matrix


_PACKAGE = str(Path(__file__).resolve().parent)


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn, pointing at the first line outside lmm_teach: the reader's own call, whichever
    stage of the engine (``fit``, ``model_matrices``, ``optimize_theta``) it called."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, category, stacklevel=level + 1)
