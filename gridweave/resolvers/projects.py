"""Thin resolvers for service projects and claims, ``node()`` for both, and the subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import Forbidden
from gridweave.ids import decode_id, decode_newest_first_cursor, decode_optional
from gridweave.models import ServiceProjectKind as PyKind
from gridweave.models import ServiceProjectStatus as PyStatus
from gridweave.resolvers.common import mutate
from gridweave.resolvers.nodes import EXTRA_NODE_RESOLVERS
from gridweave.schema.common import GqlInfo, Node, page_size, trim
from gridweave.schema.permissions import SignedIn
from gridweave.schema.projects import (
    CancelServiceProjectInput,
    Claim,
    ClaimPayload,
    ClaimServiceProjectInput,
    PostServiceProjectInput,
    ReportCompletionInput,
    ServiceProject,
    ServiceProjectConnection,
    ServiceProjectEvent,
    ServiceProjectEventKind,
    ServiceProjectPayload,
    ServiceProjectStatus,
    VerifyClaimInput,
    WithdrawClaimInput,
)
from gridweave.services import claims as claim_svc
from gridweave.services import projects as svc
from gridweave.services.access import Actor, area_scope, require_actor
from gridweave.services.areas import get_area
from gridweave.services.validation import no_control_characters

INPUT = "input"


async def service_projects(
    info: GqlInfo,
    area_id: strawberry.ID | None = None,
    status: ServiceProjectStatus | None = None,
    category_code: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> ServiceProjectConnection:
    limit = page_size(info, first)
    before_id = decode_newest_first_cursor(after)
    sm = info.context.sessionmaker
    async with sm() as session:
        scope = await area_scope(session, info.context.actor)
        area_pk = decode_optional(area_id, "Area", field=["areaId"])
        path = (await get_area(session, area_pk, field=["areaId"])).path if area_pk else None
        category = None
        if category_code is not None:
            code = no_control_characters(category_code, field=["categoryCode"])
            category = await svc.category_id(session, code, field=["categoryCode"])
        flt = svc.ProjectFilter(
            scope=scope,
            area_path=path,
            status=PyStatus(status.value) if status else None,
            category_id=category,
        )
        rows = await svc.list_projects(session, flt, before_id=before_id, limit=limit + 1)

    async def total() -> int:
        async with sm() as s:
            return await svc.count_projects(s, flt)

    page, has_next = trim(rows, limit)
    return ServiceProjectConnection.of_page(
        page,
        ServiceProject.from_row,
        has_next=has_next,
        has_previous=before_id is not None,
        total=total,
    )


async def _project_payload(session: AsyncSession, project_id: int) -> ServiceProjectPayload:
    row = (await svc.project_rows(session, [project_id]))[project_id]
    return ServiceProjectPayload(project=ServiceProject.from_row(row))


async def post_service_project(
    info: GqlInfo, input: PostServiceProjectInput
) -> ServiceProjectPayload:
    async def work(session: AsyncSession) -> ServiceProjectPayload:
        svc.require_community(info.context.actor)
        project_id = await svc.post_project(
            session,
            actor=info.context.actor,
            title=input.title,
            description=input.description,
            kind=PyKind(input.kind.value),
            category_code=input.category_code,
            area_id=decode_id(input.area_id, "Area", field=[INPUT, "areaId"]),
            posted_by_id=decode_id(input.posted_by_id, "Organization", field=[INPUT, "postedById"]),
            slots=input.slots,
            deadline=input.deadline,
        )
        return await _project_payload(session, project_id)

    return await mutate(info, ServiceProjectPayload, work)


async def cancel_service_project(
    info: GqlInfo, input: CancelServiceProjectInput
) -> ServiceProjectPayload:
    async def work(session: AsyncSession) -> ServiceProjectPayload:
        svc.require_community(info.context.actor)
        project_id = await svc.cancel_project(
            session,
            actor=info.context.actor,
            project_id=decode_id(input.project_id, "ServiceProject", field=[INPUT, "projectId"]),
            reason=input.reason,
        )
        return await _project_payload(session, project_id)

    return await mutate(info, ServiceProjectPayload, work)


async def _claim_mutation(
    info: GqlInfo,
    role_check: Callable[[Actor | None], Actor],
    call: Callable[[AsyncSession], Awaitable[int]],
) -> ClaimPayload:
    """A mutation answering with the claim and its project. The role is checked before any id
    is decoded, so a user without grants learns nothing about the input."""

    async def work(session: AsyncSession) -> ClaimPayload:
        role_check(info.context.actor)
        return ClaimPayload(claim_pk=await call(session))

    return await mutate(info, ClaimPayload, work)


def _claim_id(value: strawberry.ID) -> int:
    return decode_id(value, "Claim", field=[INPUT, "claimId"])


async def claim_service_project(info: GqlInfo, input: ClaimServiceProjectInput) -> ClaimPayload:
    """Also answered past strawberry's executor, with the same :func:`claim_as_asked`
    (gridweave/compiled/writes.py): keep the two in step."""

    async def work(session: AsyncSession) -> ClaimPayload:
        row = await claim_as_asked(session, info.context.actor, input)
        return ClaimPayload(claim_pk=row.id, written=row)

    return await mutate(info, ClaimPayload, work, one_write=True)


async def claim_as_asked(
    session: AsyncSession, actor: Actor | None, input: ClaimServiceProjectInput
) -> Row[Any]:
    """The claim of ``claimServiceProject``, its one write (``mutate(one_write=True)``)."""
    claim_svc.require_claimer(actor)
    return await claim_svc.claim(
        session,
        actor=actor,
        project_id=decode_id(input.project_id, "ServiceProject", field=[INPUT, "projectId"]),
        claimant_id=decode_id(input.claimant_id, "Organization", field=[INPUT, "claimantId"]),
        slots=input.slots,
    )


async def withdraw_claim(info: GqlInfo, input: WithdrawClaimInput) -> ClaimPayload:
    return await _claim_mutation(
        info,
        claim_svc.require_claimer,
        lambda s: claim_svc.withdraw(
            s, actor=info.context.actor, claim_id=_claim_id(input.claim_id)
        ),
    )


async def report_completion(info: GqlInfo, input: ReportCompletionInput) -> ClaimPayload:
    return await _claim_mutation(
        info,
        claim_svc.require_claimer,
        lambda s: claim_svc.report_completion(
            s,
            actor=info.context.actor,
            claim_id=_claim_id(input.claim_id),
            summary=input.summary,
            hours=input.hours,
            beneficiaries=input.beneficiaries,
            completed_on=input.completed_on,
        ),
    )


async def verify_claim(info: GqlInfo, input: VerifyClaimInput) -> ClaimPayload:
    return await _claim_mutation(
        info,
        svc.require_community,
        lambda s: claim_svc.verify(
            s, actor=info.context.actor, claim_id=_claim_id(input.claim_id), rating=input.rating
        ),
    )


# ---- node() ------------------------------------------------------------------------------------


async def project_node(info: GqlInfo, pk: int) -> Node | None:
    row = await info.context.loaders.project.load(pk)
    if row is None:
        return None
    async with info.context.sessionmaker() as session:
        scope = await area_scope(session, info.context.actor)
    return ServiceProject.from_row(row) if scope.covers(row.area_path) else None


async def claim_node(info: GqlInfo, pk: int) -> Node | None:
    row = await info.context.loaders.claim.load(pk)
    if row is None:
        return None
    async with info.context.sessionmaker() as session:
        scope = await area_scope(session, info.context.actor)
    return Claim.from_row(row) if scope.covers(row.area_path) else None


EXTRA_NODE_RESOLVERS["ServiceProject"] = project_node
EXTRA_NODE_RESOLVERS["Claim"] = claim_node


# ---- the subscription --------------------------------------------------------------------------


class SlowConsumer(GraphQLError):
    def __init__(self) -> None:
        super().__init__(
            "This subscription fell too far behind its events and was dropped: subscribe again.",
            extensions={"code": "SLOW_CONSUMER"},
        )


async def project_events(
    info: GqlInfo, area_id: strawberry.ID
) -> AsyncGenerator[ServiceProjectEvent, None]:
    actor = require_actor(info.context.actor)
    hub = info.context.project_events
    if hub is None:
        raise GraphQLError("Subscriptions are not served here.")
    pk = decode_id(area_id, "Area", field=["areaId"])
    async with info.context.sessionmaker() as session:
        area = await get_area(session, pk, field=["areaId"])
        scope = await area_scope(session, actor)
    if not scope.reaches_into(area.path):
        raise Forbidden("You may not read the service projects of this area.", field=["areaId"])
    stream = hub.open(area_path=area.path, scope=scope)
    try:
        async for event in stream:
            if event is None:
                continue
            info.context.loaders = event["loaders"]
            claim = event["claim"]
            yield ServiceProjectEvent(
                kind=ServiceProjectEventKind(event["kind"]),
                project=ServiceProject.from_row(event["project"]),
                claim=Claim.from_row(claim) if claim is not None else None,
                at=event["at"],
            )
        if stream.overflowed:
            raise SlowConsumer()
    finally:
        stream.close()


@strawberry.type
class Queries:
    service_projects: ServiceProjectConnection = strawberry.field(
        resolver=service_projects,
        permission_classes=[SignedIn],
        description="Projects of the area's subtree that you may read, newest first.",
    )


@strawberry.type
class Mutations:
    post_service_project: ServiceProjectPayload = strawberry.mutation(resolver=post_service_project)
    cancel_service_project: ServiceProjectPayload = strawberry.mutation(
        resolver=cancel_service_project
    )
    claim_service_project: ClaimPayload = strawberry.mutation(resolver=claim_service_project)
    withdraw_claim: ClaimPayload = strawberry.mutation(resolver=withdraw_claim)
    report_completion: ClaimPayload = strawberry.mutation(resolver=report_completion)
    verify_claim: ClaimPayload = strawberry.mutation(resolver=verify_claim)


@strawberry.type
class Subscriptions:
    @strawberry.subscription(  # type: ignore[untyped-decorator]
        permission_classes=[SignedIn],
        description="Events of service projects in the area and below it, as they happen, "
        "from any server process.",
    )
    async def service_project_events(
        self, info: GqlInfo, area_id: strawberry.ID
    ) -> AsyncGenerator[ServiceProjectEvent, None]:
        async for event in project_events(info, area_id):
            yield event
