"""``?pool=`` with a profit or swap-count filter, and ``?contract=``, without fetching rows they skip.

- ``api_transactionpool`` gets copies of its transaction's ``profit_net_usd`` and ``swap_count``
  (filled here from the rows; they never change), and on PostgreSQL a covering index (pool,
  detected_at, transaction) INCLUDE (profit_net_usd, swap_count): the newest links of a pool whose
  transaction passes ``min_profit``/``max_profit``/``min_swaps``/``max_swaps`` are found in the index
  alone, and only the page's rows are fetched (before: every link walked cost a heap fetch of its
  transaction until 51 passed).
- A contract's transactions newest first (``?contract=``, search, ``/bot/<contract>``): an index on
  (contract_address, detected_at DESC, id DESC) like the sender's, instead of sorting all of them.

On a large history the fill is one UPDATE of every link (minutes per ten million) and each index
a few minutes.
"""

from django.db import migrations, models

COVERING = (
    "api_txpool_filters",
    "CREATE INDEX IF NOT EXISTS api_txpool_filters ON api_transactionpool "
    "(pool, detected_at, transaction_id) INCLUDE (profit_net_usd, swap_count)",
)
CONTRACT = (
    "api_arbtx_contract_detected",
    "CREATE INDEX IF NOT EXISTS api_arbtx_contract_detected ON transactions_arbitragetransaction "
    "(contract_address, detected_at DESC, id DESC)",
)


def fill(apps, schema_editor) -> None:  # noqa: ANN001
    link = apps.get_model("api", "TransactionPool")
    tx_model = apps.get_model("transactions", "ArbitrageTransaction")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"UPDATE {link._meta.db_table} l SET profit_net_usd = t.profit_net_usd, swap_count = t.swap_count "
            f"FROM {tx_model._meta.db_table} t WHERE t.id = l.transaction_id"
        )
        return
    rows = tx_model.objects.order_by("pk").values_list("pk", "profit_net_usd", "swap_count")
    for pk, profit, swaps in rows.iterator(chunk_size=5000):
        link.objects.filter(transaction_id=pk).update(profit_net_usd=profit, swap_count=swaps)


def indexes_create(apps, schema_editor) -> None:  # noqa: ANN001
    schema_editor.execute(CONTRACT[1])
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(COVERING[1])


def indexes_drop(apps, schema_editor) -> None:  # noqa: ANN001
    schema_editor.execute(f"DROP INDEX IF EXISTS {CONTRACT[0]}")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {COVERING[0]}")


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0005_contract_buckets"),
    ]

    operations = [
        migrations.AddField(
            model_name="transactionpool",
            name="profit_net_usd",
            field=models.DecimalField(decimal_places=6, default=0, max_digits=30),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="transactionpool",
            name="swap_count",
            field=models.PositiveSmallIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(indexes_create, indexes_drop),
    ]
