"""Walks a GraphQL document into merged field selections, and binds argument values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
)


class Fallback(Exception):
    """The compiled path does not take this request; strawberry answers it instead.

    ``uncompiled``: the document asks for something the compiled path does not cover (a silent
    slow path unless logged and counted); otherwise the request carries a value the API refuses,
    and strawberry answers with the error."""

    def __init__(self, reason: str, *, uncompiled: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.uncompiled = uncompiled


Variables = Mapping[str, Any]
Binder = Callable[[Variables], Any]


@dataclass(slots=True)
class Selection:
    """One response key: the field name, its arguments and the merged sub-selections."""

    key: str
    name: str
    arguments: dict[str, ValueNode]
    selection_sets: list[SelectionSetNode] = field(default_factory=list)


def pick_operation(
    doc: DocumentNode,
    operation_name: str | None,
    kinds: tuple[OperationType, ...] = (OperationType.QUERY,),
) -> OperationDefinitionNode:
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        ops = [o for o in ops if o.name is not None and o.name.value == operation_name]
    if len(ops) != 1 or ops[0].operation not in kinds:
        raise Fallback("not exactly one query operation")
    return ops[0]


def fragments_of(doc: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}


def collect(
    sets: list[SelectionSetNode],
    type_names: set[str],
    fragments: Mapping[str, FragmentDefinitionNode],
) -> list[Selection]:
    """Fields that apply to an object of one of ``type_names``, merged by response key.

    Linear in the document: a fragment spread twice into one object adds the same fields again,
    so each fragment (and each sub-selection set) is visited once per object, however often it is
    spread (``fragment F { ...G ...G }`` chains would otherwise cost 2^n)."""
    merged: dict[str, Selection] = {}
    seen_fragments: set[str] = set()
    seen_sets: dict[str, set[int]] = {}

    def visit(selection_set: SelectionSetNode) -> None:
        for node in selection_set.selections:
            if node.directives:
                raise Fallback("directives")
            if isinstance(node, FieldNode):
                key = node.alias.value if node.alias else node.name.value
                args = {a.name.value: a.value for a in node.arguments or ()}
                sel = merged.get(key)
                if sel is None:
                    sel = merged[key] = Selection(key, node.name.value, args)
                    seen_sets[key] = set()
                elif sel.name != node.name.value or _arg_sig(sel.arguments) != _arg_sig(args):
                    raise Fallback("conflicting fields")
                sub = node.selection_set
                if sub is not None and id(sub) not in seen_sets[key]:
                    seen_sets[key].add(id(sub))
                    sel.selection_sets.append(sub)
            elif isinstance(node, InlineFragmentNode):
                cond = node.type_condition.name.value if node.type_condition else None
                if cond is None or cond in type_names:
                    visit(node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                frag = fragments.get(name)
                if frag is None:
                    raise Fallback("unknown fragment")
                if name not in seen_fragments and frag.type_condition.name.value in type_names:
                    seen_fragments.add(name)
                    visit(frag.selection_set)

    for s in sets:
        visit(s)
    return list(merged.values())


def _arg_sig(args: Mapping[str, ValueNode]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(_literal_key(v))) for k, v in args.items()))


def _literal_key(v: ValueNode) -> Any:
    if isinstance(v, VariableNode):
        return ("$", v.name.value)
    return (type(v).__name__, getattr(v, "value", None))


def value_of(node: ValueNode | None, variables: Variables) -> Any:
    """A scalar argument's value, from a literal or a variable; absent means None."""
    if node is None or isinstance(node, NullValueNode):
        return None
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, StringValueNode | EnumValueNode):
        return node.value
    if isinstance(node, BooleanValueNode):
        return node.value
    raise Fallback("unsupported argument value")
