"""The documents bench/meetings sends (tests/api/test_must_compile.py holds them compiled)."""

from __future__ import annotations

MEETINGS_DASHBOARD = """query Meetings($area: ID!, $first: Int, $after: ID) {
  jointMeetings(areaId: $area, first: $first, after: $after) {
    id name rotationPeriod startsOn area { id name } satThisQuarter lastSatOn
    convenerOn { id name } convenerSchedule(periods: 4) { startsOn endsOn organization { name } }
    members { joinedOn organization { id name kind
      agreements { title status minActivitiesPerQuarter activitiesThisQuarter
        meetsMinimumThisQuarter commitments { quantity unit category { code } } } } }
    sessions { id heldOn resolutions convener { name } attendees { name } }
  }
  node(id: $area) { ... on Area { unengagedUnits(first: 20) { totalCount
    pageInfo { hasNextPage endCursor } edges { node { id name } } } } }
}"""
