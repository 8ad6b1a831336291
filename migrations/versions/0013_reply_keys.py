"""replies sent once: the key of the form that sent them

`messages.client_key` holds the key an agent's reply or comment form carried (made when the
page was rendered, or given by an API client); it is unique per conversation, so the same
form posted twice (a double click, a resubmit) makes one message. Messages stored before
have none.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

KEY_INDEX = "ux_messages_conversation_client_key"


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_key", sa.String(64), nullable=True))
    op.create_index(KEY_INDEX, "messages", ["conversation_id", "client_key"], unique=True)


def downgrade() -> None:
    op.drop_index(KEY_INDEX, table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("client_key")
