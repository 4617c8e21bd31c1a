"""Chapters 11 and 14: reading lme4 formulas (table-driven, as formulaic's parser tests are).

Expected expansions are R's own: ``attr(terms(~ <rhs>), "term.labels")`` for the term algebra,
``lme4:::expandDoubleVerts`` and ``lme4:::findbars`` for random terms, R's ``poly`` and
``scale`` for the numbers (R 4.2 and lme4 1.1-31).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from lmm_teach import fit
from lmm_teach.design import full_rank_columns, model_frame, model_matrices, term_matrix
from lmm_teach.expressions import r_factor, r_poly, r_scale
from lmm_teach.formula import (FormulaError, deparse, lme4_coefficient_name, model_terms,
                               parse_expression, parse_formula)

PARSED = [
    ("y ~ x + (1 | g)", "x", [("1", "g")]),
    ("y ~ (x | g)", "1", [("x", "g")]),
    ("y ~ x + (1 + x | g)", "x", [("1 + x", "g")]),
    ("y ~ 0 + x + (0 + x | g)", "0 + x", [("0 + x", "g")]),
    ("y ~ x + (1 | g) - 1", "x - 1", [("1", "g")]),
    ("y ~ a*b + (1 | g) + (1 | h)", "a * b", [("1", "g"), ("1", "h")]),
    ("y ~ x + (1 | g) + (0 + x | g)", "x", [("1", "g"), ("0 + x", "g")]),
    ("strength ~ 1 + (1 | batch/cask)", "1", [("1", "batch"), ("1", "cask:batch")]),
    ("y ~ (1 | a/b/c)", "1", [("1", "a"), ("1", "b:a"), ("1", "c:b:a")]),
    ("y ~ a + (1 | a:b)", "a", [("1", "a:b")]),
    ("y~x+(1|g)", "x", [("1", "g")]),
    ("y ~ log(x) + (x - 1 | g)", "log(x)", [("x - 1", "g")]),
    ("y ~ I(x**2) + (1 | g)", "I(x^2)", [("1", "g")]),             # R reads ** as ^
    ("IQ.verb ~ total.fruits + (1 | g.1)", "total.fruits", [("1", "g.1")]),
    ("y ~ `my col` + (1 | `the group`)", "`my col`", [("1", "`the group`")]),
]


@pytest.mark.parametrize("formula, fixed, random", PARSED)
def test_parse(formula, fixed, random):
    parsed = parse_formula(formula)
    assert parsed.response == formula.split("~")[0].strip()
    assert parsed.fixed == fixed
    assert [(term.expr, term.group) for term in parsed.random] == random


# R: attr(terms(~ <text>), "term.labels") and attr(terms(~ <text>), "intercept")
TERMS = [
    ("a * b", True, ["a", "b", "a:b"]),
    ("(a + b)^2", True, ["a", "b", "a:b"]),
    ("(a + b + c)^2", True, ["a", "b", "c", "a:b", "a:c", "b:c"]),
    ("a*b*c - a:b:c", True, ["a", "b", "c", "a:b", "a:c", "b:c"]),
    ("a/b", True, ["a", "a:b"]),
    ("(a + b)/c", True, ["a", "b", "a:b:c"]),
    ("b:a + a + x", True, ["a", "x", "b:a"]),
    ("a*x - a", True, ["x", "a:x"]),
    ("x - 1", False, ["x"]),
    ("-1 + x", False, ["x"]),
    ("0 + x", False, ["x"]),
    ("0 + x + 1", True, ["x"]),
    ("x - 0", True, ["x"]),
    ("1", True, []),
    ("0", False, []),
    ("a:b", True, ["a:b"]),
    ("x + x", True, ["x"]),
    ("I(x^2) + log(1 + x) + poly(x, 2)", True, ["I(x^2)", "log(1 + x)", "poly(x, 2)"]),
    ("factor(N) * Treatment", True, ["factor(N)", "Treatment", "factor(N):Treatment"]),
    ("poly(x, 2):z + z", True, ["z", "poly(x, 2):z"]),
]


@pytest.mark.parametrize("text, intercept, labels", TERMS)
def test_term_algebra_is_rs(text, intercept, labels):
    terms = model_terms(text)
    assert terms.intercept == intercept
    assert list(terms.labels) == labels


# lme4:::expandDoubleVerts, then lme4:::findbars with the a/b expansion
DOUBLE_BAR = [
    ("y ~ (x || g)", [("1", "g"), ("0 + x", "g")]),
    ("y ~ (a + b || g)", [("1", "g"), ("0 + a", "g"), ("0 + b", "g")]),
    ("y ~ (0 + a + b || g)", [("0 + a", "g"), ("0 + b", "g")]),
    ("y ~ (x - 1 || g)", [("0 + x", "g")]),
    ("y ~ (x*b || g)", [("1", "g"), ("0 + x", "g"), ("0 + b", "g"), ("0 + x:b", "g")]),
    ("y ~ (1 + I(x^2) || g)", [("1", "g"), ("0 + I(x^2)", "g")]),
    ("y ~ (x || a/b)", [("1", "a"), ("1", "b:a"), ("0 + x", "a"), ("0 + x", "b:a")]),
]


@pytest.mark.parametrize("formula, random", DOUBLE_BAR)
def test_double_bar_expands_as_lme4(formula, random):
    assert [(t.expr, t.group) for t in parse_formula(formula).random] == random


REFUSED = [
    ("y ~ x + (1 | )", "empty grouping factor after '|'"),
    ("y ~ x + (1 | g", r"unbalanced parentheses .* '\(' is never closed"),
    ("y ~ x + 1 | g)", r"unbalanced parentheses .* '\)' has no '\('"),
    ("y ~ x", "has no random-effects term"),
    ("y ~ x + ( | g)", "nothing before '|'"),
    ("y x + (1 | g)", "needs exactly one '~'"),
    ("y ~ x ~ z + (1 | g)", "needs exactly one '~'"),
    (" ~ x + (1 | g)", "has no response before '~'"),
    ("y ~ x + (1 | g + h)", "grouping factor 'g \\+ h'"),
    ("y ~ x + (1 | factor(g))", r"grouping factor 'factor\(g\)'"),
    ("y ~ x + 1 | g", "must be added in parentheses"),
    ("y ~ x - (1 | g)", "must be added in parentheses"),
    ("y ~ x + (1 | g | h)", "more than one '\\|'"),
    ("y ~ (1 || g)", "lme4 1.1-31 cannot read a double-bar term without variables"),
    ("y ~ x^2 + (1 | g)", r"outside I\(\), \^ crosses a sum .* R reads x\^2 as x; write I\(x\^2\)"),
    ("y ~ log(x)^2 + (1 | g)", r"R reads log\(x\)\^2 as log\(x\)"),
    ("y ~ (a + b)^x + (1 | g)", "must be a positive whole number"),
    ("y ~ . + (1 | g)", r"'\.' \(all other columns\)"),
    ("y ~ a %in% b + (1 | g)", "operator '%in%'"),
    ("y ~ offset(x) + (1 | g)", r"offset\(\) terms are not supported"),
    ("y ~ ns(x, 3) + (1 | g)", r"the function ns\(\) .* is not supported"),
    ("y ~ bs(x) + (1 | g)", r"the function bs\(\)"),
    ("y ~ s(x) + (1 | g)", r"the function s\(\)"),
    ("y ~ center(x) + (1 | g)", r"center\(\) is not a function of R or lme4; write scale\(x, scale = FALSE\)"),
    ("y ~ ordered(x) + (1 | g)", "polynomial contrasts"),
    ("y ~ C(f, sum) + (1 | g)", r"C\(\) \(a factor with chosen contrasts\)"),
    ("cbind(a, b) ~ x + (1 | g)", r"cbind\(successes, failures\) is a binomial response.*fit_glmm"),
    ("y1:y2 ~ x + (1 | g)", "':' in 'y1:y2' .* has no arithmetic meaning"),
    ("y ~ 2 + x + (1 | g)", "the number 2 .* is not a term"),
    ("y ~ poly(x, 2, foo = 1) + (1 | g)", r"poly\(\) takes one data argument and the options"),
    ("y ~ log(x, 10, 2) + (1 | g)", r"log\(\) takes one data argument"),
    ("y ~ I(a:b) + (1 | g)", "':' in 'a:b' .* has no arithmetic meaning"),
    ("y ~ I(a %% 2) + (1 | g)", "'%%' in 'a %% 2'"),
    ("y ~ x$z + (1 | g)", r"'\$' at position 5 is not part of lme4's formula language"),
    ("y ~ x[1] + (1 | g)", r"'\[' at position 5"),
    ('y ~ "x" + (1 | g)', "is not part of lme4's formula language"),
    ("y ~ 1:x + (1 | g)", "0 or 1 inside the interaction"),
    ("y ~ log(x, ) + (1 | g)", r"an empty argument in log\(\)"),
    ("y ~ x:(1 | g)", "must be added in parentheses"),
    ("y ~ I(x > 2) + (1 | g)", "'>' at position 8 is not part of lme4's formula language"),
    ("y ~ scale(x, center = x) + (1 | g)", "x in 'scale\\(x, center = x\\)' .* an option must be TRUE, FALSE or a number"),
]


@pytest.mark.parametrize("formula, message", REFUSED)
def test_refused_construct_is_named(formula, message):
    with pytest.raises(FormulaError, match=message):
        parse_formula(formula)


def test_unary_signs_are_read_as_r_reads_them():
    assert parse_formula("y ~ x + + (1 | g)").fixed == "x"
    assert model_terms(parse_formula("y ~ -1 + x + (1 | g)").fixed).intercept is False


def test_formula_error_is_a_value_error():
    assert issubclass(FormulaError, ValueError)
    with pytest.raises(TypeError, match="formula must be a string"):
        parse_formula(None)


def test_term_name_and_columns():
    term = parse_formula("y ~ (Days | Subject:Night)").random[0]
    assert term.name == "(Days | Subject:Night)"
    assert term.group_columns == ("Subject", "Night")
    assert parse_formula("y ~ (1 | `the group`)").random[0].group_columns == ("the group",)


@pytest.mark.parametrize("text, spelled", [
    ("I(x**2)", "I(x^2)"), ("I((Days-4.5)^2/10)", "I((Days - 4.5)^2/10)"), ("a*b", "a * b"),
    ("log(1+y)", "log(1 + y)"), ("-x^2", "-x^2"), ("scale(x,scale=FALSE)", "scale(x, scale = FALSE)"),
    ("`my col`", "`my col`"), ("total.fruits", "total.fruits"), ("x^-1", "x^-1"), ("2e-3", "0.002"),
])
def test_deparse_is_rs_spelling(text, spelled):
    assert deparse(parse_expression(text)) == spelled


# -- R's meaning of the expressions -------------------------------------------------------------

@pytest.fixture
def small() -> pd.DataFrame:
    rng = np.random.default_rng(14)
    x = np.tile(np.arange(1, 7), 4)                                     # an integer column
    g = np.repeat(["a", "b", "c", "d"], 6)
    return pd.DataFrame({"y": 10 + x + rng.normal(size=24) + np.repeat(rng.normal(size=4), 6),
                         "x": x, "g": g, "f": np.tile(["p", "q", "r"], 8), "w": 1 + x % 2,
                         "code": np.tile([10, 2, 2], 8)})


def test_power_on_an_integer_column_is_a_power_not_xor(small):
    design = model_matrices("y ~ x + I(x^2) + I(x**3) + (1 | g)", small)
    np.testing.assert_array_equal(design.X[:6, 2], [1, 4, 9, 16, 25, 36])     # never 1^2 == 3
    np.testing.assert_array_equal(design.X[:6, 3], [1, 8, 27, 64, 125, 216])
    assert design.fixed_names == ("(Intercept)", "x", "I(x^2)", "I(x^3)")


@pytest.mark.parametrize("expression, expected", [
    ("I(x / 4)", [0.25, 0.5]), ("I(x - 1)", [0, 1]), ("I(2 * x + 1)", [3, 5]), ("I(x^-1)", [1, 0.5]),
    ("I(-x^2)", [-1, -4]), ("log(x)", np.log([1, 2])), ("exp(x / 9)", np.exp([1 / 9, 2 / 9])),
    ("sqrt(x)", np.sqrt([1, 2])), ("log(1 + x)", np.log([2, 3])), ("log(x, 2)", [0, 1]),
    ("log10(x)", np.log10([1, 2])), ("I((x - 3.5)^2)", [6.25, 2.25]), ("abs(x - 2)", [1, 0]),
])
def test_arithmetic_is_rs(small, expression, expected):
    design = model_matrices(f"y ~ {expression} + (1 | g)", small)
    np.testing.assert_allclose(design.X[:2, 1], expected, rtol=1e-14)
    assert design.fixed_names[1] == deparse(parse_expression(expression))


def test_poly_and_scale_are_rs():
    # R: poly(1:5, 2); scale(c(1, 2, NA, 4, 5))
    np.testing.assert_allclose(r_poly(np.arange(1, 6), 2),
                               [[-0.6324555, 0.5345225], [-0.3162278, -0.2672612], [0, -0.5345225],
                                [0.3162278, -0.2672612], [0.6324555, 0.5345225]], atol=5e-8)
    np.testing.assert_allclose(r_scale(np.array([1, 2, np.nan, 4, 5])),
                               [-1.0954451, -0.5477226, np.nan, 0.5477226, 1.0954451], atol=5e-8)
    np.testing.assert_allclose(r_scale(np.array([1.0, 3.0]), scale=False), [-1, 1])
    np.testing.assert_allclose(r_poly(np.arange(1, 4), 2, raw=True), [[1, 1], [2, 4], [3, 9]])


def test_poly_names_and_errors(small):
    design = model_matrices("y ~ poly(x, 2) + (1 | g)", small)
    assert design.fixed_names == ("(Intercept)", "poly(x, 2)1", "poly(x, 2)2")
    np.testing.assert_allclose(design.X[:, 1:].T @ design.X[:, 1:], np.eye(2), atol=1e-12)
    with pytest.raises(FormulaError, match="degree 6 must be less than the number of distinct"):
        model_matrices("y ~ poly(x, 6) + (1 | g)", small)
    with pytest.raises(FormulaError, match="missing values are not allowed in poly"):
        model_matrices("y ~ poly(x, 2) + (1 | g)", small.assign(x=small.x.where(small.index != 3)))
    with pytest.raises(FormulaError, match="the degree must be a positive whole number"):
        model_matrices("y ~ poly(x, 2.5) + (1 | g)", small)
    with pytest.raises(FormulaError, match="must be a variable of its own"):
        model_matrices("y ~ log(poly(x, 2)) + (1 | g)", small)


def test_factor_of_an_integer_code(small):
    # R: levels(factor(c(10, 2, 2))) is c("2", "10"): numbers sort as numbers, not as text
    assert list(r_factor(np.array([10.0, 2.0, 2.0])).categories) == ["2", "10"]
    as_number = model_matrices("y ~ code + (1 | g)", small)
    as_factor = model_matrices("y ~ factor(code) + (1 | g)", small)
    assert as_number.fixed_names == ("(Intercept)", "code")            # one slope
    assert as_factor.fixed_names == ("(Intercept)", "factor(code)[T.10]")   # one contrast vs "2"


def test_factor_inside_arithmetic_is_refused(small):
    with pytest.raises(FormulaError, match="'f' in 'I\\(f\\^2\\)' is a factor"):
        model_matrices("y ~ I(f^2) + (1 | g)", small)
    with pytest.raises(FormulaError, match="is a factor"):
        model_matrices("log(f) ~ x + (1 | g)", small)


@pytest.mark.parametrize("column", ["C", "Treatment", "poly", "center", "log", "scale", "I", "Q",
                                    "T", "IQ.verb", "total.fruits", "x.1", "lmmvar0", "Intercept"])
def test_columns_named_like_functions_or_with_dots(small, column):
    data = small.rename(columns={"x": column})
    design = model_matrices(f"y ~ {column} + (1 | g)", data)
    np.testing.assert_array_equal(design.X[:, 1], data[column])
    assert design.fixed_names == ("(Intercept)", column)


def test_column_named_log_and_the_function_log(small):
    data = small.assign(log=small.x * 10)
    design = model_matrices("y ~ log + log(log) + (1 | g)", data)
    assert design.fixed_names == ("(Intercept)", "log", "log(log)")
    np.testing.assert_allclose(design.X[:, 2], np.log(data.log))


def test_factor_called_treatment_and_group_called_c(small):
    data = small.rename(columns={"f": "Treatment", "g": "C"})
    design = model_matrices("y ~ Treatment + (1 | C)", data)
    assert design.fixed_names == ("(Intercept)", "Treatment[T.q]", "Treatment[T.r]")
    assert design.terms[0].group == "C"


def test_double_bar_with_a_factor_keeps_the_dummies_correlated(small):
    # lme4 1.1-31: (f || g) is (1 | g) + (0 + f | g): one 3 x 3 term with correlations
    design = model_matrices("y ~ x + (f || g)", small)
    assert [(t.name, t.k) for t in design.terms] == [("(1 | g)", 1), ("(0 + f | g)", 3)]
    assert design.terms[1].columns == ("f[p]", "f[q]", "f[r]")


@pytest.mark.parametrize("values", [
    [True, False] * 12,                                   # bool dtype
    [True, False] * 11 + [True, None],                    # object dtype: pandas' logical with NA
    pd.array([True, False] * 11 + [True, None], dtype="boolean"),
])
def test_a_logical_column_has_rs_levels_false_and_true(small, values):
    # R: a logical column x gives the coefficient xTRUE (read.csv of TRUE/FALSE/NA is logical)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)                  # the dropped row
        design = model_matrices("y ~ heavy + (1 | g)", small.assign(heavy=values))
    assert [lme4_coefficient_name(n) for n in design.fixed_names] == ["(Intercept)", "heavyTRUE"]


# R 4.2: colnames(model.matrix(<formula>, d)), a and b factors, x a number (tests/test_formula.py
# small data: a = f, b = h). R codes a factor by indicators when the term without it is in no
# earlier term (a:b alone: all 6 combinations), and the first variable varies fastest.
R_MODEL_MATRIX_NAMES = [
    ("a:b", "(Intercept), ap:bu, aq:bu, ar:bu, ap:bv, aq:bv, ar:bv"),
    ("x:a", "(Intercept), x:ap, x:aq, x:ar"),
    ("a + a:b", "(Intercept), aq, ar, ap:bv, aq:bv, ar:bv"),
    ("0 + a + b", "ap, aq, ar, bv"),
    ("0 + x + a:b", "x, ap:bu, aq:bu, ar:bu, ap:bv, aq:bv, ar:bv"),
    ("a*b", "(Intercept), aq, ar, bv, aq:bv, ar:bv"),
    ("poly(x, 2):a", "(Intercept), poly(x, 2)1:ap, poly(x, 2)2:ap, poly(x, 2)1:aq, "
                     "poly(x, 2)2:aq, poly(x, 2)1:ar, poly(x, 2)2:ar"),
    ("poly(x, 2)*a", "(Intercept), poly(x, 2)1, poly(x, 2)2, aq, ar, poly(x, 2)1:aq, "
                     "poly(x, 2)2:aq, poly(x, 2)1:ar, poly(x, 2)2:ar"),
    ("b:a + a", "(Intercept), aq, ar, bv:ap, bv:aq, bv:ar"),
    ("0 + x:a + b", "bu, bv, x:ap, x:aq, x:ar"),
    ("x + x:a:b", "(Intercept), x, x:ap:bu, x:aq:bu, x:ar:bu, x:ap:bv, x:aq:bv, x:ar:bv"),
    ("a + b + x:a:b", "(Intercept), aq, ar, bv, ap:bu:x, aq:bu:x, ar:bu:x, ap:bv:x, aq:bv:x, "
                      "ar:bv:x"),
    ("(a + b + x)^2 - a:b", "(Intercept), aq, ar, bv, x, aq:x, ar:x, bv:x"),
    ("0 + b:x + a", "ap, aq, ar, bu:x, bv:x"),
]


@pytest.mark.parametrize("rhs, names", R_MODEL_MATRIX_NAMES)
def test_factor_coding_and_column_order_are_rs(small, rhs, names):
    data = small.assign(a=small.f, b=np.repeat(["u", "v"], 12), x=small.x.astype(float))
    frame = model_frame(parse_formula(f"y ~ {rhs} + (1 | g)"), data)
    X, fixed = term_matrix(model_terms(rhs), frame)
    assert ", ".join(lme4_coefficient_name(n) for n in fixed) == names
    assert X.shape == (24, len(fixed))


def test_rank_is_judged_column_by_column_as_rs_qr():
    # lme4 (qr(X, tol = 1e-7)) keeps exp(temp) beside the intercept although its values reach
    # 1e97: lmer(angle ~ exp(temp) + (1 | replicate), cake, REML = FALSE) has logLik -861.0018
    # (tests/reference/data/cake.csv). A rank test relative to the largest column dropped it.
    X = np.column_stack([np.ones(6), np.exp(np.arange(1.0, 7.0) * 37), np.arange(6.0), 2 * np.arange(6.0)])
    with pytest.warns(UserWarning, match=r"rank deficient: dropped column\(s\) \['d'\]"):
        kept, names = full_rank_columns(X, ("(Intercept)", "b", "c", "d"))
    assert names == ("(Intercept)", "b", "c")


@pytest.mark.parametrize("response, expected", [
    ("y/100", lambda d: d.y / 100), ("-y", lambda d: -d.y), ("y + x", lambda d: d.y + d.x),
    ("(y)", lambda d: d.y), ("log(y)", lambda d: np.log(d.y)),
])
def test_the_response_is_an_r_expression(small, response, expected):
    # R evaluates the left side as arithmetic: lmer(angle + temp ~ recipe + (1 | replicate),
    # cake, REML = FALSE) has logLik -1207.2336, and so has fit() on cake.csv
    design = model_matrices(f"{response} ~ x + (1 | g)", small)
    np.testing.assert_allclose(design.y, expected(small), rtol=1e-15)


def test_model_frame_holds_every_variable(small):
    data = small.assign(h=np.tile(["u", "v"], 12))
    parsed = parse_formula("log(y) ~ I(x^2) + poly(x, 2) + factor(code) + (scale(x) | g) + (1 | h)")
    frame = model_frame(parsed, data, weights="w")
    assert list(frame.columns) == ["log(y)", "I(x^2)", "poly(x, 2)1", "poly(x, 2)2", "factor(code)",
                                   "scale(x)", "g", "h", "(weights)"]
    np.testing.assert_allclose(frame["log(y)"], np.log(data.y))
    assert list(frame["factor(code)"].cat.categories) == ["2", "10"]


def test_missing_values_anywhere_drop_the_row(small):
    data = small.assign(h=np.tile(["u", "v"], 12)).astype({"x": float, "w": float})
    data.loc[1, "x"] = np.nan        # used only inside I() and scale()
    data.loc[2, "h"] = None          # a grouping factor
    data.loc[3, "w"] = np.nan        # the weights column (lme4 drops it, as model.frame does)
    data.loc[4, "f"] = None          # a column the formula does not use: kept
    message = r"dropped 3 row\(s\) with missing values in \['x', 'h', 'w'\]"
    with pytest.warns(UserWarning, match=message):
        frame = model_frame(parse_formula("y ~ I(x^2) + (scale(x) | g) + (1 | h)"), data, weights="w")
    assert len(frame) == 21
    # scale(x) used the 23 non-missing x, including rows 2 and 3 that are then dropped
    x = data.x.to_numpy()
    expected = (x - np.nanmean(x)) / np.nanstd(x, ddof=1)
    np.testing.assert_allclose(frame["scale(x)"], np.delete(expected, [1, 2, 3]))


BAD_WEIGHTS = [
    (lambda d: d.w.to_numpy()[:10], ValueError, r"one number per row of the data \(24\), but have shape \(10,\)"),
    (lambda d: np.where(d.index == 0, -1.0, 1.0), ValueError, "1 are negative"),
    (lambda d: np.where(d.index == 0, 0.0, 1.0), ValueError, "1 are zero; drop those rows instead"),
    (lambda d: np.where(d.index < 2, np.inf, 1.0), ValueError, "2 are infinite"),
    (lambda d: np.where(d.index == 0, np.nan, 1.0), ValueError, r"1 missing \(NaN\) value"),
    (lambda d: d.f.to_numpy(), ValueError, "weights must be numeric, but its dtype is (object|str)"),
    (lambda d: "nope", ValueError, "weights column 'nope' is not in the data"),
    (lambda d: "f", ValueError, "weights column 'f' must be numeric"),
    (lambda d: np.ones((24, 2)), ValueError, "one number per row"),
    (lambda d: 2.0, ValueError, "one number per row"),
]


@pytest.mark.parametrize("weights, error, message", BAD_WEIGHTS)
def test_bad_weights_get_a_clear_error(small, weights, error, message):
    with pytest.raises(error, match=message):
        fit("y ~ x + (1 | g)", small, weights=weights(small))


@pytest.mark.parametrize("reml", [False, True])
def test_equal_weights_rescale_sigma_only(small, reml):
    # Var(e_i) = sigma^2 / w_i: with every w_i = 2 the same model has sigma^2 twice as large,
    # the same beta and sigma_b, and the same log-likelihood (the -sum log w_i term of lme4's
    # deviance makes up for the weighted residuals).
    one = fit("y ~ x + (1 | g)", small, reml=reml)
    two = fit("y ~ x + (1 | g)", small, reml=reml, weights=np.full(24, 2.0))
    np.testing.assert_allclose(two.sigma**2, 2 * one.sigma**2, rtol=1e-4)
    np.testing.assert_allclose(two.beta, one.beta, rtol=1e-6)
    np.testing.assert_allclose(two.varcorr.sdcor[0], one.varcorr.sdcor[0], rtol=1e-4)
    np.testing.assert_allclose(two.loglik, one.loglik, atol=1e-6)


def test_values_with_no_r_meaning_are_refused(small):
    with pytest.raises(ValueError, match=r"variable 'log\(x - 3\)' holds non-finite values in 12 row"):
        model_matrices("y ~ log(x - 3) + (1 | g)", small)
    ordered = small.assign(f=pd.Categorical(small.f, ordered=True))
    with pytest.raises(ValueError, match="ordered categorical: lme4 would code it with polynomial"):
        model_matrices("y ~ f + (1 | g)", ordered)
    with pytest.raises(ValueError, match=r"response 'g' must be numeric, but it is a factor"):
        model_matrices("g ~ x + (1 | f)", small)


@pytest.mark.parametrize("ours, lme4", [
    ("(Intercept)", "(Intercept)"), ("Diet[T.D2]", "DietD2"), ("Sex[Female]", "SexFemale"),
    ("nitro:Treatment[T.Victory]", "nitro:TreatmentVictory"), ("factor(N)[T.1]", "factor(N)1"),
    ("poly(Days, 2)1", "poly(Days, 2)1"), ("Time:factor(Diet)[T.2]", "Time:factor(Diet)2"),
    ("status[T.Petri.Plate]", "statusPetri.Plate"), ("I(Days^2)", "I(Days^2)"),
])
def test_lme4_coefficient_names(ours, lme4):
    assert lme4_coefficient_name(ours) == lme4


@pytest.mark.parametrize("formula", [
    "y ~ x + (1 | g) + zz", "y ~ log(zz) + (1 | g)", "zz ~ x + (1 | g)", "y ~ x + (zz | g)",
    "y ~ x + (1 | zz)", "y ~ x + (1 | g:zz)", "y ~ scale(zz) + (1 | g)",
])
def test_a_missing_column_is_named_wherever_it_is_used(small, formula):
    with pytest.raises(ValueError, match=r"column\(s\) \['zz'\] named in the formula are not in the data"):
        model_matrices(formula, small)


@pytest.mark.parametrize("formula", [
    "y ~ (((x)) + (1 | g)", "y ~ x + (1 | g))", "y ~ x + ()", "y ~ f(x) + (1 | g)", "y ~ x + (1 | 2)",
    "y ~ x + (1 | g) + (0 | g)", "~", "y ~", "y ~ (1 | g) + x ||", "y ~ I() + (1 | g)", "y ~ x + (y ~ x | g)",
    "y ~ x + (1 | g/)", "y ~ log(x,) + (1 | g)", "y ~ poly(x, degree = -1) + (1 | g)", "y ~ x:(1 | g)",
])
def test_odd_formulas_never_raise_anything_but_a_value_error(small, formula):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit(formula, small)
        except ValueError:
            pass
