"""The Network type: a graph a dashboard can draw."""

from __future__ import annotations

import networkx as nx
import strawberry

from gridweave.graph.network import ordered_edges
from gridweave.ids import encode_id


@strawberry.type
class NetworkNode:
    id: strawberry.ID
    label: str
    type: str = strawberry.field(description="Area or Organization.")
    kind: str | None


@strawberry.type
class NetworkEdge:
    source: strawberry.ID
    target: strawberry.ID
    kind: str = strawberry.field(
        description="PARENT, LOCATED_IN, SERVES, AGREEMENT, MEMBER_OF, or a LinkKind."
    )


def _gid(key: str) -> strawberry.ID:
    type_name, _, pk = key.partition(":")
    return strawberry.ID(encode_id(type_name, int(pk)))


@strawberry.type(
    description="The organization graph around an area, ready for a dashboard to draw."
)
class Network:
    nodes: list[NetworkNode]
    edges: list[NetworkEdge]

    @classmethod
    def from_graph(cls, g: nx.MultiDiGraph) -> Network:
        return cls(
            nodes=[
                NetworkNode(id=_gid(k), label=d["label"], type=d["type"], kind=d.get("kind"))
                for k, d in g.nodes(data=True)
            ],
            edges=[
                NetworkEdge(source=_gid(s), target=_gid(t), kind=kind)
                for s, t, kind in ordered_edges(g)
            ],
        )
