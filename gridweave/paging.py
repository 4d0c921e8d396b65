"""Page sizes, shared by the resolvers and the compiled read path."""

from __future__ import annotations

from gridweave.errors import ValidationFailed

DEFAULT_PAGE_SIZE = 20


def page_limit(first: int | None, max_page_size: int) -> int:
    """``first`` defaults to 20 and may not exceed the configured page size (100)."""
    if first is None:
        return min(DEFAULT_PAGE_SIZE, max_page_size)
    if first < 0 or first > max_page_size:
        raise ValidationFailed(f"'first' must be between 0 and {max_page_size}.", field=["first"])
    return first
