"""Request bounds: every string and list a request carries is bounded before any resolver (or the
compiled path) sees it, whether it is written into the document or sent as a variable.

* a string is at most ``max_string_length`` characters (``max_search_length`` for an argument
  named ``search``, which becomes a LIKE pattern), and holds no NUL and no lone surrogate
  (PostgreSQL cannot store the one, UTF-8 cannot encode the other);
* a list is at most ``max_list_length`` items;
* all the lists and input objects of one request hold at most ``max_input_items`` values together,
  so no request can expand into more bind parameters than PostgreSQL accepts (32,767).

Two entry points check the same :func:`value_problem`:

* :func:`input_bounds_rule`: a graphql-core validation rule for literals (and variable defaults);
  it is part of ``validation_rules(settings)``, so the compiled path applies it too;
* :func:`variable_bound_errors`: for the variable values of one operation, called by strawberry's
  :class:`VariableBounds` extension before execution, and by the compiled path before it binds
  variables (a non-empty answer means "refuse", with exactly these errors).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from graphql import (
    ArgumentNode,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    ListValueNode,
    Node,
    ObjectValueNode,
    OperationDefinitionNode,
    StringValueNode,
    ValidationRule,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
    visit,
)
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult

from gridweave.settings import Settings

__all__ = [
    "InputBounds",
    "VariableBounds",
    "input_bounds",
    "input_bounds_rule",
    "value_problem",
    "variable_bound_errors",
]

BOUNDS_ERROR_CODE = "VALIDATION"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class InputBounds:
    max_string_length: int = 5_000
    max_list_length: int = 200
    max_input_items: int = 5_000
    #: Tighter string limits for arguments of these names (wherever they appear).
    argument_string_lengths: Mapping[str, int] = field(default_factory=lambda: {"search": 100})

    def string_limit(self, argument: str | None) -> int:
        if argument is None:
            return self.max_string_length
        return self.argument_string_lengths.get(argument, self.max_string_length)


def input_bounds(settings: Settings) -> InputBounds:
    return InputBounds(
        max_string_length=settings.max_string_length,
        max_list_length=settings.max_list_length,
        max_input_items=settings.max_input_items,
        argument_string_lengths={"search": settings.max_search_length},
    )


Path = tuple[str, ...]


def _where(path: Path) -> str:
    return f"in '{'.'.join(path)}'" if path else "in the request"


class Problem(NamedTuple):
    message: str
    limit: int | None = None
    #: Where the value sits: the argument (or variable), then input fields and list indexes.
    field: Path = ()


def string_problem(value: str, limit: int, path: Path) -> Problem | None:
    if len(value) > limit:
        return Problem(
            f"A text {_where(path)} has {len(value):,} characters, "
            f"more than the {limit:,} allowed.",
            limit,
            path,
        )
    if _UNSTORABLE.search(value):
        return Problem(
            f"A text {_where(path)} contains a NUL character or a lone surrogate, "
            "which cannot be stored.",
            None,
            path,
        )
    return None


def value_problem(
    value: Any, bounds: InputBounds, *, argument: str | None = None, path: Path = ()
) -> tuple[Problem | None, int]:
    """The first bound a (JSON-like) value breaks, and how many list items and object fields it
    holds. ``argument`` picks the string limit of the value itself and of the items of a list it
    is; ``path`` says where the value sits (for messages). Iterative, so a deeply nested value
    cannot exhaust the stack."""
    items = 0
    stack: list[tuple[Any, str | None, Path]] = [(value, argument, path)]
    while stack:
        current, name, where = stack.pop()
        if isinstance(current, str):
            problem = string_problem(current, bounds.string_limit(name), where)
            if problem:
                return problem, items
        elif isinstance(current, list | tuple):
            if len(current) > bounds.max_list_length:
                message = (
                    f"A list {_where(where)} has {len(current):,} items, more than the "
                    f"{bounds.max_list_length:,} allowed."
                )
                return Problem(message, bounds.max_list_length, where), items
            items += len(current)
            # Items of a list given directly to an argument keep the argument's string limit.
            stack.extend((item, name, (*where, str(i))) for i, item in enumerate(current))
        elif isinstance(current, Mapping):
            items += len(current)
            for key, item in current.items():
                key_path = (*where, str(key)[:50])
                if isinstance(key, str) and (problem := string_problem(key, 1_000, key_path)):
                    return problem, items
                stack.append((item, None, key_path))
        if items > bounds.max_input_items:
            return _too_many(bounds), items
    return None, items


def _too_many(bounds: InputBounds) -> Problem:
    return Problem(
        f"The request's lists and input objects hold more than the "
        f"{bounds.max_input_items:,} values allowed together.",
        bounds.max_input_items,
    )


def _error(problem: Problem, node: Node | None, prefix: str = "") -> GraphQLError:
    extensions: dict[str, Any] = {"code": BOUNDS_ERROR_CODE}
    if problem.field:
        extensions["field"] = list(problem.field)
    if problem.limit is not None:
        extensions["limit"] = problem.limit
    return GraphQLError(prefix + problem.message, node, extensions=extensions)


# --------------------------------------------------------------------------------------------
# Literals: a validation rule
# --------------------------------------------------------------------------------------------


def _literal_values(node: ValueNode, path: Path) -> Iterator[tuple[Any, ValueNode, Path]]:
    """Walks a literal like value_problem walks JSON: yields (plain value, node, path) per
    string, and a stand-in list or object per list or object, without recursion."""
    stack: list[tuple[ValueNode, Path]] = [(node, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, StringValueNode):
            yield current.value, current, where
        elif isinstance(current, ListValueNode):
            yield [None] * len(current.values), current, where
            stack.extend((v, (*where, str(i))) for i, v in enumerate(current.values))
        elif isinstance(current, ObjectValueNode):
            yield {f.name.value: None for f in current.fields}, current, where
            stack.extend((f.value, (*where, f.name.value)) for f in current.fields)


def input_bounds_rule(bounds: InputBounds) -> type[ValidationRule]:
    """A validation rule: every literal string and list within bounds, and at most
    ``max_input_items`` list items and object fields in the whole document.

    Create it once and reuse the class: ``ValidationCache`` keys on the rule classes."""

    class InputBoundsRule(ValidationRule):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.items = 0
            self.reported_total = False

        def _check(self, value: ValueNode, argument: str | None) -> None:
            top: Path = (argument,) if argument else ()
            for plain, node, where in _literal_values(value, top):
                # A string straight in the argument (or in a list straight in it) has the
                # argument's own limit; deeper strings the general one.
                direct = len(where) - len(top) <= 1
                name = argument if direct else None
                if isinstance(plain, str):
                    problem = string_problem(plain, bounds.string_limit(name), where)
                else:
                    problem, counted = value_problem(plain, bounds, argument=name, path=where)
                    self.items += counted
                if problem:
                    self.report_error(_error(problem, node))
                    return
            if self.items > bounds.max_input_items and not self.reported_total:
                self.reported_total = True
                self.report_error(_error(_too_many(bounds), value))

        def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
            self._check(node.value, node.name.value)

        def enter_variable_definition(self, node: VariableDefinitionNode, *_args: Any) -> None:
            if node.default_value is not None:
                self._check(node.default_value, None)

    return InputBoundsRule


# --------------------------------------------------------------------------------------------
# Variables
# --------------------------------------------------------------------------------------------


class _VariableUses(Visitor):
    """For each variable: the names of the arguments it is given to directly."""

    def __init__(self) -> None:
        super().__init__()
        self.arguments: dict[str, set[str]] = {}

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        value = node.value
        if isinstance(value, VariableNode):
            self.arguments.setdefault(value.name.value, set()).add(node.name.value)


def _strictest_argument(names: frozenset[str], bounds: InputBounds) -> str | None:
    named = [n for n in names if n in bounds.argument_string_lengths]
    return min(named, key=bounds.string_limit) if named else None


def variable_uses(
    document: DocumentNode, operation: OperationDefinitionNode
) -> Mapping[str, frozenset[str]]:
    """For each variable of ``operation``: the arguments it is given to directly (a property of
    the document alone, so a cached document computes it once)."""
    uses = _VariableUses()
    visit(operation, uses)
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            visit(definition, uses)
    return {name: frozenset(arguments) for name, arguments in uses.arguments.items()}


def variable_bound_errors(
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    bounds: InputBounds,
    uses: Mapping[str, frozenset[str]] | None = None,
) -> list[GraphQLError]:
    """Errors for the variable values of ``operation`` that break a bound (empty: all within).

    A variable given directly to an argument with its own string limit (``search``) gets that
    limit. Values of variables the operation does not declare count too (they are ignored by
    execution, but they were sent). ``uses`` is ``variable_uses(document, operation)``, when the
    caller keeps it."""
    if not variables:
        return []
    if uses is None:
        uses = variable_uses(document, operation)
    declared = {d.variable.name.value: d for d in operation.variable_definitions or ()}
    items = 0
    for name, value in variables.items():
        given_to = uses.get(name, frozenset())
        argument = _strictest_argument(given_to, bounds)
        # Named after the argument it fills when it fills one, as userErrors name fields.
        top = next(iter(given_to)) if len(given_to) == 1 else name
        problem, counted = value_problem(value, bounds, argument=argument, path=(top,))
        declaration = declared.get(name)
        node: Node = declaration if declaration is not None else operation
        if problem:
            return [_error(problem, node, prefix=f"Variable '${name}': ")]
        items += counted
        if items > bounds.max_input_items:
            return [_error(_too_many(bounds), node)]
    return []


def _operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == operation_name), None)


class VariableBounds(SchemaExtension):
    """Refuses a request whose variables break a bound, before anything is executed."""

    def __init__(self, bounds: InputBounds) -> None:
        self.bounds = bounds

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operation = _operation(document, context.operation_name) if document is not None else None
        if document is not None and operation is not None:
            errors = variable_bound_errors(document, operation, context.variables, self.bounds)
            if errors:
                context.result = ExecutionResult(data=None, errors=errors)
        yield
