"""the ledger's append in one statement

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-02

``audit_append()`` takes the ledger's advisory lock, chains the new entry onto the newest one
(the hash computed exactly as ``services.audit.chain_hash`` computes it) and queues the change's
NOTIFY: one round trip where the service made two (the lock, then the insert). Every write that
appends holds its rows' locks until it commits, so the round trips saved are waits saved for the
writers queued behind it.

Why the chain stays one line: a VOLATILE PL/pgSQL function takes a fresh snapshot for each
statement it runs (READ COMMITTED), so the SELECT after the lock sees every entry committed
before the lock was granted, and a lock is released only once its transaction's commit is
visible. The function also says how long it waited for the lock (for the metrics).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_FUNCTION = """
CREATE FUNCTION audit_append(
  p_lock bigint, p_at timestamptz, p_actor_id bigint, p_action text, p_entity_id text,
  p_summary jsonb, p_body bytea, p_channel text, p_event text,
  OUT id bigint, OUT previous_hash text, OUT hash text, OUT lock_wait double precision
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  asked timestamptz := clock_timestamp();
BEGIN
  PERFORM pg_advisory_xact_lock(p_lock);
  lock_wait := extract(epoch FROM clock_timestamp() - asked);
  SELECT a.hash INTO previous_hash FROM audit_log a ORDER BY a.id DESC LIMIT 1;
  INSERT INTO audit_log AS a (at, actor_id, action, entity_id, summary, previous_hash, hash)
  VALUES (p_at, p_actor_id, p_action, p_entity_id, p_summary, previous_hash,
          encode(sha256(convert_to(coalesce(previous_hash, ''), 'UTF8') || p_body), 'hex'))
  RETURNING a.id, a.hash INTO id, hash;
  PERFORM pg_notify(p_channel, p_event);
END $$
"""


def upgrade() -> None:
    op.execute(APPEND_FUNCTION)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION audit_append(bigint, timestamptz, bigint, text, text, jsonb, bytea, text,"
        " text)"
    )
