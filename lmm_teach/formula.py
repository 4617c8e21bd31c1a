r"""lme4-style model formulas: ``response ~ fixed part + (expr | group) + ...`` (chapter 11).

The first stage of the general engine (lme4's ``lFormula``) reads a formula. This module only
splits the text: the fixed part goes to ``formulaic``, a well-kept formula library, and each
random term ``(expr | group)`` becomes a :class:`RandomTerm`. The grammar of a random term:

- ``(1 | g)``: a random intercept for each level of ``g``;
- ``(x | g)``, the same as ``(1 + x | g)``: correlated random intercept and slope;
- ``(0 + x | g)``: a random slope only;
- ``(1 | a:b)``: a random intercept for each combination of ``a`` and ``b``;
- ``(1 | a/b)``: ``b`` nested in ``a``, short for ``(1 | a) + (1 | b:a)``, as in lme4.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


class FormulaError(ValueError):
    """A model formula that cannot be read; the message quotes the part at fault."""


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(expr | group)``; ``group`` may be an interaction ``a:b``."""

    expr: str
    group: str

    @property
    def name(self) -> str:
        """The term as lme4 prints it, e.g. ``(Days | Subject)``."""
        return f"({self.expr} | {self.group})"

    @property
    def group_columns(self) -> tuple[str, ...]:
        """The data columns whose combinations define the groups."""
        return tuple(self.group.split(":"))


@dataclass(frozen=True)
class ParsedFormula:
    """A formula split into its response, fixed part (a formulaic formula) and random terms."""

    response: str
    fixed: str
    random: tuple[RandomTerm, ...]


def _top_level_parts(text: str, formula: str) -> list[tuple[str, str]]:
    """Split ``text`` at top-level ``+`` and ``-`` into (sign, part) pairs; check parentheses."""
    parts, depth, start, sign = [], 0, 0, "+"
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise FormulaError(f"unbalanced parentheses in {formula!r}: a ')' has no '('")
        if char in "+-" and depth == 0:
            parts.append((sign, text[start:position].strip()))
            start, sign = position + 1, char
    if depth != 0:
        raise FormulaError(f"unbalanced parentheses in {formula!r}: a '(' is never closed")
    parts.append((sign, text[start:].strip()))
    return [(sign, part) for sign, part in parts if part]


def _expand_group(group: str, term: str) -> list[str]:
    """``a/b/c`` gives ``a``, ``b:a``, ``c:b:a`` (lme4's names); a plain group is kept as it is."""
    if not group:
        raise FormulaError(f"empty grouping factor after '|' in {term!r}")
    nested = [part.strip() for part in group.split("/")]
    for part in nested:
        if not all(_NAME.match(name.strip()) for name in part.split(":")):
            raise FormulaError(
                f"grouping factor {part!r} in {term!r} must be a column name, a:b or a/b"
            )
    levels = [":".join(name.strip() for name in part.split(":")) for part in nested]
    return [":".join(reversed(levels[: i + 1])) for i in range(len(levels))]


def _random_terms(part: str) -> list[RandomTerm]:
    """The terms of one parenthesized ``(expr | group)`` part."""
    inner = part[1:-1]
    if "||" in inner:
        raise FormulaError(f"double-bar terms such as {part!r} are not supported; "
                           "write (1 | g) + (0 + x | g) for uncorrelated effects")
    expr, _, group = (piece.strip() for piece in inner.partition("|"))
    if not expr:
        raise FormulaError(f"nothing before '|' in {part!r}: write (1 | g) for a random intercept")
    if "|" in group:
        raise FormulaError(f"more than one '|' in {part!r}")
    return [RandomTerm(expr, name) for name in _expand_group(group, part)]


def parse_formula(formula: str) -> ParsedFormula:
    """Split an lme4-style formula into response, fixed part and random terms. Chapter 11.

    Raises :class:`FormulaError` (a ``ValueError``) that quotes the part at fault.
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string, not {type(formula).__name__}")
    if formula.count("~") != 1:
        raise FormulaError(f"formula {formula!r} needs exactly one '~' between response and terms")
    response, rhs = (side.strip() for side in formula.split("~"))
    if not _NAME.match(response):
        raise FormulaError(f"response {response!r} in {formula!r} must be a column name")
    fixed, random = [], []
    for sign, part in _top_level_parts(rhs, formula):
        is_random = part.startswith("(") and part.endswith(")") and "|" in part
        if is_random and sign == "+":
            random.extend(_random_terms(part))
        elif "|" in part:
            raise FormulaError(f"the random term {part!r} must be added in parentheses, as in + (1 | g)")
        else:
            fixed.append(f"{sign} {part}")
    if not random:
        raise FormulaError(f"formula {formula!r} has no random-effects term such as (1 | group)")
    return ParsedFormula(response, " ".join(fixed).removeprefix("+ ") or "1", tuple(random))
