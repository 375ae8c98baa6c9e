"""Row filters: the simple expressions of MLTable's ``filter`` and ``TabularDataset.filter``.

An expression is Python-like text such as ``col("Age") > 30`` or
``col("species") == "setosa" and not (col("x") <= 2.5)``. It is parsed with
:func:`ast.parse` and checked against a whitelist; nothing in it is ever evaluated as
Python. Allowed:

* ``col("name")``: a column (the name a string literal);
* literals: numbers, strings, ``True``, ``False``, ``None``;
* comparisons ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` (chained ones, such as
  ``1 < col("x") <= 3``, mean each pair joined by ``and``); ``col("x") == None`` and
  ``!= None`` test for a missing value (None takes no other comparison);
* ``and``, ``or``, ``not`` and parentheses.

Anything else (attribute access, subscripts, arithmetic, calls other than ``col``, names,
lambdas, ...) is a one-line :class:`~shardrun.errors.ConfigError` naming the expression
and what is allowed. :func:`parse` checks an expression and lists the columns it names;
:func:`to_arrow` turns it into a ``pyarrow.compute`` expression that a worker applies to
each mini-batch's Arrow table when it reads it (so the driver never reads data).

A row is kept only where the expression is true: where it is null (a comparison with a
missing value) the row is dropped, as pyarrow's ``Table.filter`` does; ``and``/``or``
follow Kleene logic (``False and null`` is false, ``True or null`` true).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from functools import reduce
from typing import Any

from shardrun.errors import ConfigError

ALLOWED = (
    'col("name"), numbers, strings, True/False/None, comparisons == != < <= > >=, '
    "and/or/not and parentheses"
)
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def parse(expression: Any) -> list[str]:
    """The columns ``expression`` names, in order of first use; it is checked first.

    Raises:
        ConfigError: ``expression`` is not a string, does not parse, or uses anything
            beyond what the module docstring lists.
    """
    tree = _tree(expression)
    names: list[str] = []
    _walk(tree.body, str(expression), names)
    return names


def to_arrow(expression: str) -> Any:
    """``expression`` as a ``pyarrow.compute.Expression`` for ``Table.filter``.

    Raises:
        ConfigError: As :func:`parse`.
    """
    tree = _tree(expression)
    _walk(tree.body, expression, [])
    return _build(tree.body)


def _tree(expression: Any) -> ast.Expression:
    if not isinstance(expression, str) or not expression.strip():
        raise ConfigError(
            f"filter expression must be non-empty text such as 'col(\"Age\") > 30'; "
            f"got {expression!r}"
        )
    try:
        return ast.parse(expression.strip(), mode="eval")
    except SyntaxError as e:
        raise ConfigError(
            f"filter expression {expression!r} does not parse ({e.msg}); allowed: {ALLOWED}"
        ) from e


def _refuse(node: ast.AST, expression: str) -> ConfigError:
    part = ast.get_source_segment(expression.strip(), node) or type(node).__name__
    return ConfigError(
        f"filter expression {expression!r} uses {part!r}, which is not allowed; allowed: {ALLOWED}"
    )


def _column(node: ast.AST) -> str | None:
    """The name if ``node`` is ``col("name")``, else None."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "col"
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def _walk(node: ast.AST, expression: str, names: list[str]) -> None:
    """Check ``node`` against the whitelist, collecting column names into ``names``."""
    column = _column(node)
    if column is not None:
        if column not in names:
            names.append(column)
    elif isinstance(node, ast.Constant):
        if not (node.value is None or isinstance(node.value, (bool, int, float, str))):
            raise _refuse(node, expression)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            _walk(value, expression, names)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _walk(node.operand, expression, names)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        if not (
            isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, (int, float))
            and not isinstance(node.operand.value, bool)
        ):
            raise _refuse(node, expression)
    elif isinstance(node, ast.Compare):
        if not all(type(op) in _COMPARE for op in node.ops):
            raise _refuse(node, expression)
        operands = (node.left, *node.comparators)
        for i, op in enumerate(node.ops):
            nones = [_is_none(operands[i]), _is_none(operands[i + 1])]
            if any(nones) and (not isinstance(op, (ast.Eq, ast.NotEq)) or all(nones)):
                raise _refuse(node, expression)
        for part in (node.left, *node.comparators):
            _walk(part, expression, names)
    else:
        raise _refuse(node, expression)


def _build(node: ast.AST) -> Any:
    import pyarrow.compute as pc

    column = _column(node)
    if column is not None:
        return pc.field(column)
    if isinstance(node, ast.Constant):
        return pc.scalar(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return pc.scalar(-node.operand.value)  # type: ignore[attr-defined]
    if isinstance(node, ast.UnaryOp):
        return ~_build(node.operand)
    if isinstance(node, ast.BoolOp):
        join = operator.and_ if isinstance(node.op, ast.And) else operator.or_
        return reduce(join, [_build(v) for v in node.values])
    assert isinstance(node, ast.Compare)
    operands = (node.left, *node.comparators)
    pairs = [_compare(op, operands[i], operands[i + 1]) for i, op in enumerate(node.ops)]
    return reduce(operator.and_, pairs)


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _compare(op: ast.cmpop, left: ast.AST, right: ast.AST) -> Any:
    """One comparison; ``== None`` / ``!= None`` test for a missing value, as in Python."""
    if _is_none(left) or _is_none(right):
        tested = _build(right if _is_none(left) else left)
        return tested.is_null() if isinstance(op, ast.Eq) else tested.is_valid()
    return _COMPARE[type(op)](_build(left), _build(right))
