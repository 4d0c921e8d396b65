"""DataLoaders of joint meetings and agreements (``info.context.loaders.meetings``). Like every
loader, each batch opens its own short read session."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.db import Sessionmaker
from gridweave.resolvers.batching import BatchLoaders, group_by_key
from gridweave.services.subtree import in_subtree_sql

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MEETING_COLS = "id, name, area_id, area_path, rotation_period, starts_on"
AGREEMENT_COLS = (
    "id, title, community_id, community_path, partner_id, joint_meeting_id, starts_on, ends_on,"
    " min_activities_per_quarter, terminated_on, termination_reason"
)
SESSION_COLS = "id, meeting_id, held_on, convener_id, resolutions"


class MeetingLoaders(BatchLoaders):
    def __init__(self, sessionmaker: Sessionmaker) -> None:
        super().__init__(sessionmaker)
        self.meeting = self._make(self._meetings)
        self.rotations = self._make(self._rotations)
        self.members = self._make(self._members)
        self.sessions = self._make(self._sessions)
        self.session = self._make(self._session_rows)
        self.attendees = self._make(self._attendees)
        self.agreement = self._make(self._agreements)
        self.partner_agreements = self._make(self._partner_agreements)
        self.commitments = self._make(self._commitments)
        self.activity_count = self._make(self._activity_counts)

    async def _meetings(self, session: AsyncSession, keys: list[int]) -> list[Row[Any] | None]:
        return await self._by_id(session, "joint_meetings", MEETING_COLS, keys)

    async def _agreements(self, session: AsyncSession, keys: list[int]) -> list[Row[Any] | None]:
        return await self._by_id(session, "agreements", AGREEMENT_COLS, keys)

    async def _session_rows(self, session: AsyncSession, keys: list[int]) -> list[Row[Any] | None]:
        return await self._by_id(session, "meeting_sessions", SESSION_COLS, keys)

    async def _rotations(self, session: AsyncSession, keys: list[int]) -> list[list[Row[Any]]]:
        rows = await self._fetch(
            session,
            "SELECT meeting_id AS _key, effective_from, member_ids, anchor FROM convener_rotations"
            " WHERE meeting_id = ANY(:ids) ORDER BY id",
            ids=keys,
        )
        return group_by_key(rows, keys)

    async def _members(self, session: AsyncSession, keys: list[int]) -> list[list[Row[Any]]]:
        """Open memberships (the current members), in the order they joined."""
        rows = await self._fetch(
            session,
            "SELECT meeting_id AS _key, organization_id, joined_on FROM joint_meeting_members"
            " WHERE meeting_id = ANY(:ids) AND left_on IS NULL ORDER BY id",
            ids=keys,
        )
        return group_by_key(rows, keys)

    async def _sessions(self, session: AsyncSession, keys: list[int]) -> list[list[Row[Any]]]:
        rows = await self._fetch(
            session,
            f"SELECT meeting_id AS _key, {SESSION_COLS} FROM meeting_sessions"
            " WHERE meeting_id = ANY(:ids) ORDER BY held_on, id",
            ids=keys,
        )
        return group_by_key(rows, keys)

    async def _attendees(self, session: AsyncSession, keys: list[int]) -> list[list[int]]:
        rows = await self._fetch(
            session,
            "SELECT session_id AS _key, organization_id FROM meeting_session_attendees"
            " WHERE session_id = ANY(:ids) ORDER BY organization_id",
            ids=keys,
        )
        return [[r.organization_id for r in g] for g in group_by_key(rows, keys)]

    async def _partner_agreements(
        self, session: AsyncSession, keys: list[int]
    ) -> list[list[Row[Any]]]:
        rows = await self._fetch(
            session,
            f"SELECT partner_id AS _key, {AGREEMENT_COLS} FROM agreements"
            " WHERE partner_id = ANY(:ids) ORDER BY id",
            ids=keys,
        )
        return group_by_key(rows, keys)

    async def _commitments(self, session: AsyncSession, keys: list[int]) -> list[list[Row[Any]]]:
        rows = await self._fetch(
            session,
            "SELECT agreement_id AS _key, category_id, description, quantity, unit"
            " FROM agreement_commitments WHERE agreement_id = ANY(:ids)"
            " ORDER BY agreement_id, position",
            ids=keys,
        )
        return group_by_key(rows, keys)

    async def _activity_counts(
        self, session: AsyncSession, keys: list[tuple[str, int, date, date]]
    ) -> list[int]:
        """Keys are (area path, organization id, first day, last day): one probe of
        ix_service_activities_organization per key, all in one statement."""
        rows = await self._fetch(
            session,
            "SELECT k.i, (SELECT count(*) FROM service_activities a"
            " WHERE a.organization_id = k.org AND a.occurred_on BETWEEN k.lo AND k.hi"
            f" AND {in_subtree_sql('a.area_path', 'k.path')}) AS n"
            " FROM unnest(CAST(:paths AS text[]), CAST(:orgs AS bigint[]),"
            " CAST(:los AS date[]), CAST(:his AS date[]))"
            " WITH ORDINALITY AS k(path, org, lo, hi, i)",
            paths=[k[0] for k in keys],
            orgs=[k[1] for k in keys],
            los=[k[2] for k in keys],
            his=[k[3] for k in keys],
        )
        counts = {int(r.i): int(r.n) for r in rows}
        return [counts.get(i + 1, 0) for i in range(len(keys))]
