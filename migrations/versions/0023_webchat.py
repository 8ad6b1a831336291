"""web chat: chat settings per inbox, visitors, the visitor's sequence of messages

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_settings",
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("ask_details", sa.String(length=16), nullable=False),
        sa.Column("office_hours", sa.Boolean(), nullable=False),
        sa.Column("transcript", sa.Boolean(), nullable=False),
        sa.Column("greeting", sa.Text(), nullable=False),
        sa.Column("email_after_minutes", sa.Integer(), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["inbox_id"], ["inboxes.id"],
                                name=op.f("fk_chat_settings_inbox_id_inboxes"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("inbox_id", name=op.f("pk_chat_settings")),
    )
    op.create_table(
        "chat_visitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("visitor", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("read_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["inbox_id"], ["inboxes.id"],
                                name=op.f("fk_chat_visitors_inbox_id_inboxes"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name=op.f("fk_chat_visitors_conversation_id_conversations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_visitors")),
        sa.UniqueConstraint("inbox_id", "visitor", name=op.f("uq_chat_visitors_inbox_id_visitor")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_chat_visitors_conversation_id")),
    )
    op.create_table(
        "chat_messages",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("mailed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"],
                                name=op.f("fk_chat_messages_message_id_messages")),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name=op.f("fk_chat_messages_conversation_id_conversations")),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_chat_messages")),
        sa.UniqueConstraint("conversation_id", "seq", name=op.f("uq_chat_messages_conversation_id_seq")),
    )


def downgrade() -> None:
    op.drop_table("chat_messages")
    op.drop_table("chat_visitors")
    op.drop_table("chat_settings")
