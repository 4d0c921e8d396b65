"""Declared read permissions. Mutations check role and scope in their services instead, so that a
refusal is a userError and the same rule holds when a service is called from anywhere else."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from gridweave.schema.common import GqlInfo
from gridweave.services.access import read_policy


class SignedIn(BasePermission):
    message = "Sign in first: this needs a user."
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: GqlInfo, **kwargs: Any) -> bool:
        return info.context.actor is not None


class ReadsLedger(BasePermission):
    message = "Reading the ledger needs the AUDITOR or ADMIN role."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: GqlInfo, **kwargs: Any) -> bool:
        return read_policy("AuditEntry").may_read(info.context.actor)
