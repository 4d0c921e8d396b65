"""The area tree and the multi-source search of the coverage rules, on arrays.

"Which grids have no provider within k hops" is one multi-source search per category over a CSR
adjacency (``provider_reach``): every provider's areas are the sources, and each hop is one
vectorised gather-and-reduce over all edges, so a million grids cost a few array passes rather
than a million searches."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from gridweave.graph.coverage_data import I64, LEVEL, CoverageData
from gridweave.models.areas import LEVEL_ORDER, AreaLevel

NONE = np.int64(np.iinfo(np.int64).max)


def ancestors(parent: I64, level: I64) -> NDArray[np.int32]:
    """``anc[i, L]``: the index of area i's ancestor (or itself) at level L, -1 where none.
    Parents are always at a higher level than their children, so one pass per level fills it."""
    n = len(parent)
    anc = np.full((n, len(LEVEL_ORDER)), -1, dtype=np.int32)
    for lv in range(len(LEVEL_ORDER)):
        idx = np.flatnonzero(level == lv)
        if not len(idx):
            continue
        p = parent[idx]
        has = p >= 0
        anc[idx[has]] = anc[p[has]]
        anc[idx, lv] = idx
    return anc


def target_level(level: I64) -> int:
    """GRID when the region has grids, else the lowest level present."""
    grid = LEVEL[AreaLevel.GRID]
    if len(level) == 0 or (level == grid).any():
        return grid
    return int(level.max())


def targets_of_rows(
    areas: I64, anc: NDArray[np.int32], level: I64, targets: I64, tl: int
) -> tuple[I64 | None, I64]:
    """Each row at area ``areas[r]`` lands on the target-level areas it covers: its own target
    ancestor when it lies at or below the target level, every target in its subtree when it
    lies above. Returns (row index, target index) pairs, the target as a position in
    ``targets``: first the rows at or below the target level in row order, then, level by
    level from the top, the rows above it. The row index is None when every row lands on
    exactly one target, its own (the common case: no copy of a city's service rows)."""
    n = len(level)
    pos = np.full(n + 1, -1, dtype=np.int64)  # pos[-1] (no ancestor) stays -1
    pos[targets] = np.arange(len(targets))
    own = pos[anc[:, tl]] if n else np.zeros(0, dtype=np.int64)
    t = own[areas] if len(areas) else np.zeros(0, dtype=np.int64)
    placed = t >= 0
    if placed.all():
        return None, t
    below = np.flatnonzero(placed)
    rows_out: list[I64] = [below]
    tgt_out: list[I64] = [t[below]]
    upper = np.flatnonzero(level[areas] < tl)
    row_level = level[areas[upper]]
    for lv in range(tl):
        rows = upper[row_level == lv]
        if not len(rows):
            continue
        key = anc[targets, lv].astype(np.int64)
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        lo = np.searchsorted(sorted_key, areas[rows], "left")
        hi = np.searchsorted(sorted_key, areas[rows], "right")
        counts = hi - lo
        rep_rows = np.repeat(rows, counts)
        starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
        offsets = np.arange(counts.sum()) + starts
        rows_out.append(rep_rows)
        tgt_out.append(order[offsets].astype(np.int64))
    return np.concatenate(rows_out), np.concatenate(tgt_out)


def target_adjacency(data: CoverageData, targets: I64) -> sp.csr_matrix:
    """The neighbour graph among target-level areas, symmetric, as CSR (an edge given in both
    directions appears twice in a row, which no search here minds)."""
    k = len(targets)
    pos = np.full(data.n, -1, dtype=np.int32)
    pos[targets] = np.arange(k, dtype=np.int32)
    a, b = data.neighbors
    pa, pb = (pos[a], pos[b]) if len(a) else (a.astype(np.int32), b.astype(np.int32))
    keep = (pa >= 0) & (pb >= 0) & (pa != pb)
    rows = np.concatenate([pa[keep], pb[keep]])
    cols = np.concatenate([pb[keep], pa[keep]])
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(k + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=k), out=indptr[1:])
    return sp.csr_matrix((np.ones(len(rows), dtype=np.int8), cols[order], indptr), shape=(k, k))


def provider_reach(
    adjacency: sp.csr_matrix, source_target: I64, source_org: I64, max_hops: int
) -> tuple[I64, I64, I64]:
    """One multi-source search: for every target, the smallest and largest provider (org index)
    within ``max_hops`` hops, and the hops to the nearest (-1 where none). Distinct providers
    within reach: none when lo is NONE, exactly one when lo == hi, more otherwise. Each hop is a
    gather over all edges and a reduce per row (in 32 bits while the indices fit: half the
    memory traffic)."""
    k = adjacency.shape[0]
    narrow = not len(source_org) or int(source_org.max()) < np.iinfo(np.int32).max
    dtype = np.int32 if narrow else np.int64
    none = np.iinfo(dtype).max
    lo = np.full(k, none, dtype=dtype)
    hi = np.full(k, -1, dtype=dtype)
    np.minimum.at(lo, source_target, source_org.astype(dtype))
    np.maximum.at(hi, source_target, source_org.astype(dtype))
    hops = np.where(lo != none, 0, -1).astype(np.int64)
    indptr, indices = adjacency.indptr, adjacency.indices
    nonempty = np.flatnonzero(indptr[1:] > indptr[:-1])
    starts = indptr[:-1][nonempty]
    for h in range(1, max_hops + 1):
        new_lo, new_hi = lo.copy(), hi.copy()
        if len(nonempty):
            near_lo = np.minimum.reduceat(lo[indices], starts)
            near_hi = np.maximum.reduceat(hi[indices], starts)
            new_lo[nonempty] = np.minimum(lo[nonempty], near_lo)
            new_hi[nonempty] = np.maximum(hi[nonempty], near_hi)
        hops[(hops < 0) & (new_lo != none)] = h
        if np.array_equal(new_lo, lo) and np.array_equal(new_hi, hi):
            break
        lo, hi = new_lo, new_hi
    lo64 = lo.astype(np.int64)
    lo64[lo == none] = NONE
    return lo64, hi.astype(np.int64), hops
