"""Indexes for the API's address searches and filters, on the detection tables.

They live here (not in the detection apps) so the API's needs stay in one app. The JSON (GIN)
indexes are PostgreSQL only; the others are plain and partial B-tree indexes both databases have.
"""

from __future__ import annotations

from django.db import migrations


def _both(name: str, table: str, definition: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        f"CREATE INDEX IF NOT EXISTS {name} ON {table} {definition}", f"DROP INDEX IF EXISTS {name}"
    )


def _postgresql_only(name: str, table: str, definition: str) -> migrations.RunPython:
    def forward(apps, schema_editor) -> None:  # noqa: ANN001
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} {definition}")

    def backward(apps, schema_editor) -> None:  # noqa: ANN001
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")

    return migrations.RunPython(forward, backward)


OPP = "opportunities_opportunity"
TX = "transactions_arbitragetransaction"

INDEXES = [
    # A bot's transactions, newest first (search, /bot/, ?sender=).
    ("api_arbtx_from_detected", TX, "(from_address, detected_at DESC, id DESC)"),
    # A pool's opportunities, newest first (search, /pool/, ?pool=).
    ("api_opp_pool_detected", OPP, "(pool_address, detected_at DESC, id DESC)"),
    ("api_opp_poolid_detected", OPP, "(pool_id, detected_at DESC, id DESC)"),
    # Captures: by the capturing transaction and by the capturing bot; the hourly captured recount.
    ("api_opp_capture_tx", OPP, "(capture_tx_hash) WHERE capture_tx_hash IS NOT NULL"),
    ("api_opp_captured_by", OPP, "(captured_by, detected_at DESC, id DESC) WHERE captured_by IS NOT NULL"),
    ("api_opp_chain_captured", OPP, "(chain_id, detected_at) WHERE captured"),
]
GIN = [
    ("api_arbtx_pools_gin", TX, "USING gin (pools_involved)"),
    ("api_arbtx_tokens_gin", TX, "USING gin (tokens_involved)"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
        ("opportunities", "0001_initial"),
        ("transactions", "0001_initial"),
    ]

    operations = [_both(*index) for index in INDEXES] + [_postgresql_only(*index) for index in GIN]
