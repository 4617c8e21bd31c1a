"""Chapter 11: reading lme4-style formulas (table-driven, as formulaic's parser tests are)."""

import pytest

from lmm_teach.formula import FormulaError, parse_formula

PARSED = [
    ("y ~ x + (1 | g)", "x", [("1", "g")]),
    ("y ~ (x | g)", "1", [("x", "g")]),
    ("y ~ x + (1 + x | g)", "x", [("1 + x", "g")]),
    ("y ~ 0 + x + (0 + x | g)", "0 + x", [("0 + x", "g")]),
    ("y ~ x + (1 | g) - 1", "x - 1", [("1", "g")]),
    ("y ~ a*b + (1 | g) + (1 | h)", "a*b", [("1", "g"), ("1", "h")]),
    ("y ~ x + (1 | g) + (0 + x | g)", "x", [("1", "g"), ("0 + x", "g")]),
    ("strength ~ 1 + (1 | batch/cask)", "1", [("1", "batch"), ("1", "cask:batch")]),
    ("y ~ (1 | a/b/c)", "1", [("1", "a"), ("1", "b:a"), ("1", "c:b:a")]),
    ("y ~ a + (1 | a:b)", "a", [("1", "a:b")]),
    ("y~x+(1|g)", "x", [("1", "g")]),
    ("y ~ log(x) + (x - 1 | g)", "log(x)", [("x - 1", "g")]),
]


@pytest.mark.parametrize("formula, fixed, random", PARSED)
def test_parse(formula, fixed, random):
    parsed = parse_formula(formula)
    assert parsed.response == formula.split("~")[0].strip()
    assert parsed.fixed == fixed
    assert [(term.expr, term.group) for term in parsed.random] == random


MALFORMED = [
    ("y ~ x + (1 | )", "empty grouping factor after '|'"),
    ("y ~ x + (1 | g", r"unbalanced parentheses .* '\(' is never closed"),
    ("y ~ x + 1 | g)", r"unbalanced parentheses .* '\)' has no '\('"),
    ("y ~ x", "has no random-effects term"),
    ("y ~ x + ( | g)", "nothing before '|'"),
    ("y x + (1 | g)", "needs exactly one '~'"),
    ("y ~ x ~ z + (1 | g)", "needs exactly one '~'"),
    (" ~ x + (1 | g)", "response '' .* must be a column name"),
    ("y ~ x + (1 | g + h)", "grouping factor 'g \\+ h'"),
    ("y ~ x + 1 | g", "must be added in parentheses"),
    ("y ~ x + (x || g)", "double-bar terms"),
    ("y ~ x + (1 | g | h)", "more than one '\\|'"),
]


@pytest.mark.parametrize("formula, message", MALFORMED)
def test_malformed_formula_is_named(formula, message):
    with pytest.raises(FormulaError, match=message):
        parse_formula(formula)


def test_formula_error_is_a_value_error():
    assert issubclass(FormulaError, ValueError)
    with pytest.raises(TypeError, match="formula must be a string"):
        parse_formula(None)


def test_term_name_and_columns():
    term = parse_formula("y ~ (Days | Subject:Night)").random[0]
    assert term.name == "(Days | Subject:Night)"
    assert term.group_columns == ("Subject", "Night")
