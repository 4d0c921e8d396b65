"""Compiled declarations: Organization, its service areas and links; the service category."""

from __future__ import annotations

from gridweave.compiled.declare import FieldSql, ObjectType, global_id, many, one, scalars
from gridweave.models import Organization as OrganizationRow
from gridweave.models import OrganizationLink as LinkRow
from gridweave.models import ServiceCategory as CategoryRow
from gridweave.schema.organizations import Organization, OrganizationLink, ServiceCategory

ORGANIZATION_FIELDS: dict[str, FieldSql] = {
    **scalars(Organization, OrganizationRow.__table__),
    "id": global_id("Organization"),
    "area": one("Area", "area_id"),
    "parent": one("Organization", "parent_id"),
    "children": many(
        "Organization", lambda o, x: f"FROM organizations {x} WHERE {x}.parent_id = {o}.id"
    ),
    # One row per served area, its categories in an array (the resolver groups the same way).
    "serviceAreas": many(
        "ServiceArea",
        lambda o, x: (
            "FROM (SELECT area_id, array_agg(category_id ORDER BY category_id) AS cats"
            f" FROM organization_service_areas WHERE organization_id = {o}.id GROUP BY area_id) {x}"
        ),
        order="area_id",
    ),
    # Co-building agreements it is the partner of, oldest first (types_agreements.py).
    "agreements": many(
        "Agreement", lambda o, x: f"FROM agreements {x} WHERE {x}.partner_id = {o}.id"
    ),
    "links": many(
        "OrganizationLink",
        lambda o, x: (
            f"FROM organization_links {x} WHERE {x}.source_id = {o}.id OR {x}.target_id = {o}.id"
        ),
    ),
}

SERVICE_AREA_FIELDS: dict[str, FieldSql] = {
    "area": one("Area", "area_id"),
    "categories": many(
        "ServiceCategory", lambda g, x: f"FROM service_categories {x} WHERE {x}.id = ANY({g}.cats)"
    ),
}

LINK_FIELDS: dict[str, FieldSql] = {
    **scalars(OrganizationLink, LinkRow.__table__),
    "source": one("Organization", "source_id"),
    "target": one("Organization", "target_id"),
}

CATEGORY_FIELDS: dict[str, FieldSql] = {
    **scalars(ServiceCategory, CategoryRow.__table__),
    "id": global_id("ServiceCategory"),
}

TYPES = [
    ObjectType("Organization", ORGANIZATION_FIELDS, table="organizations", node=True),
    ObjectType("ServiceArea", SERVICE_AREA_FIELDS),
    ObjectType("OrganizationLink", LINK_FIELDS, table="organization_links"),
    ObjectType("ServiceCategory", CATEGORY_FIELDS, table="service_categories", node=True),
]
