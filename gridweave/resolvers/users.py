"""Thin resolvers for people and access: sign-in, ``me``, user management, ``node`` for users."""

from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.context import Context
from gridweave.db import unit_of_work
from gridweave.errors import TryAgain, Unauthenticated
from gridweave.gate import GateFull
from gridweave.ids import decode_id, decode_optional
from gridweave.resolvers.common import mutate
from gridweave.resolvers.nodes import EXTRA_NODE_RESOLVERS
from gridweave.schema.common import GqlInfo, Node, UserError
from gridweave.schema.users import (
    CreateUserInput,
    GrantRoleInput,
    LoginInput,
    LoginPayload,
    RoleGrantInput,
    User,
    UserPayload,
)
from gridweave.services import users as svc

INPUT = "input"


def _spec(grant: RoleGrantInput, field: list[str]) -> svc.GrantSpec:
    return svc.GrantSpec(
        role=grant.role,
        area_id=decode_optional(grant.area_id, "Area", field=[*field, "areaId"]),
        organization_id=decode_optional(
            grant.organization_id, "Organization", field=[*field, "organizationId"]
        ),
    )


async def _user(session: AsyncSession, user_id: int) -> User:
    return User.from_record((await svc.load_users(session, [user_id]))[user_id])


BUSY = "Too many sign-ins at this moment: please try again in a few seconds."


async def login(info: GqlInfo, input: LoginInput) -> LoginPayload:
    ctx = info.context
    # At most a few sign-ins at once per process, and a bounded line behind them: each holds a
    # connection and the account's lock through one argon2 verification (~64 MiB, ~0.1 s); a
    # flood is turned away at once with TRY_AGAIN instead of taking the pool from every other
    # request or queueing without end.
    try:
        async with ctx.sign_in_gate.enter():
            return await _sign_in(ctx, input)
    except GateFull:
        return LoginPayload(user_errors=[UserError.from_error(TryAgain(BUSY))])


async def _sign_in(ctx: Context, input: LoginInput) -> LoginPayload:
    # Not `mutate`: it rolls back on a refusal, but a failed sign-in must still commit the failure
    # counters (and locks) that authenticate() wrote, so the refusal is returned from inside the
    # unit of work and the block ends normally, which commits.
    async with unit_of_work(ctx.sessionmaker) as session:
        try:
            token, row = await svc.authenticate(
                session,
                settings=ctx.settings,
                email=input.email,
                password=input.password,
                address=ctx.client_address,
            )
        except (Unauthenticated, TryAgain) as e:
            return LoginPayload(user_errors=[UserError.from_error(e)])
        return LoginPayload(token=token, user=await _user(session, row.id))


async def me(info: GqlInfo) -> User | None:
    actor = info.context.actor
    if actor is None:
        return None
    async with info.context.sessionmaker() as session:
        record = (await svc.load_users(session, [actor.user_id])).get(actor.user_id)
    return User.from_record(record) if record else None


async def create_user(info: GqlInfo, input: CreateUserInput) -> UserPayload:
    async def work(session: AsyncSession) -> UserPayload:
        row = await svc.create_user(
            session,
            actor=info.context.actor,
            email=input.email,
            display_name=input.display_name,
            password=input.password,
            grants=[_spec(g, [INPUT, "roles", str(i)]) for i, g in enumerate(input.roles)],
        )
        return UserPayload(user=await _user(session, row.id))

    return await mutate(info, UserPayload, work)


async def grant_role(info: GqlInfo, input: GrantRoleInput) -> UserPayload:
    async def work(session: AsyncSession) -> UserPayload:
        row = await svc.grant_role(
            session,
            actor=info.context.actor,
            user_id=decode_id(input.user_id, "User", field=[INPUT, "userId"]),
            grant=_spec(input.grant, [INPUT, "grant"]),
        )
        return UserPayload(user=await _user(session, row.id))

    return await mutate(info, UserPayload, work)


async def user_node(info: GqlInfo, pk: int) -> Node | None:
    """``node(id)`` for a user: null unless the caller may see them (see services.users.may_see)."""
    async with info.context.sessionmaker() as session:
        found = await svc.visible_users(session, actor=info.context.actor, user_ids=[pk])
    return User.from_record(found[pk]) if pk in found else None


EXTRA_NODE_RESOLVERS["User"] = user_node


@strawberry.type
class Queries:
    me: User | None = strawberry.field(
        resolver=me, description="The signed-in user; null when anonymous."
    )


@strawberry.type
class Mutations:
    login: LoginPayload = strawberry.mutation(
        resolver=login,
        description="Sign in: the one thing anonymous callers may do.",
    )
    create_user: UserPayload = strawberry.mutation(resolver=create_user)
    grant_role: UserPayload = strawberry.mutation(resolver=grant_role)
