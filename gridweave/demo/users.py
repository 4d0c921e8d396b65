"""One demo account per role, all with the password ``demo-password`` (documented in the README)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.demo.generator import DemoSummary
from gridweave.models import Role, RoleGrant, User
from gridweave.security import hash_password
from gridweave.services import audit

DEMO_PASSWORD = "demo-password"
DOMAIN = "demo.gridweave.cn"


def demo_accounts(demo: DemoSummary) -> list[tuple[str, str, Role, int | None, int | None]]:
    """(local part, display name, role, area id, organization id)."""
    return [
        ("admin", "系统管理员", Role.ADMIN, None, None),
        ("street", "街道协调员", Role.COORDINATOR, demo.street_id, None),
        ("community", "社区协调员", Role.COORDINATOR, demo.community_id, None),
        ("member", "社会组织成员", Role.ORGANIZATION_MEMBER, None, demo.organization_id),
        ("evaluator", "评估专家", Role.EVALUATOR, demo.city_id, None),
        ("auditor", "审计员", Role.AUDITOR, demo.city_id, None),
    ]


async def load_demo_users(session: AsyncSession, demo: DemoSummary) -> list[str]:
    """Create the accounts that do not exist yet; return every demo email."""
    password_hash = hash_password(DEMO_PASSWORD)
    emails = []
    for local, name, role, area_id, org_id in demo_accounts(demo):
        email = f"{local}@{DOMAIN}"
        emails.append(email)
        exists = await session.scalar(select(User.id).where(func.lower(User.email) == email))
        if exists is not None:
            continue
        user = User(email=email, display_name=name, password_hash=password_hash)
        session.add(user)
        await session.flush()
        session.add(
            RoleGrant(user_id=user.id, role=role.value, area_id=area_id, organization_id=org_id)
        )
        grant = {"role": role.value, "area_id": area_id, "organization_id": org_id}
        await audit.record(
            session,
            None,
            "createUser",
            f"User:{user.id}",
            {"email": email, "display_name": name, "roles": [grant], "via": "demo"},
        )
    return emails
