"""full-text search over message bodies, subjects and contacts

SQLite: FTS5 tables with external content (the rows stay in their tables; the index holds
only terms), kept up to date by triggers. PostgreSQL: GIN indexes on `to_tsvector` of the
same columns. `inbox/search.py` writes the queries that use them; the objects are not in
the models' metadata (neither SQLAlchemy nor Alembic knows FTS5 or expression indexes).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# (FTS table, content table, indexed columns)
SQLITE_TABLES = (
    ("messages_fts", "messages", ("text",)),
    ("conversations_fts", "conversations", ("subject",)),
    ("contacts_fts", "contacts", ("name", "email", "company")),
)

# PostgreSQL: a text search configuration that folds case and accents and keeps every word
# (no stop words, no stemming), as FTS5's unicode61 tokenizer does; then the index
# expressions, exactly as inbox/search.py writes them (a query uses an expression index
# only when it repeats the expression). `left` keeps the tsvector under its size limit for
# the longest bodies.
POSTGRES_CONFIGURATION = (
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE TEXT SEARCH CONFIGURATION frontdesk_search (COPY = simple)",
    "ALTER TEXT SEARCH CONFIGURATION frontdesk_search ALTER MAPPING FOR hword, hword_part, word"
    " WITH unaccent, simple",
)
def _words(expression: str) -> str:
    """`expression` as words for to_tsvector: punctuation is a space, as for FTS5 (else
    PostgreSQL's parser keeps an address or a host name as one token)."""
    return (f"to_tsvector('frontdesk_search'::regconfig, "
            f"regexp_replace({expression}, '[[:punct:]]+', ' ', 'g'))")


POSTGRES_INDEXES = (
    ("ix_messages_search", "messages", _words("left(text, 100000)")),
    ("ix_conversations_search", "conversations", _words("subject")),
    ("ix_contacts_search", "contacts",
     _words("coalesce(name, '') || ' ' || coalesce(email, '') || ' ' || coalesce(company, '')")),
)


def _sqlite_upgrade() -> None:
    for fts, table, columns in SQLITE_TABLES:
        names = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        op.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', "
                   f"content_rowid='id', tokenize='unicode61 remove_diacritics 2')")
        op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
        op.execute(f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN "
                   f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new}); END")
        op.execute(f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN "
                   f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); "
                   f"END")
        op.execute(f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {names} ON {table} BEGIN "
                   f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); "
                   f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new}); END")


def _sqlite_downgrade() -> None:
    for fts, _, _ in SQLITE_TABLES:
        for suffix in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {fts}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_upgrade()
        return
    for statement in POSTGRES_CONFIGURATION:
        op.execute(statement)
    for name, table, expression in POSTGRES_INDEXES:
        op.execute(f"CREATE INDEX {name} ON {table} USING gin (({expression}))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_downgrade()
        return
    for name, _, _ in POSTGRES_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS frontdesk_search")
