r"""R's meaning of a formula's variables: ``I(x^2)``, ``log(1 + y)``, ``factor(x)``,
``scale(x)``, ``poly(x, k)`` evaluated on the data (chapter 14, *How lme4 reads a formula*).

R's ``model.frame`` evaluates every variable of a formula on *all* rows of the data, and only
then drops the rows with a missing value. Data-dependent functions therefore use the rows that
are later dropped: ``scale(x)`` centres by the mean of every non-missing ``x``, ``poly(x, 2)``
is orthogonal over all rows. :func:`variable_columns` does the same, and
:func:`lmm_teach.design.model_frame` drops the rows afterwards.

Arithmetic is R's: ``^`` is a power (never Python's XOR, ``1 ^ 2 == 3``), ``/`` divides in
floating point, and a factor cannot take part in arithmetic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmm_teach.formula import (BinaryOp, Call, FormulaError, Name, Node, Number, Paren, UnaryOp,
                               deparse, parse_expression)

def r_level_label(value: object) -> str:
    """A factor level as R's ``as.character`` writes it: ``2`` (not ``2.0``), ``0.2``, ``a``."""
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return format(float(value), ".15g")
    return str(value)


def _r_text(value: object) -> str:
    """A value of a text column as R reads it: ``True`` (a boolean among missing values, as
    pandas reads a logical column with NA) is R's ``TRUE``; anything else its text."""
    return r_level_label(value) if isinstance(value, (bool, np.bool_)) else str(value)


def r_factor(values: np.ndarray | pd.Categorical) -> pd.Categorical:
    """R's ``factor(x)``: one level per distinct value, numbers sorted as numbers. Chapter 14.

    ``factor(c(10, 2, 2))`` has levels ``"2", "10"``; a factor keeps its level order and loses
    its unused levels. Missing values stay missing.
    """
    if isinstance(values, pd.Categorical):
        return values.remove_unused_categories()
    present = values[~pd.isna(values)]
    levels = np.unique(present)
    codes = np.full(len(values), -1)
    codes[~pd.isna(values)] = np.searchsorted(levels, present)
    return pd.Categorical.from_codes(codes, [r_level_label(level) for level in levels])


def r_scale(x: np.ndarray, center: bool = True, scale: bool = True) -> np.ndarray:
    r"""R's ``scale(x)``: :math:`(x - \bar x)/s` with :math:`s^2 = \sum (x_i - \bar x)^2/(n - 1)`.

    .. math::

        z_i = \frac{x_i - \bar x}{s}, \qquad
        s = \sqrt{\frac{1}{n - 1}\sum_{i=1}^{n} (x_i - \bar x)^2}

    over the :math:`n` non-missing values. With ``center=False``, :math:`s` is the root mean
    square :math:`\sqrt{\sum x_i^2/(n-1)}`, as in R. Chapter 14.
    """
    x = np.asarray(x, dtype=float)
    present = x[~np.isnan(x)]
    if center:
        x, present = x - present.mean(), present - present.mean()
    if scale:
        x = x / np.sqrt(np.sum(present**2) / (present.size - 1))
    return x


def r_poly(x: np.ndarray, degree: int, raw: bool = False) -> np.ndarray:
    r"""R's ``poly(x, degree)``: orthonormal polynomials of degree :math:`1..k` in the data.

    Column :math:`j` is :math:`(x - \bar x)^j` made orthogonal to the lower powers and
    scaled to length 1. R obtains it from the QR decomposition of
    :math:`[1, x - \bar x, \dots, (x - \bar x)^k] = QR` as :math:`Q_j R_{jj}/|R_{jj}|`:

    .. math::

        P_{\cdot j} = \operatorname{sign}(R_{jj})\, Q_{\cdot j}, \qquad j = 1, \dots, k,

    which does not depend on the sign conventions of the QR algorithm. ``raw=True`` gives the
    powers :math:`x, x^2, \dots, x^k`. Chapter 14; checked against R's ``poly``.
    """
    x = np.asarray(x, dtype=float)
    if np.isnan(x).any():
        raise FormulaError("missing values are not allowed in poly() (as in R's poly)")
    if raw:
        return np.column_stack([x**j for j in range(1, degree + 1)])
    if degree >= np.unique(x).size:
        raise FormulaError(f"poly(): degree {degree} must be less than the number of distinct "
                           f"values ({np.unique(x).size}), as in R")
    Q, R = np.linalg.qr(np.vander(x - x.mean(), degree + 1, increasing=True))
    return (Q * np.sign(np.diag(R)))[:, 1:]


def column_value(data: pd.DataFrame, name: str) -> np.ndarray | pd.Categorical:
    """A data column as R's model frame sees it: numbers as floats, anything else a factor.

    Text, categorical and boolean columns are factors (levels sorted, or the categorical's own
    order; booleans have levels FALSE, TRUE, also in a column of booleans and missing values,
    which pandas stores as objects). An ordered categorical is refused: R would code it
    with polynomial contrasts. Chapter 14.
    """
    column = data[name]
    if pd.api.types.is_bool_dtype(column):
        return r_factor(column.to_numpy())
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=float, na_value=np.nan)
    if isinstance(column.dtype, pd.CategoricalDtype):
        if column.cat.ordered:
            raise ValueError(f"column {name!r} is an ordered categorical: lme4 would code it with "
                             "polynomial contrasts (contr.poly), which are not supported; use "
                             ".cat.as_unordered() for treatment contrasts")
        return pd.Categorical(column).rename_categories(r_level_label)
    if pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
        return r_factor(column.map(_r_text, na_action="ignore").to_numpy(dtype=object))
    raise ValueError(f"column {name!r} has dtype {column.dtype}: a formula variable must be "
                     "numeric, text, boolean or categorical")


_MATH = {"log": np.log, "log10": np.log10, "log2": np.log2, "log1p": np.log1p, "exp": np.exp,
         "expm1": np.expm1, "sqrt": np.sqrt, "abs": np.abs}
_ARITHMETIC = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power}


def _numeric(value: object, node: Node, text: str) -> np.ndarray:
    """``value`` as floats, or a FormulaError: R does no arithmetic on a factor."""
    if isinstance(value, pd.Categorical):
        raise FormulaError(f"{deparse(node)!r} in {text!r} is a factor (text or categories): "
                           "arithmetic and numeric functions need a numeric column")
    if np.ndim(value) == 2:
        raise FormulaError(f"poly() in {text!r} must be a variable of its own, not an argument")
    return np.asarray(value, dtype=float)


def _option(node: Call, key: str, position: int, default: object) -> object:
    """A call's option, by keyword or position: TRUE/FALSE or a number."""
    values = dict(node.keywords)
    option = values.get(key, node.args[position] if len(node.args) > position else None)
    if option is None:
        return default
    if isinstance(option, Name) and option.id in ("TRUE", "T", "FALSE", "F"):
        return option.id in ("TRUE", "T")
    if isinstance(option, Number):
        return option.value
    raise FormulaError(f"{key} = {deparse(option)} in {deparse(node)!r}: only TRUE, FALSE or "
                       "a number is understood here")


def _call_value(node: Call, data: pd.DataFrame, text: str) -> np.ndarray | pd.Categorical:
    """A call of one of lme4's functions, with R's meaning."""
    x = evaluate(node.args[0], data, text) if node.args else None
    name = node.function
    if name in ("factor", "as.factor"):
        return r_factor(x)
    if name == "poly":
        degree = _option(node, "degree", 1, 1)
        if isinstance(degree, bool) or degree != int(degree) or degree < 1:
            raise FormulaError(f"{deparse(node)!r}: the degree must be a positive whole number")
        return r_poly(_numeric(x, node.args[0], text), int(degree), bool(_option(node, "raw", 2, False)))
    x = _numeric(x, node.args[0], text)
    if name == "I":
        return x
    if name == "scale":
        return r_scale(x, bool(_option(node, "center", 1, True)), bool(_option(node, "scale", 2, True)))
    base = _option(node, "base", 1, None) if name == "log" else None
    with np.errstate(all="ignore"):
        return _MATH[name](x) if base is None else np.log(x) / np.log(float(base))


def evaluate(node: Node, data: pd.DataFrame, text: str) -> np.ndarray | pd.Categorical:
    """The value of an expression on every row of ``data``, with R's meaning. Chapter 14.

    Names are data columns (:func:`column_value`); ``+ - * / ^`` are arithmetic (``^`` a
    power); calls are the functions of :data:`lmm_teach.formula.FUNCTIONS`.
    """
    if isinstance(node, Name):
        return column_value(data, node.id)
    if isinstance(node, Number):
        return np.full(len(data), node.value)
    if isinstance(node, Paren):
        return evaluate(node.inner, data, text)
    if isinstance(node, UnaryOp):
        value = _numeric(evaluate(node.operand, data, text), node.operand, text)
        return -value if node.op == "-" else value
    if isinstance(node, Call):
        return _call_value(node, data, text)
    left = _numeric(evaluate(node.left, data, text), node.left, text)
    right = _numeric(evaluate(node.right, data, text), node.right, text)
    with np.errstate(all="ignore"):
        return _ARITHMETIC[node.op](left, right)


def data_names(node: Node) -> list[str]:
    """The data columns an expression reads, in order of appearance (not function names).

    Only a call's first argument is data; its options (``degree``, ``center``, ``base``) are
    constants.
    """
    if isinstance(node, Name):
        return [node.id]
    children = {Paren: lambda n: [n.inner], UnaryOp: lambda n: [n.operand],
                BinaryOp: lambda n: [n.left, n.right], Call: lambda n: list(n.args[:1])}
    parts = children.get(type(node), lambda n: [])(node)
    return list(dict.fromkeys(name for child in parts for name in data_names(child)))


def variable_columns(text: str, data: pd.DataFrame) -> pd.DataFrame:
    """One variable of a formula evaluated on all rows, as columns named as R names them.

    ``poly(x, 2)`` gives the columns ``poly(x, 2)1`` and ``poly(x, 2)2``; any other variable
    one column named by its R spelling, such as ``I(x^2)``. Chapter 14.
    """
    value = evaluate(parse_expression(text), data, text)
    if np.ndim(value) == 2:
        return pd.DataFrame(value, index=data.index, columns=[f"{text}{j + 1}" for j in range(value.shape[1])])
    return pd.DataFrame({text: value}, index=data.index)
