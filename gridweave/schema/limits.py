"""Query limits and caching for the strawberry schema (error masking: schema/masking.py).

Wiring (in ``gridweave/schema/__init__.py``)::

    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=schema_extensions(settings),
        config=strawberry_config(settings),
    )

Every entry returned by :func:`schema_extensions` is a factory, so each request gets fresh
extension instances. The validation-rule classes are created once per call of
:func:`schema_extensions` (not once per request), so ``ValidationCache`` can hit: its key includes
the tuple of rule classes.

Depth, alias and cost limits are one graphql-core validation rule (:func:`query_limits_rule`)
instead of strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter``, because those two (in
strawberry 0.341) walk every fragment spread again each time it is used: a chain of fragments
that each spread the next one twice costs 2**n steps before any limit applies (about 0.75 s at
n=18, doubling with every extra fragment, and 2,000 tokens allow n of about 150). They also build a
new rule class per request, which makes every ``ValidationCache`` lookup miss. The rule below
measures each fragment once. It also refuses a literal ``first``/``last`` above ``max_page_size``
with a clear message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from gridweave.schema.bounds import (
    InputBounds,
    VariableBounds,
    input_bounds,
    input_bounds_rule,
    variable_bound_errors,
)
from gridweave.schema.masking import HideSchemaHints, MaskUnexpectedErrors
from gridweave.settings import Settings

__all__ = [
    "PAGE_SIZE_ARGUMENTS",
    "InputBounds",
    "OneOperationOrName",
    "input_bounds",
    "input_bounds_rule",
    "variable_bound_errors",
    "QUERY_CACHE_SIZE",
    "QueryLimits",
    "QueryMeasure",
    "measure_operations",
    "query_limits_rule",
    "schema_extensions",
    "strawberry_config",
]


#: Entries in the (module-level, shared) parse and validation LRU caches.
QUERY_CACHE_SIZE = 128

#: Arguments whose value is the number of items a list or connection field returns.
PAGE_SIZE_ARGUMENTS = ("first", "last")

#: Depth, alias and cost figures saturate here, so a hostile document cannot build huge numbers.
_CEILING = 10**15


# --------------------------------------------------------------------------------------------
# Measuring a document: depth, aliases, cost
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryMeasure:
    """What one operation (or fragment) asks for.

    ``depth`` counts like strawberry's ``QueryDepthLimiter``: the largest number of fields
    enclosing any field, so ``{ a { b } }`` has depth 1; introspection fields (``__schema``,
    ``__type``) are not counted, graphql-core's ``MaxIntrospectionDepthRule`` covers those.
    ``aliases`` counts aliased fields after expanding fragments (each use counts).
    ``cost`` is the sum over fields of ``multiplier * (1 + cost of the field's selections)``.
    """

    depth: int = 0
    aliases: int = 0
    cost: int = 0


def _sat(value: int) -> int:
    return min(value, _CEILING)


def _unpaged_list(definition: GraphQLField) -> bool:
    return is_list_type(get_nullable_type(definition.type)) and not any(
        name in definition.args for name in PAGE_SIZE_ARGUMENTS
    )


class _Measurer:
    """Measures operations, each fragment once (memoised by name), whatever the nesting."""

    def __init__(
        self,
        schema: GraphQLSchema | None,
        fragments: Mapping[str, FragmentDefinitionNode],
        page_size: int,
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._page_size = page_size
        self._memo: dict[tuple[str, frozenset[str]], QueryMeasure] = {}
        self._in_progress: set[str] = set()

    def operation(self, operation: OperationDefinitionNode) -> QueryMeasure:
        root: GraphQLNamedType | None = None
        if self._schema is not None:
            root = self._schema.get_root_type(operation.operation)
        return self._selection_set(operation.selection_set, root, set(), frozenset())

    def _type(self, name: str) -> GraphQLNamedType | None:
        return self._schema.get_type(name) if self._schema is not None else None

    def _selection_set(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType | None,
        seen_fragments: set[str],
        lists: frozenset[str],
    ) -> QueryMeasure:
        # ``seen_fragments`` mirrors graphql-core's field collection: within one selection set
        # (including its inline fragments) a named fragment is collected once.
        depth = aliases = cost = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                part = self._field(selection, parent, lists)
            elif isinstance(selection, InlineFragmentNode):
                inner = parent
                if selection.type_condition is not None:
                    inner = self._type(selection.type_condition.name.value)
                part = self._selection_set(selection.selection_set, inner, seen_fragments, lists)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in seen_fragments:
                    continue
                seen_fragments.add(name)
                part = self._fragment(name, lists)
            else:  # pragma: no cover - no other selection kinds exist
                continue
            depth = max(depth, part.depth)
            aliases = _sat(aliases + part.aliases)
            cost = _sat(cost + part.cost)
        return QueryMeasure(depth=depth, aliases=aliases, cost=cost)

    def _fragment(self, name: str, lists: frozenset[str]) -> QueryMeasure:
        known = self._memo.get((name, lists))
        if known is not None:
            return known
        fragment = self._fragments.get(name)
        if fragment is None or name in self._in_progress:
            # Unknown fragments and cycles are reported by graphql-core's own rules.
            return QueryMeasure()
        self._in_progress.add(name)
        try:
            measure = self._selection_set(
                fragment.selection_set,
                self._type(fragment.type_condition.name.value),
                {name},
                lists,
            )
        finally:
            self._in_progress.discard(name)
        self._memo[(name, lists)] = measure
        return measure

    def _field(
        self, node: FieldNode, parent: GraphQLNamedType | None, lists: frozenset[str]
    ) -> QueryMeasure:
        definition: GraphQLField | None = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(node.name.value)
        own_alias = 1 if node.alias is not None else 0
        multiplier = self._multiplier(node, definition)
        child_type = get_named_type(definition.type) if definition is not None else None
        paged_edges = parent is not None and parent.name.endswith("Connection")
        if (
            definition is not None
            and child_type is not None
            and not paged_edges
            and _unpaged_list(definition)
        ):
            # An unpaged list inside a list of the same type (links > target > links, children >
            # children) is a recursion whose size the schema cannot bound: count a full page.
            if child_type.name in lists:
                multiplier = self._page_size
            lists = lists | {child_type.name}
        if node.selection_set is None:
            return QueryMeasure(depth=0, aliases=own_alias, cost=multiplier)
        children = self._selection_set(node.selection_set, child_type, set(), lists)
        introspection = node.name.value.startswith("__")
        return QueryMeasure(
            depth=0 if introspection else children.depth + 1,
            aliases=_sat(children.aliases + own_alias),
            cost=_sat(multiplier * (1 + children.cost)),
        )

    def _multiplier(self, node: FieldNode, definition: GraphQLField | None) -> int:
        """How many items a field returns, at most.

        * ``first``/``last`` given as an integer literal: that number.
        * given as a variable: the page size (``max_page_size``), the largest value a resolver
          accepts. Validation has no variable values, and its result is cached per document,
          so the cost never depends on them.
        * not given (or ``null``) but the field declares ``first``/``last``: the argument's
          default when it is an integer, else the page size (a connection without ``first``
          returns a full page, as strawberry's ``ListConnection`` does).
        * otherwise 1, which includes plain list fields without paging arguments.
        """
        explicit: list[int] = []
        for argument in node.arguments or ():
            if argument.name.value not in PAGE_SIZE_ARGUMENTS:
                continue
            if isinstance(argument.value, IntValueNode):
                explicit.append(int(argument.value.value))
            elif isinstance(argument.value, VariableNode):
                explicit.append(self._page_size)
        if explicit:
            return _sat(max(1, *explicit))
        if definition is None:
            return 1
        declared = [
            definition.args[name] for name in PAGE_SIZE_ARGUMENTS if name in definition.args
        ]
        if not declared:
            return 1
        defaults = [
            arg.default_value
            for arg in declared
            if isinstance(arg.default_value, int) and not isinstance(arg.default_value, bool)
        ]
        return _sat(max(1, *defaults)) if defaults else self._page_size


def measure_operations(
    document: DocumentNode, schema: GraphQLSchema | None = None, *, page_size: int = 100
) -> dict[OperationDefinitionNode, QueryMeasure]:
    """Measure every operation in ``document`` (exposed for tests, logging and tooling)."""
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    measurer = _Measurer(schema, fragments, page_size)
    return {
        definition: measurer.operation(definition)
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    }


def _at_least(value: int) -> str:
    return f"at least {value:,}" if value >= _CEILING else f"{value:,}"


def query_limits_rule(
    *,
    max_depth: int | None,
    max_aliases: int | None,
    max_cost: int | None,
    page_size: int = 100,
    check_page_size: bool = True,
) -> type[ValidationRule]:
    """A graphql-core validation rule enforcing depth, alias and cost limits (``None``: off).

    ``page_size`` is what a ``first``/``last`` given as a variable or left out counts for in the
    cost. With ``check_page_size`` a literal ``first``/``last`` above it is refused here too, with
    a clear message (a resolver's own check, e.g. strawberry relay's ``ValueError``, would be
    masked as an unexpected error); values from variables still need the resolver's check.

    Create it once and reuse the class: ``ValidationCache`` keys on the rule classes.
    """

    class QueryLimitsRule(ValidationRule):
        def enter_field(self, node: FieldNode, *_args: Any) -> None:
            if not check_page_size:
                return
            for argument in node.arguments or ():
                name = argument.name.value
                if name not in PAGE_SIZE_ARGUMENTS or not isinstance(argument.value, IntValueNode):
                    continue
                value = int(argument.value.value)
                if value > page_size:
                    self.report_error(
                        GraphQLError(
                            f"Argument '{name}' of field '{node.name.value}' is {value:,}, "
                            f"above the page size limit of {page_size}",
                            argument,
                            extensions={"code": "PAGE_TOO_LARGE", "limit": page_size},
                        )
                    )

        def enter_document(self, node: DocumentNode, *_args: Any) -> None:
            measures = measure_operations(node, self.context.schema, page_size=page_size)
            for operation, measure in measures.items():
                label = f" in operation '{operation.name.value}'" if operation.name else ""
                if max_depth is not None and measure.depth > max_depth:
                    self.report_error(
                        GraphQLError(
                            f"Query depth {measure.depth}{label} exceeds the limit of {max_depth}",
                            operation,
                            extensions={
                                "code": "QUERY_TOO_DEEP",
                                "depth": measure.depth,
                                "limit": max_depth,
                            },
                        )
                    )
                if max_aliases is not None and measure.aliases > max_aliases:
                    self.report_error(
                        GraphQLError(
                            f"Too many aliases{label} ({_at_least(measure.aliases)} > "
                            f"{max_aliases:,})",
                            operation,
                            extensions={
                                "code": "TOO_MANY_ALIASES",
                                "aliases": measure.aliases,
                                "limit": max_aliases,
                            },
                        )
                    )
                if max_cost is not None and measure.cost > max_cost:
                    self.report_error(
                        GraphQLError(
                            f"Query cost {_at_least(measure.cost)}{label} exceeds the limit of "
                            f"{max_cost:,}",
                            operation,
                            extensions={
                                "code": "QUERY_TOO_COSTLY",
                                "cost": measure.cost,
                                "limit": max_cost,
                            },
                        )
                    )

    return QueryLimitsRule


class QueryLimits(AddValidationRules):
    """Adds pre-built rule classes (:func:`query_limits_rule`, :func:`input_bounds_rule`)."""

    def __init__(self, *rules: type[ValidationRule]) -> None:
        super().__init__(list(rules))


MULTIPLE_OPERATIONS = "Must provide operation name if query contains multiple operations."


def operation_name_problem(document: DocumentNode, operation_name: str | None) -> str | None:
    """The spec's refusal of a document with several operations and no ``operationName``
    (strawberry would run the first one)."""
    if operation_name is not None:
        return None
    count = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
    return MULTIPLE_OPERATIONS if count > 1 else None


class OneOperationOrName(SchemaExtension):
    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context
        if context.graphql_document is None:
            return
        # ``context.operation_name`` falls back to the first operation's name; this is the
        # name the request gave.
        given = context._provided_operation_name
        problem = operation_name_problem(context.graphql_document, given)
        if problem:
            raise GraphQLError(problem)


# --------------------------------------------------------------------------------------------
# Wiring
# --------------------------------------------------------------------------------------------


def schema_extensions(
    settings: Settings, *, cache_size: int = QUERY_CACHE_SIZE
) -> list[Callable[[], SchemaExtension]]:
    """Factories (not instances) for ``strawberry.Schema(extensions=...)``.

    In order: token limit (a parser option), parse cache, one operation or a name, validation
    cache, the depth/alias/cost and input bounds rules, variable bounds, introspection off unless
    ``settings.introspection_enabled``, no schema hints unless ``settings.schema_hints_enabled``,
    error masking.
    """
    limits_rule = query_limits_rule(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_cost=settings.max_cost,
        page_size=settings.max_page_size,
    )
    bounds = input_bounds(settings)
    bounds_rule = input_bounds_rule(bounds)
    max_tokens = settings.max_tokens

    def tokens() -> SchemaExtension:
        return MaxTokensLimiter(max_token_count=max_tokens)

    def parser_cache() -> SchemaExtension:
        return ParserCache(maxsize=cache_size)

    def validation_cache() -> SchemaExtension:
        return ValidationCache(maxsize=cache_size)

    def limits() -> SchemaExtension:
        return QueryLimits(limits_rule, bounds_rule)

    def variable_bounds() -> SchemaExtension:
        return VariableBounds(bounds)

    factories: list[Callable[[], SchemaExtension]] = [
        tokens,
        parser_cache,
        OneOperationOrName,
        validation_cache,
        limits,
        variable_bounds,
    ]
    if not settings.introspection_enabled:
        factories.append(DisableIntrospection)
    if not settings.schema_hints_enabled:
        factories.append(HideSchemaHints)
    factories.append(MaskUnexpectedErrors)
    return factories


def strawberry_config(settings: Settings | None = None, **overrides: Any) -> StrawberryConfig:
    """``relay_max_results`` = ``max_page_size`` (100), no "Did you mean ...?" suggestions.

    Batching stays off (``batching_config=None``): a JSON array body gets HTTP 400
    "Batching is not enabled" from strawberry's view.
    """
    page_size = settings.max_page_size if settings is not None else 100
    options: dict[str, Any] = {
        "relay_max_results": page_size,
        "disable_field_suggestions": True,
        **overrides,
    }
    return StrawberryConfig(**options)
