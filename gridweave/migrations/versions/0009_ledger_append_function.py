"""the ledger's append in one statement

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

``audit_append()`` takes the ledger's advisory lock, stamps the entry (``at``, after the lock as
before, so that times follow the chain), chains it onto the newest one (the hash computed exactly
as ``services.audit.chain_hash`` computes it, over the canonical body sent in the two halves
around its ``at``) and queues the change's NOTIFY: one statement where the service made two (the
lock, then the insert), and one that a write can call inside its own statement. Every write that
appends holds its rows' locks until it commits, so the round trips saved are waits saved for the
writers queued behind it.

Why the chain stays one line: a VOLATILE PL/pgSQL function takes a fresh snapshot for each
statement it runs (READ COMMITTED), so the SELECT after the lock sees every entry committed
before the lock was granted, and a lock is released only once its transaction's commit is
visible. The function also says how long it waited for the lock (for the metrics).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_FUNCTION = """
CREATE FUNCTION audit_append(
  p_lock bigint, p_actor_id bigint, p_action text, p_entity_id text, p_summary jsonb,
  p_body_head bytea, p_body_tail bytea, p_channel text, p_event text,
  OUT id bigint, OUT at timestamptz, OUT previous_hash text, OUT hash text,
  OUT lock_wait double precision
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  asked timestamptz := clock_timestamp();
  body bytea;
BEGIN
  PERFORM pg_advisory_xact_lock(p_lock);
  at := clock_timestamp();
  lock_wait := extract(epoch FROM at - asked);
  body := p_body_head
    || convert_to('"' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
                  || '+00:00"', 'UTF8')
    || p_body_tail;
  SELECT a.hash INTO previous_hash FROM audit_log a ORDER BY a.id DESC LIMIT 1;
  INSERT INTO audit_log AS a (at, actor_id, action, entity_id, summary, previous_hash, hash)
  VALUES (at, p_actor_id, p_action, p_entity_id, p_summary, previous_hash,
          encode(sha256(convert_to(coalesce(previous_hash, ''), 'UTF8') || body), 'hex'))
  RETURNING a.id, a.hash INTO id, hash;
  PERFORM pg_notify(p_channel, p_event);
END $$
"""


def upgrade() -> None:
    op.execute(APPEND_FUNCTION)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION audit_append(bigint, bigint, text, text, jsonb, bytea, bytea, text, text)"
    )
