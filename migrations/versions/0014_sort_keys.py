"""sort keys of other tables kept on the conversation row, and the rail's counting index

The inbox sorts by four values that live in other tables: the contact's name, the owner's
name, the ticket's priority and the ticket's soonest running SLA deadline. Sorting by a
subquery reads every conversation of a view; a copy on the conversation row, indexed with
the status, lets a sort read its page from one index:
- conversations.sort_contact: the contact's name, else email, else "" (first 1000 chars);
- conversations.sort_owner: the owner's name, "" when unassigned;
- conversations.sort_priority: the ticket's priority rank (low 0 .. urgent 3), -1 without;
- conversations.sort_due_at: the ticket's soonest running deadline, 8999-01-01 without.
Two more copies of the ticket serve views (and their counts in the rail) the same way:
- conversations.ticket_team_id and conversations.ticket_status: the ticket's team and
  pipeline status (NULL without a ticket).
`inbox.service` writes them all from then on (its own changes, and what the tickets, sla and
accounts rooms report). Existing rows are filled in here from the tables they copy.

Also conversations (status, owner_id | ticket_team_id | ticket_status, deleted_at,
inbox_id): the rail counts a view in scope from one of these indexes alone; and messages (id,
conversation_id): a search maps the messages the full-text index found to their
conversations without reading the messages themselves.
And conversations (last_message_at, id, inbox_id, deleted_at, contact_id) in place of
(last_message_at, id): a search newest first walks it and checks scope, trash and the
matches (by id and by contact) without reading a conversation it does not show.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

NO_DEADLINE = datetime(8999, 1, 1, tzinfo=UTC)
PRIORITY_RANKS = (("low", 0), ("medium", 1), ("high", 2), ("urgent", 3))

INDEXES = (
    ("ix_conversations_status_contact", ["status", "sort_contact", "id"]),
    ("ix_conversations_status_owner_name", ["status", "sort_owner", "id"]),
    ("ix_conversations_status_priority", ["status", "sort_priority", "id"]),
    ("ix_conversations_status_due", ["status", "sort_due_at", "id"]),
    ("ix_conversations_counts", ["status", "owner_id", "deleted_at", "inbox_id"]),
    ("ix_conversations_team_counts", ["status", "ticket_team_id", "deleted_at", "inbox_id"]),
    ("ix_conversations_ticket_status_counts",
     ["status", "ticket_status", "deleted_at", "inbox_id"]),
)

MESSAGES_INDEX = "ix_messages_conversation_of"
RECENT_INDEX = "ix_conversations_recent_scope"
RECENT_COLUMNS = ["last_message_at", "id", "inbox_id", "deleted_at", "contact_id"]


def _no_deadline_default() -> sa.TextClause:
    if op.get_bind().dialect.name == "sqlite":  # as SQLAlchemy writes a naive UTC datetime
        return sa.text("'8999-01-01 00:00:00.000000'")
    return sa.text("'8999-01-01 00:00:00+00'")


def _priority_rank() -> str:
    cases = " ".join(f"WHEN '{name}' THEN {rank}" for name, rank in PRIORITY_RANKS)
    return f"CASE tickets.priority {cases} ELSE -1 END"


BACKFILL = f"""
UPDATE conversations SET
  sort_contact = coalesce((SELECT substr(coalesce(contacts.name, contacts.email, ''), 1, 1000)
                           FROM contacts WHERE contacts.id = conversations.contact_id), ''),
  sort_owner = coalesce((SELECT users.name FROM users
                         WHERE users.id = conversations.owner_id), ''),
  sort_priority = coalesce((SELECT {_priority_rank()} FROM ticket_conversations
                            JOIN tickets ON tickets.id = ticket_conversations.ticket_id
                            WHERE ticket_conversations.conversation_id = conversations.id),
                           -1),
  sort_due_at = coalesce((SELECT min(sla_clocks.due_at) FROM ticket_conversations
                          JOIN sla_clocks ON sla_clocks.ticket_id = ticket_conversations.ticket_id
                          WHERE ticket_conversations.conversation_id = conversations.id
                            AND sla_clocks.stopped_at IS NULL), :no_deadline),
  ticket_team_id = (SELECT tickets.team_id FROM ticket_conversations
                    JOIN tickets ON tickets.id = ticket_conversations.ticket_id
                    WHERE ticket_conversations.conversation_id = conversations.id),
  ticket_status = (SELECT tickets.status FROM ticket_conversations
                   JOIN tickets ON tickets.id = ticket_conversations.ticket_id
                   WHERE ticket_conversations.conversation_id = conversations.id)
"""


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("sort_contact", sa.String(1000), nullable=False, server_default=""),
        sa.Column("sort_owner", sa.String(200), nullable=False, server_default=""),
        sa.Column("sort_priority", sa.Integer(), nullable=False, server_default="-1"),
        sa.Column("sort_due_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=_no_deadline_default()),
        sa.Column("ticket_team_id", sa.Integer(), nullable=True),
        sa.Column("ticket_status", sa.String(64), nullable=True),
    ]


def upgrade() -> None:
    # Added in place, never by copying the table (which would drop the full-text triggers
    # of 0009, and which SQLite refuses for a referenced table with rows; see 0006).
    for column in _columns():
        op.add_column("conversations", column)
    no_deadline: sa.BindParameter[datetime] = sa.bindparam(
        "no_deadline", NO_DEADLINE if op.get_bind().dialect.name != "sqlite"
        else NO_DEADLINE.replace(tzinfo=None), type_=sa.DateTime(timezone=True))
    op.execute(sa.text(BACKFILL).bindparams(no_deadline))
    for name, columns in INDEXES:
        op.create_index(name, "conversations", columns)
    op.create_index(MESSAGES_INDEX, "messages", ["id", "conversation_id"])
    op.drop_index("ix_conversations_listing", table_name="conversations")
    op.create_index(RECENT_INDEX, "conversations", RECENT_COLUMNS)


def downgrade() -> None:
    op.drop_index(RECENT_INDEX, table_name="conversations")
    op.create_index("ix_conversations_listing", "conversations", ["last_message_at", "id"])
    op.drop_index(MESSAGES_INDEX, table_name="messages")
    for name, _ in reversed(INDEXES):
        op.drop_index(name, table_name="conversations")
    for column in reversed(_columns()):
        op.drop_column("conversations", column.name)
