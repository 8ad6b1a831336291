"""indexes the inbox pages read by

The inbox lists a view (a status, often an owner) newest first or by a column, counts each
view up to a cap, and sorts by SLA deadline. Each index below lets one of those read the rows
it shows in order instead of sorting every conversation of a status:
- conversations (status, last_message_at, id): a view by status, newest first (the default);
- conversations (owner_id, status, last_message_at, id): "Assigned to me", "Unassigned";
- conversations (status, channel, id) and (status, subject, id): a view sorted by channel
  or by subject;
- sla_clocks (ticket_id, stopped_at, due_at): a ticket's soonest running deadline, read from
  the index alone (the SLA sort and the SLA column).
The same indexes are declared in the models' `__table_args__`.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_conversations_status_recent", "conversations", ["status", "last_message_at", "id"]),
    ("ix_conversations_owner_status", "conversations",
     ["owner_id", "status", "last_message_at", "id"]),
    ("ix_conversations_status_channel", "conversations", ["status", "channel", "id"]),
    ("ix_conversations_status_subject", "conversations", ["status", "subject", "id"]),
    ("ix_sla_clocks_running", "sla_clocks", ["ticket_id", "stopped_at", "due_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
