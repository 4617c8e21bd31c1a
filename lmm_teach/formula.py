r"""lme4's formula language: ``response ~ fixed part + (expr | group) + ...`` (chapters 11 and 14).

The first stage of the general engine (lme4's ``lFormula``) reads a formula as R reads it. R
parses the text into an expression tree; the tree then has two readings:

- **the formula algebra** (R's ``terms()``): at the top of the formula ``+``, ``-``, ``:``,
  ``*``, ``/`` and ``^`` combine *terms*, and a term is a set of *variables*:
  ``(a + b)^2`` is ``a + b + a:b``, ``a*b`` is ``a + b + a:b``, ``a/b`` is ``a + a:b``,
  ``- 1`` and ``0 +`` remove the intercept;
- **arithmetic** (R's evaluation): inside a function call, such as ``I(x^2)`` or
  ``log(1 + y)``, the same signs are numbers' operations and ``^`` is a power.

A *variable* is a column name (dots allowed, as in ``total.fruits``; any name in backticks) or
a call of one of the functions in :data:`FUNCTIONS`; each variable becomes one column of the
model frame (``poly(x, k)``: ``k`` columns). Every construct that this module cannot read as
R reads it raises :class:`FormulaError` naming it; no formula is given another meaning.

The random part follows lme4: ``(expr | g)`` is a random-effects term whose model matrix is
that of ``~ expr``; ``(1 | a/b)`` is ``(1 | a) + (1 | b:a)``; ``(x || g)`` is
``(1 | g) + (0 + x | g)``, one term per term of ``expr`` (lme4's ``expandDoubleVerts``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

# -- tokens -------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)"
    r"|(?P<name>(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*|`[^`]+`)"
    r"|(?P<op>\|\||\*\*|%[^%]*%|[-+*/^:|~(),=])"
)
_SYNTACTIC = re.compile(r"^(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*$")
_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE",
             "FALSE", "NULL", "Inf", "NaN", "NA", "in"}


class FormulaError(ValueError):
    """A model formula that cannot be read as lme4 reads it; the message names the part at fault."""


@dataclass(frozen=True)
class Token:
    """One token of a formula: its kind (``number``, ``name``, ``op``), its text, its position."""

    kind: str
    text: str
    position: int


def tokenize(text: str) -> list[Token]:
    """Split a formula into R's tokens; ``**`` is read as ``^``, as R reads it. Chapter 14."""
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise FormulaError(f"cannot read {text!r}: {text[position]!r} at position {position} "
                               "is not part of lme4's formula language")
        kind, token = match.lastgroup, match.group()
        if kind != "space":
            tokens.append(Token(kind, "^" if token == "**" else token.strip("`"), position))
        position = match.end()
    _check_parentheses(tokens, text)
    return tokens


def _check_parentheses(tokens: list[Token], text: str) -> None:
    """Raise naming the first ``)`` without ``(``, or a ``(`` never closed."""
    depth = 0
    for token in tokens:
        depth += {"(": 1, ")": -1}.get(token.text, 0) if token.kind == "op" else 0
        if depth < 0:
            raise FormulaError(f"unbalanced parentheses in {text!r}: a ')' has no '('")
    if depth:
        raise FormulaError(f"unbalanced parentheses in {text!r}: a '(' is never closed")


# -- the expression tree ------------------------------------------------------------------------

@dataclass(frozen=True)
class Name:
    """A name: a data column (``Days``, ``total.fruits``, ```my col```) or TRUE/FALSE."""

    id: str


@dataclass(frozen=True)
class Number:
    """A numeric constant, such as ``2`` or ``4.5``."""

    value: float


@dataclass(frozen=True)
class Call:
    """A function call ``function(args..., keyword = value, ...)``."""

    function: str
    args: tuple
    keywords: tuple = ()


@dataclass(frozen=True)
class BinaryOp:
    """``left op right``; ``op`` is one of ``~ | || + - * / %in% : ^``."""

    op: str
    left: object
    right: object


@dataclass(frozen=True)
class UnaryOp:
    """``-x``, ``+x`` or ``~ x``."""

    op: str
    operand: object


@dataclass(frozen=True)
class Paren:
    """An expression in parentheses (R keeps them: ``(a + b)^2`` differs from ``a + b^2``)."""

    inner: object


Node = Union[Name, Number, Call, BinaryOp, UnaryOp, Paren]

# R's precedence, low to high (?Syntax): ~, | ||, + -, * /, %any%, :, unary + -, ^.
# (left, right) binding powers; ^ is right-associative.
_INFIX = {"~": (1, 2), "|": (3, 4), "||": (3, 4), "+": (5, 6), "-": (5, 6), "*": (7, 8),
          "/": (7, 8), "%": (9, 10), ":": (11, 12), "^": (15, 14)}
_UNARY_POWER = 13


class _Parser:
    """A Pratt parser of R expressions (the part of R's grammar a model formula uses)."""

    def __init__(self, text: str) -> None:
        self.text, self.tokens, self.i = text, tokenize(text), 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise FormulaError(f"cannot read {self.text!r}: it ends too early")
        self.i += 1
        return token

    def expect(self, text: str) -> None:
        token = self.next()
        if token.text != text or token.kind != "op":
            raise FormulaError(f"cannot read {self.text!r}: expected {text!r} at position "
                               f"{token.position}, found {token.text!r}")

    def infix(self) -> str | None:
        token = self.peek()
        if token is None or token.kind != "op":
            return None
        return "%" if token.text.startswith("%") else token.text if token.text in _INFIX else None

    def expression(self, min_power: int = 0) -> Node:
        left = self.prefix()
        while (op := self.infix()) is not None and _INFIX[op][0] >= min_power:
            token = self.next()
            after = self.peek()
            if op in ("|", "||") and (after is None or after.text == ")"):
                raise FormulaError(f"empty grouping factor after '{op}' in {self.text!r}")
            left = BinaryOp(token.text, left, self.expression(_INFIX[op][1]))
        return left

    def prefix(self) -> Node:
        token = self.next()
        if token.kind == "number":
            return Number(float(token.text.rstrip("L")))
        if token.kind == "name":
            return self.call(token.text) if self._at("(") else Name(token.text)
        if token.text == "(":
            inner = self.expression()
            self.expect(")")
            return Paren(inner)
        if token.text in ("-", "+"):
            return UnaryOp(token.text, self.expression(_UNARY_POWER))
        if token.text == "~":
            return UnaryOp("~", self.expression(_INFIX["~"][1]))
        if token.text in ("|", "||"):
            raise FormulaError(f"nothing before '{token.text}' in {self.text!r}: "
                               "write (1 | g) for a random intercept")
        raise FormulaError(f"cannot read {self.text!r}: unexpected {token.text!r} at position "
                           f"{token.position}")

    def _at(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "op" and token.text == text

    def call(self, function: str) -> Call:
        self.expect("(")
        args, keywords = [], []
        while not self._at(")"):
            is_keyword = (self.peek().kind == "name" and self.i + 1 < len(self.tokens)
                          and self.tokens[self.i + 1].text == "=")
            if is_keyword:
                key = self.next().text
                self.next()
                keywords.append((key, self.expression()))
            else:
                args.append(self.expression())
            if not self._at(")"):
                self.expect(",")
                if self._at(")"):
                    raise FormulaError(f"cannot read {self.text!r}: an empty argument in {function}()")
        self.expect(")")
        return Call(function, tuple(args), tuple(keywords))


def parse_expression(text: str) -> Node:
    """R's expression tree of ``text`` (a formula or an expression in it). Chapter 14."""
    parser = _Parser(text)
    if parser.peek() is None:
        raise FormulaError(f"cannot read {text!r}: it is empty")
    node = parser.expression()
    if parser.peek() is not None:
        token = parser.peek()
        raise FormulaError(f"cannot read {text!r}: unexpected {token.text!r} at position "
                           f"{token.position}")
    return node


# -- R's spelling of an expression (deparse) ----------------------------------------------------

def _r_number(value: float) -> str:
    """A number as R prints it in a formula: ``2``, ``4.5``, ``1e-10``."""
    return format(value, ".15g")


def r_name(name: str) -> str:
    """A name as R writes it: as it is when syntactic, in backticks otherwise."""
    return name if _SYNTACTIC.match(name) and name not in _RESERVED else f"`{name}`"


def deparse(node: Node) -> str:
    """R's spelling of an expression (``deparse``): ``I(x^2)``, ``log(1 + y)``, ``a * b``.

    Column names of the model frame and of the model matrices are spelled this way, as in lme4.
    Chapter 14.
    """
    if isinstance(node, Name):
        return node.id if node.id in ("TRUE", "FALSE") else r_name(node.id)
    if isinstance(node, Number):
        return _r_number(node.value)
    if isinstance(node, Paren):
        return f"({deparse(node.inner)})"
    if isinstance(node, UnaryOp):
        return f"{node.op}{deparse(node.operand)}" if node.op != "~" else f"~{deparse(node.operand)}"
    if isinstance(node, Call):
        arguments = [deparse(arg) for arg in node.args]
        arguments += [f"{key} = {deparse(value)}" for key, value in node.keywords]
        return f"{node.function}({', '.join(arguments)})"
    spaced = node.op not in ("^", ":", "/")
    op = f" {node.op} " if spaced else node.op
    return f"{deparse(node.left)}{op}{deparse(node.right)}"


# -- which functions have a meaning here ---------------------------------------------------------

#: The functions a formula may call, with their R meaning (chapter 14).
FUNCTIONS = {
    "I": "as is: arithmetic inside is R's (^ is a power)",
    "log": "natural logarithm; log(x, base) with a numeric base",
    "log10": "base-10 logarithm", "log2": "base-2 logarithm", "log1p": "log(1 + x)",
    "exp": "exponential", "expm1": "exp(x) - 1", "sqrt": "square root", "abs": "absolute value",
    "factor": "a factor: one level per distinct value (numbers sorted as numbers)",
    "as.factor": "the same as factor",
    "scale": "centre by the mean and divide by the standard deviation (n - 1), on all rows",
    "poly": "orthogonal polynomials of degree 1..k, as R's poly (raw = TRUE: powers)",
}
_REFUSED = {
    "center": "center() is not a function of R or lme4; write scale(x, scale = FALSE) to centre",
    "offset": "offset() terms are not supported",
    "cbind": "cbind(successes, failures) is a binomial response: fit it with "
             "lmm_teach.fit_glmm (lme4's glmer), not fit (lmer)",
    "ordered": "ordered() factors use polynomial contrasts (contr.poly), which are not supported",
    "C": "C() (a factor with chosen contrasts) is not supported",
    "interaction": "interaction() is not supported; write a:b",
}


def check_expression(node: Node, formula: str) -> None:
    """Raise :class:`FormulaError` naming a function or operator with no R meaning here. Chapter 14."""
    if isinstance(node, Call):
        _check_call(node, formula)
        for arg in node.args + tuple(value for _, value in node.keywords):
            check_expression(arg, formula)
    elif isinstance(node, BinaryOp):
        if node.op not in ("+", "-", "*", "/", "^"):
            raise FormulaError(f"{node.op!r} in {deparse(node)!r} (in {formula!r}) has no "
                               "arithmetic meaning here")
        check_expression(node.left, formula)
        check_expression(node.right, formula)
    elif isinstance(node, (UnaryOp, Paren)):
        if isinstance(node, UnaryOp) and node.op == "~":
            raise FormulaError(f"a formula inside a formula: {deparse(node)!r} in {formula!r}")
        check_expression(node.operand if isinstance(node, UnaryOp) else node.inner, formula)


def _check_call(node: Call, formula: str) -> None:
    """A call must be one of :data:`FUNCTIONS`, with arguments R would accept."""
    name = node.function
    if name in _REFUSED:
        raise FormulaError(f"{deparse(node)!r} in {formula!r}: {_REFUSED[name]}")
    if name not in FUNCTIONS:
        raise FormulaError(f"the function {name}() in {formula!r} is not supported; the "
                           f"functions a formula may use are {', '.join(sorted(FUNCTIONS))}")
    allowed = {"log": {"base"}, "scale": {"center", "scale"}, "poly": {"degree", "raw"}}
    unknown = [key for key, _ in node.keywords if key not in allowed.get(name, set())]
    most = {"log": 2, "scale": 3, "poly": 2}.get(name, 1)
    if unknown or not 1 <= len(node.args) <= most:
        raise FormulaError(f"{deparse(node)!r} in {formula!r}: {name}() takes one data argument"
                           + (f" and the options {sorted(allowed[name])}" if name in allowed else ""))
    for option in node.args[1:] + tuple(value for _, value in node.keywords):
        constant = isinstance(option, Number) or (
            isinstance(option, Name) and option.id in ("TRUE", "FALSE", "T", "F"))
        if not constant:
            raise FormulaError(f"{deparse(option)} in {deparse(node)!r} (in {formula!r}): an "
                               "option must be TRUE, FALSE or a number")


# -- the formula algebra: R's terms() ------------------------------------------------------------

@dataclass(frozen=True)
class ModelTerms:
    """What R's ``terms()`` makes of one side of a formula: an intercept and a list of terms.

    Each term is a tuple of variables (R spellings), in the order in which the variables first
    appear; terms are sorted by their number of variables, as R sorts them.
    """

    intercept: bool
    terms: tuple[tuple[str, ...], ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """R's term labels: ``a``, ``a:b``."""
        return tuple(":".join(term) for term in self.terms)

    @property
    def variables(self) -> tuple[str, ...]:
        """Every variable of the terms, each once, in order of first appearance."""
        return tuple(dict.fromkeys(variable for term in self.terms for variable in term))


@dataclass(frozen=True)
class _Algebra:
    """Terms under construction: ordered sets of variables, and the intercept if 0 or 1 was seen."""

    terms: tuple[frozenset, ...] = ()
    intercept: bool | None = None


def _union(*parts: _Algebra) -> _Algebra:
    """``a + b``: the terms of both, each once; the last explicit 0 or 1 decides the intercept."""
    terms = tuple(dict.fromkeys(term for part in parts for term in part.terms))
    explicit = [part.intercept for part in parts if part.intercept is not None]
    return _Algebra(terms, explicit[-1] if explicit else None)


def _interaction(left: _Algebra, right: _Algebra, node: Node) -> _Algebra:
    """``a:b``: the union of every term of ``a`` with every term of ``b``."""
    if left.intercept is not None or right.intercept is not None:
        raise FormulaError(f"0 or 1 inside the interaction {deparse(node)!r} has no meaning")
    return _Algebra(tuple(dict.fromkeys(a | b for a in left.terms for b in right.terms)))


def _nesting(left: _Algebra, right: _Algebra, node: Node) -> _Algebra:
    """``a/b`` (R's nesting): ``a`` plus every term of ``b`` crossed with all variables of ``a``."""
    outer = _Algebra((frozenset().union(*left.terms),))
    return _union(left, _interaction(outer, right, node))


def _power(node: BinaryOp, formula: str) -> _Algebra:
    """``(a + b + c)^k``: all interactions of up to ``k`` of the terms (R's crossing)."""
    if not isinstance(node.left, Paren):
        raise FormulaError(
            f"{deparse(node)!r} in {formula!r}: outside I(), ^ crosses a sum with itself, so R "
            f"reads {deparse(node)} as {deparse(node.left)}; write I({deparse(node)}) for a power")
    if not (isinstance(node.right, Number) and node.right.value == int(node.right.value) >= 1):
        raise FormulaError(f"{deparse(node)!r} in {formula!r}: the power of a sum must be a "
                           "positive whole number")
    base = result = _algebra(node.left, formula)
    for _ in range(int(node.right.value) - 1):
        result = _union(result, _interaction(result, base, node))
    return result


def _algebra(node: Node, formula: str) -> _Algebra:
    """R's formula algebra on an expression tree (``terms.formula``). Chapter 14."""
    if isinstance(node, Paren):
        return _algebra(node.inner, formula)
    if isinstance(node, Number):
        if node.value not in (0, 1):
            raise FormulaError(f"the number {deparse(node)} in {formula!r} is not a term; only "
                               "0 and 1 (the intercept) are")
        return _Algebra((), node.value == 1)
    if isinstance(node, (Name, Call)):
        return _Algebra((frozenset([_variable(node, formula)]),))
    if isinstance(node, UnaryOp) and node.op in ("-", "+"):
        return _binary_algebra(BinaryOp(node.op, _EMPTY, node.operand), formula)
    if isinstance(node, BinaryOp):
        return _binary_algebra(node, formula)
    raise FormulaError(f"{deparse(node)!r} in {formula!r} is not part of lme4's formula language")


_EMPTY = Name("")        # the empty left side of a leading "- x"


def _binary_algebra(node: BinaryOp, formula: str) -> _Algebra:
    """``+``, ``-``, ``:``, ``*``, ``/``, ``^`` of the formula algebra; anything else is refused."""
    if node.op == "^":
        return _power(node, formula)
    if node.op in ("|", "||"):
        raise FormulaError(f"the random term {deparse(node)!r} in {formula!r} must be added in "
                           "parentheses, as in + (1 | g)")
    if node.op not in ("+", "-", ":", "*", "/"):
        raise FormulaError(f"the operator {node.op!r} in {deparse(node)!r} (in {formula!r}) is "
                           "not supported")
    left = _Algebra() if node.left is _EMPTY else _algebra(node.left, formula)
    right = _algebra(node.right, formula)
    if node.op == "+":
        return _union(left, right)
    if node.op == "-":
        flip = None if right.intercept is None else not right.intercept
        kept = tuple(term for term in left.terms if term not in right.terms)
        return _Algebra(kept, flip if flip is not None else left.intercept)
    if node.op == ":":
        return _interaction(left, right, node)
    if node.op == "*":
        return _union(left, right, _interaction(left, right, node))
    return _nesting(left, right, node)


def _variable(node: Name | Call, formula: str) -> str:
    """A variable of the formula, checked, in R's spelling."""
    if isinstance(node, Name) and node.id == ".":
        raise FormulaError(f"'.' (all other columns) in {formula!r} is not supported; "
                           "name the columns")
    check_expression(node, formula)
    return deparse(node)


def _appearance_order(node: Node) -> list[str]:
    """Variables in the order they first appear, left to right (R's order of variables)."""
    if isinstance(node, (Name, Call)):
        return [deparse(node)]
    children = {Paren: lambda n: [n.inner], UnaryOp: lambda n: [n.operand],
                BinaryOp: lambda n: [n.left, n.right]}.get(type(node), lambda n: [])(node)
    return list(dict.fromkeys(name for child in children for name in _appearance_order(child)))


def model_terms(text: str, formula: str | None = None) -> ModelTerms:
    """R's ``terms()`` of one side of a formula: ``"(a + b)^2"`` gives ``a``, ``b``, ``a:b``.

    The intercept is in unless ``0`` or ``- 1`` removes it. Errors quote ``formula`` (the whole
    formula ``text`` comes from), or ``text``. Chapter 14.
    """
    node = parse_expression(text)
    algebra = _algebra(node, formula or text)
    order = {name: i for i, name in enumerate(_appearance_order(node))}
    terms = [tuple(sorted(term, key=order.__getitem__)) for term in algebra.terms if term]
    terms.sort(key=len)                                   # stable: R's order by degree
    return ModelTerms(algebra.intercept is not False, tuple(terms))


# -- random terms and the whole formula ----------------------------------------------------------

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
        return tuple(name.strip("`") for name in self.group.split(":"))


@dataclass(frozen=True)
class ParsedFormula:
    """A formula split into its response, fixed part and random terms, each in R's spelling."""

    response: str
    fixed: str
    random: tuple[RandomTerm, ...]


def _group_levels(node: Node, term: str) -> list[str]:
    """``a/b/c`` gives ``["a", "b", "c"]``; each level a column name or ``a:b``."""
    if isinstance(node, BinaryOp) and node.op == "/":
        return _group_levels(node.left, term) + _group_levels(node.right, term)
    if all(isinstance(leaf, Name) and leaf.id != "." for leaf in _leaves(node)):
        return [deparse(node)]
    raise FormulaError(f"grouping factor {deparse(node)!r} in {term!r} must be a column "
                       "name, a:b or a/b")


def _leaves(node: Node) -> list[Node]:
    """The operands of a chain of ``:``."""
    if isinstance(node, BinaryOp) and node.op == ":":
        return _leaves(node.left) + _leaves(node.right)
    return [node]


def expand_group(node: Node, term: str) -> list[str]:
    """``a/b/c`` gives ``a``, ``b:a``, ``c:b:a`` (lme4's names); a plain group is kept. Chapter 12."""
    levels = _group_levels(node, term)
    return [":".join(reversed(levels[: i + 1])) for i in range(len(levels))]


def double_bar_terms(lhs: Node, formula: str) -> list[str]:
    """lme4's ``expandDoubleVerts``: ``(a + b || g)`` gives ``1``, ``0 + a``, ``0 + b``. Chapter 14.

    One term per term of ``a + b`` (after the algebra, so ``a*b`` gives ``a``, ``b``, ``a:b``),
    with no correlation *between* them; a factor's dummies stay one correlated term, as in lme4.
    """
    terms = model_terms(deparse(lhs), formula)
    if not terms.terms:
        raise FormulaError(f"({deparse(lhs)} || ...) in {formula!r}: lme4 1.1-31 cannot read a "
                           "double-bar term without variables; write (1 | g)")
    return (["1"] if terms.intercept else []) + [f"0 + {label}" for label in terms.labels]


def _random_terms(part: Paren, formula: str) -> list[RandomTerm]:
    """The terms of one ``(expr | group)`` or ``(expr || group)``."""
    bar = part.inner
    if isinstance(bar.left, BinaryOp) and bar.left.op in ("|", "||") or (
            isinstance(bar.right, BinaryOp) and bar.right.op in ("|", "||")):
        raise FormulaError(f"more than one '|' in {deparse(part)!r}")
    model_terms(deparse(bar.left), formula)             # refuses what the algebra cannot read
    exprs = double_bar_terms(bar.left, formula) if bar.op == "||" else [deparse(bar.left)]
    groups = expand_group(bar.right, deparse(part))
    return [RandomTerm(expr, group) for expr in exprs for group in groups]


def _summands(node: Node, sign: str = "+") -> list[tuple[str, Node]]:
    """The top-level sum ``a + b - c`` as (sign, part) pairs, left to right."""
    if isinstance(node, BinaryOp) and node.op in ("+", "-"):
        return _summands(node.left, sign) + _summands(node.right, node.op)
    if isinstance(node, UnaryOp) and node.op in ("+", "-"):
        return _summands(node.operand, "-" if (sign == "-") != (node.op == "-") else "+")
    return [(sign, node)]


def _is_bar(node: Node) -> bool:
    return isinstance(node, Paren) and isinstance(node.inner, BinaryOp) and node.inner.op in ("|", "||")


def _response(node: Node, formula: str) -> str:
    """The response: one variable, such as ``y``, ``log(y)``, ``log(1 + y)`` or ``y/100``.

    R evaluates the left side of ``~`` as an expression, so arithmetic there is arithmetic
    (``y/100``, ``a + b``), not the formula algebra.
    """
    if isinstance(node, (Name, Call)):
        return _variable(node, formula)
    if not isinstance(node, (BinaryOp, UnaryOp, Paren)):
        raise FormulaError(f"response {deparse(node)!r} in {formula!r} must be a column name or "
                           "a function of columns, such as log(y)")
    check_expression(node, formula)
    return deparse(node)


def parse_formula(formula: str) -> ParsedFormula:
    """Split an lme4 formula into response, fixed part and random terms. Chapters 11 and 14.

    Raises :class:`FormulaError` (a ``ValueError``) that names the part at fault.
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string, not {type(formula).__name__}")
    if formula.count("~") != 1:
        raise FormulaError(f"formula {formula!r} needs exactly one '~' between response and terms")
    if not formula.split("~")[0].strip():
        raise FormulaError(f"formula {formula!r} has no response before '~'")
    node = parse_expression(formula)
    if not (isinstance(node, BinaryOp) and node.op == "~"):
        raise FormulaError(f"formula {formula!r} must be 'response ~ terms'")
    fixed, random = [], []
    for sign, part in _summands(node.right):
        if _is_bar(part) and sign == "+":
            random.extend(_random_terms(part, formula))
        elif _is_bar(part) or (isinstance(part, BinaryOp) and part.op in ("|", "||")):
            raise FormulaError(f"the random term {deparse(part)!r} must be added in "
                               "parentheses, as in + (1 | g)")
        else:
            fixed.append((sign, part))
    fixed_text = _join(fixed)
    model_terms(fixed_text, formula)                     # refuses what the algebra cannot read
    if not random:
        raise FormulaError(f"formula {formula!r} has no random-effects term such as (1 | group)")
    return ParsedFormula(_response(node.left, formula), fixed_text, tuple(random))


def _join(parts: list[tuple[str, Node]]) -> str:
    """The fixed part in R's spelling; ``1`` when nothing is left."""
    text = " ".join(f"{sign} {deparse(part)}" for sign, part in parts)
    return text.removeprefix("+ ") if text else "1"


def lme4_coefficient_name(name: str) -> str:
    """lme4's name of a column of X: ``Diet[T.D2]`` (formulaic) is ``DietD2`` (lme4). Chapter 14.

    formulaic writes a factor's column as ``factor[T.level]`` (treatment contrast) or
    ``factor[level]`` (full dummy coding); R pastes the level to the factor's name.
    """
    return re.sub(r"\[(?:T\.)?(.*?)\]", r"\1", name)
