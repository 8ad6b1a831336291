"""threading by participants: who takes part in a conversation, replies linked to the conversation they reference, senders that failed DMARC

Mail that answers a conversation joins it only when its sender takes part in it. Who takes
part was never kept, so each conversation starts with its contact's address; addresses
that were on To/Cc of earlier mail are not known, and their next answer opens a
conversation of its own, linked to the one it answers. The senders of messages already in
a conversation are not taken as participants either: some may have joined by the rules
this revision replaces.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_participants",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"],
            name=op.f("fk_conversation_participants_conversation_id_conversations")),
        sa.PrimaryKeyConstraint("conversation_id", "address",
                                name=op.f("pk_conversation_participants")),
    )
    # Columns are added and dropped in place, never by copying a table: SQLite cannot drop
    # a table that others reference while it has rows. So `replies_to_id` has no foreign
    # key (conversations are never removed, only marked deleted).
    op.add_column("conversations", sa.Column("replies_to_id", sa.Integer(), nullable=True))
    op.add_column("messages", sa.Column("unverified_sender", sa.Boolean(), nullable=False,
                                        server_default="0"))
    op.execute(
        "INSERT INTO conversation_participants (conversation_id, address) "
        "SELECT conversations.id, lower(contacts.email) FROM conversations "
        "JOIN contacts ON contacts.id = conversations.contact_id "
        "WHERE contacts.email IS NOT NULL AND length(contacts.email) <= 254")


def downgrade() -> None:
    op.drop_column("messages", "unverified_sender")
    op.drop_column("conversations", "replies_to_id")
    op.drop_table("conversation_participants")
