"""case management: companies, case fields on tickets, subjects, products, queues, routing
rules, activities, resolutions, similar-case links, entitlements, status reasons

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = '0025'
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inherited_fields', sa.JSON(), nullable=False),
    sa.Column('close_children_with_parent', sa.Boolean(), nullable=False),
    sa.Column('entitlement_decrement_on', sa.String(length=16), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_settings'))
    )
    op.create_table('case_subjects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['case_subjects.id'], name=op.f('fk_case_subjects_parent_id_case_subjects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_subjects')),
    sa.UniqueConstraint('parent_id', 'name', name=op.f('uq_case_subjects_parent_id_name'))
    )
    with op.batch_alter_table('case_subjects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_subjects_parent_id'), ['parent_id'], unique=False)

    op.create_table('companies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_companies')),
    sa.UniqueConstraint('name', name=op.f('uq_companies_name'))
    )
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_companies_domain'), ['domain'], unique=False)

    op.create_table('products',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('name', name=op.f('uq_products_name'))
    )
    op.create_table('queues',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('is_private', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queues')),
    sa.UniqueConstraint('name', name=op.f('uq_queues_name'))
    )
    op.create_table('routing_rule_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_rule_sets')),
    sa.UniqueConstraint('name', name=op.f('uq_routing_rule_sets_name'))
    )
    op.create_table('status_reasons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_reasons')),
    sa.UniqueConstraint('status', 'key', name=op.f('uq_status_reasons_status_key'))
    )
    op.create_table('queue_members',
    sa.Column('queue_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['queue_id'], ['queues.id'], name=op.f('fk_queue_members_queue_id_queues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_queue_members_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('queue_id', 'user_id', name=op.f('pk_queue_members'))
    )
    with op.batch_alter_table('queue_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queue_members_user_id'), ['user_id'], unique=False)

    op.create_table('routing_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_set_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('action', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['rule_set_id'], ['routing_rule_sets.id'], name=op.f('fk_routing_rules_rule_set_id_routing_rule_sets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_rules'))
    )
    with op.batch_alter_table('routing_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routing_rules_rule_set_id'), ['rule_set_id'], unique=False)

    op.create_table('status_reason_transitions',
    sa.Column('from_id', sa.Integer(), nullable=False),
    sa.Column('to_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['from_id'], ['status_reasons.id'], name=op.f('fk_status_reason_transitions_from_id_status_reasons'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_id'], ['status_reasons.id'], name=op.f('fk_status_reason_transitions_to_id_status_reasons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('from_id', 'to_id', name=op.f('pk_status_reason_transitions'))
    )
    op.create_table('entitlements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('customer_contact_id', sa.Integer(), nullable=True),
    sa.Column('customer_company_id', sa.Integer(), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('terms_kind', sa.String(length=8), nullable=False),
    sa.Column('terms_total', sa.Integer(), nullable=False),
    sa.Column('terms_remaining', sa.Integer(), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('product_ids', sa.JSON(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('sla_goals', sa.JSON(), nullable=True),
    sa.Column('canceled', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("terms_kind IN ('hours', 'cases')", name=op.f('ck_entitlements_terms_kind')),
    sa.CheckConstraint('(customer_contact_id IS NULL) <> (customer_company_id IS NULL)', name=op.f('ck_entitlements_one_customer')),
    sa.ForeignKeyConstraint(['customer_company_id'], ['companies.id'], name=op.f('fk_entitlements_customer_company_id_companies')),
    sa.ForeignKeyConstraint(['customer_contact_id'], ['contacts.id'], name=op.f('fk_entitlements_customer_contact_id_contacts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_entitlements'))
    )
    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_entitlements_customer_company_id'), ['customer_company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_entitlements_customer_contact_id'), ['customer_contact_id'], unique=False)

    op.create_table('case_activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('due_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('duration_minutes', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('task', 'phone_call', 'appointment')", name=op.f('ck_case_activities_kind')),
    sa.CheckConstraint("state IN ('open', 'completed', 'canceled')", name=op.f('ck_case_activities_state')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_case_activities_created_by_id_users')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_case_activities_owner_id_users')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_case_activities_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_activities'))
    )
    with op.batch_alter_table('case_activities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_activities_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('case_links',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('similar_id', sa.Integer(), nullable=False),
    sa.Column('linked_by_id', sa.Integer(), nullable=True),
    sa.Column('linked_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['linked_by_id'], ['users.id'], name=op.f('fk_case_links_linked_by_id_users')),
    sa.ForeignKeyConstraint(['similar_id'], ['tickets.id'], name=op.f('fk_case_links_similar_id_tickets')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_case_links_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('ticket_id', 'similar_id', name=op.f('pk_case_links'))
    )
    with op.batch_alter_table('case_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_links_similar_id'), ['similar_id'], unique=False)

    op.create_table('case_resolutions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('resolution_type', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('total_minutes', sa.Integer(), nullable=False),
    sa.Column('billable_minutes', sa.Integer(), nullable=False),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolved_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reactivated_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_case_resolutions_resolved_by_id_users')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_case_resolutions_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_resolutions'))
    )
    with op.batch_alter_table('case_resolutions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_resolutions_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('queue_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('queue_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('worked_by_id', sa.Integer(), nullable=True),
    sa.Column('entered_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('picked_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['queue_id'], ['queues.id'], name=op.f('fk_queue_items_queue_id_queues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_queue_items_ticket_id_tickets')),
    sa.ForeignKeyConstraint(['worked_by_id'], ['users.id'], name=op.f('fk_queue_items_worked_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_items')),
    sa.UniqueConstraint('queue_id', 'ticket_id', name=op.f('uq_queue_items_queue_id_ticket_id'))
    )
    with op.batch_alter_table('queue_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queue_items_queue_id'), ['queue_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_queue_items_ticket_id'), ['ticket_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_queue_items_worked_by_id'), ['worked_by_id'], unique=False)

    # Plain ADD COLUMN (no batch copy: on SQLite that would drop tables others refer to).
    _add_reference("contacts", "company_id", "companies")
    op.create_index(op.f("ix_contacts_company_id"), "contacts", ["company_id"])
    op.add_column("inboxes", sa.Column("route_new_tickets", sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    for name, target in TICKET_REFERENCES:
        _add_reference("tickets", name, target)
    for name in ("origin", "case_type"):
        op.add_column("tickets", sa.Column(name, sa.String(length=16), nullable=True))
    op.add_column("tickets", sa.Column("status_reason", sa.String(length=64), nullable=True))
    for name in TICKET_INDEXED:
        op.create_index(op.f(f"ix_tickets_{name}"), "tickets", [name])
    if op.get_bind().dialect.name != "sqlite":  # SQLite cannot add a constraint in place
        op.create_check_constraint(op.f("ck_tickets_one_customer"), "tickets",
                                   "customer_contact_id IS NULL OR customer_company_id IS NULL")
    tickets = sa.table("tickets", sa.column("origin", sa.String()),
                       sa.column("source_channel", sa.String()))
    op.execute(tickets.update().values(origin=tickets.c.source_channel))


TICKET_REFERENCES = (("customer_contact_id", "contacts"), ("customer_company_id", "companies"),
                     ("subject_id", "case_subjects"), ("product_id", "products"),
                     ("entitlement_id", "entitlements"), ("parent_id", "tickets"))


def _add_reference(table: str, column: str, target: str) -> None:
    """A nullable integer column referring to `target.id`, added in place (SQLite takes the
    reference inline in ADD COLUMN; it cannot add a constraint afterwards)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER "
                   f"CONSTRAINT fk_{table}_{column}_{target} REFERENCES {target} (id)")
        return
    op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
    op.create_foreign_key(op.f(f"fk_{table}_{column}_{target}"), table, target, [column], ["id"])
TICKET_INDEXED = ("customer_contact_id", "customer_company_id", "entitlement_id", "parent_id")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_tickets_one_customer"), "tickets", type_="check")
    for name in TICKET_INDEXED:
        op.drop_index(op.f(f"ix_tickets_{name}"), table_name="tickets")
    op.drop_index(op.f("ix_contacts_company_id"), table_name="contacts")
    # Columns that refer to other tables go with a batch copy on SQLite, the rest in place.
    with op.batch_alter_table("tickets") as batch:
        for name in ("status_reason", "case_type", "origin",
                     *(name for name, _ in reversed(TICKET_REFERENCES))):
            batch.drop_column(name)
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("company_id")
    op.drop_column("inboxes", "route_new_tickets")
    with op.batch_alter_table('queue_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queue_items_worked_by_id'))
        batch_op.drop_index(batch_op.f('ix_queue_items_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_queue_items_queue_id'))

    op.drop_table('queue_items')
    with op.batch_alter_table('case_resolutions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_resolutions_ticket_id'))

    op.drop_table('case_resolutions')
    with op.batch_alter_table('case_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_links_similar_id'))

    op.drop_table('case_links')
    with op.batch_alter_table('case_activities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_activities_ticket_id'))

    op.drop_table('case_activities')
    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_entitlements_customer_contact_id'))
        batch_op.drop_index(batch_op.f('ix_entitlements_customer_company_id'))

    op.drop_table('entitlements')
    op.drop_table('status_reason_transitions')
    with op.batch_alter_table('routing_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_rules_rule_set_id'))

    op.drop_table('routing_rules')
    with op.batch_alter_table('queue_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queue_members_user_id'))

    op.drop_table('queue_members')
    op.drop_table('status_reasons')
    op.drop_table('routing_rule_sets')
    op.drop_table('queues')
    op.drop_table('products')
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_companies_domain'))

    op.drop_table('companies')
    with op.batch_alter_table('case_subjects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_subjects_parent_id'))

    op.drop_table('case_subjects')
    op.drop_table('case_settings')
