"""Subtree conditions on materialised paths ('/1/5/23/').

``path LIKE '/1/5/%'`` uses the text_pattern_ops index only when the pattern is known at plan time;
inside a correlated subquery (each community's organizations) it is not, and PostgreSQL scans the
whole table once per row. The same test written as a range on the pattern operators uses the index
in both cases: every path below '/1/5/' sorts between '/1/5/' and '/1/50' ('0' follows '/')."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, literal_column


def in_subtree_sql(column: str, path: str) -> str:
    """SQL text: ``column`` lies at or below the area whose path is the SQL expression ``path``."""
    return f"({column} ~>=~ {path} AND {column} ~<~ (left({path}, -1) || '0'))"


def in_subtree(column: Any, path: Any) -> ColumnElement[bool]:
    """The same condition for a SQLAlchemy column and a known path (a string) or a SQL
    expression that yields one."""
    if isinstance(path, str):
        return and_(column.op("~>=~")(literal(path)), column.op("~<~")(literal(path[:-1] + "0")))
    upper = func.left(path, literal_column("-1")).op("||")(literal_column("'0'"))
    return and_(column.op("~>=~")(path), column.op("~<~")(upper))


__all__ = ["in_subtree", "in_subtree_sql"]
