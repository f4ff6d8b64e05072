"""Contract leaderboard (``ContractBucket``, ``board = "contract"`` windows), filled from the stored rows.

Hours from the transactions that recorded their contract, days from the hours, and the rolling windows
already built (``WindowState``) from those buckets: the same figures ``aggregates_rebuild`` gives.
On PostgreSQL a few GROUP BY statements (minutes on tens of millions of rows); elsewhere in Python.
"""

from collections import defaultdict
from datetime import UTC
from decimal import Decimal

from django.db import migrations, models

WINDOW_SPANS = {"1d": "h", "7d": "d", "30d": "d"}
COLUMNS = ("tx_count", "gross_usd", "gas_usd", "net_usd", "builder_native")


def fill(apps, schema_editor) -> None:  # noqa: ANN001
    tx_model = apps.get_model("transactions", "ArbitrageTransaction")
    bucket = apps.get_model("api", "ContractBucket")
    state = apps.get_model("api", "WindowState")
    window = apps.get_model("api", "WindowTotal")
    if schema_editor.connection.vendor == "postgresql":
        table, tx = bucket._meta.db_table, tx_model._meta.db_table
        hour = "date_trunc('hour', t.block_timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        day = "date_trunc('day', start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (chain_id, span, start, contract, {', '.join(COLUMNS)}) "
                f"SELECT t.chain_id, 'h', {hour}, t.contract_address, count(*), sum(t.profit_gross_usd), "
                "sum(t.gas_cost_usd), sum(t.profit_net_usd), sum(coalesce(t.coinbase_transfer_wei, 0) / 1e18) "
                f"FROM {tx} t WHERE t.contract_address <> '' GROUP BY 1, 3, 4"
            )
            cursor.execute(
                f"INSERT INTO {table} (chain_id, span, start, contract, {', '.join(COLUMNS)}) "
                f"SELECT chain_id, 'd', {day}, contract, {', '.join(f'sum({c})' for c in COLUMNS)} FROM {table} "
                f"WHERE span = 'h' GROUP BY chain_id, contract, {day}"
            )
    else:
        sums: dict[tuple, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        rows = tx_model.objects.exclude(contract_address="").values_list(
            "chain_id", "block_timestamp", "contract_address", "profit_gross_usd", "gas_cost_usd", "profit_net_usd",
            "coinbase_transfer_wei",
        )
        for chain_id, moment, contract, gross, gas, net, coinbase in rows.iterator(chunk_size=5000):
            hour = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            for key in ((chain_id, "h", hour, contract), (chain_id, "d", hour.replace(hour=0), contract)):
                row = sums[key]
                row["tx_count"] += 1
                row["gross_usd"] += gross
                row["gas_usd"] += gas
                row["net_usd"] += net
                row["builder_native"] += Decimal(coinbase or 0) / Decimal(10) ** 18
        bucket.objects.bulk_create(
            (
                bucket(chain_id=c, span=s, start=t, contract=k, **values)
                for (c, s, t, k), values in sums.items()
            ),
            batch_size=5000,
        )
    for current in state.objects.filter(period__in=WINDOW_SPANS):
        totals: dict[tuple, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        buckets = bucket.objects.filter(span=WINDOW_SPANS[current.period], start__gte=current.start)
        for row in buckets.values("chain_id", "contract", *COLUMNS).iterator(chunk_size=5000):
            total = totals[(row["chain_id"], row["contract"])]
            for column in COLUMNS:
                total[column] += row[column]
        window.objects.bulk_create(
            (
                window(period=current.period, board="contract", chain_id=c, key=k, **values)
                for (c, k), values in totals.items()
            ),
            batch_size=5000,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0004_detection_links"),
        ("transactions", "0003_flows_mark_stored_rows"),
    ]

    operations = [
        migrations.CreateModel(
            name="ContractBucket",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("chain_id", models.PositiveBigIntegerField()),
                ("span", models.CharField(choices=[("h", "hour"), ("d", "day")], max_length=1)),
                ("start", models.DateTimeField()),
                ("contract", models.CharField(max_length=42)),
                ("tx_count", models.BigIntegerField(default=0)),
                ("gross_usd", models.DecimalField(decimal_places=6, default=0, max_digits=30)),
                ("gas_usd", models.DecimalField(decimal_places=6, default=0, max_digits=30)),
                ("net_usd", models.DecimalField(decimal_places=6, default=0, max_digits=30)),
                ("builder_native", models.DecimalField(decimal_places=18, default=0, max_digits=40)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["contract", "span", "start"], name="api_contractbucket_contract"),
                    models.Index(fields=["span", "start"], name="api_contractbucket_time"),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("chain_id", "span", "start", "contract"), name="api_contractbucket_key"
                    )
                ],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
