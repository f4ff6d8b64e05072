"""Side tables for ``?pool=`` on transactions and ``?token=`` on opportunities (``api.links``).

Filled here from the rows already stored (the receivers keep them from now on): one INSERT … SELECT on
PostgreSQL, batches elsewhere. On a large history this migration takes minutes (about one per few
million rows).
"""

import django.db.models.deletion
from django.db import migrations, models


def fill(apps, schema_editor) -> None:  # noqa: ANN001
    tx_model = apps.get_model("transactions", "ArbitrageTransaction")
    opp_model = apps.get_model("opportunities", "Opportunity")
    pool_model = apps.get_model("chains", "Pool")
    link_tx = apps.get_model("api", "TransactionPool")
    link_opp = apps.get_model("api", "OpportunityToken")
    if schema_editor.connection.vendor == "postgresql":
        inserts = {
            link_tx._meta.db_table: (
                f"INSERT INTO {link_tx._meta.db_table} (pool, detected_at, transaction_id) "
                f"SELECT p.pool, t.detected_at, t.id FROM {tx_model._meta.db_table} t "
                "CROSS JOIN LATERAL (SELECT DISTINCT jsonb_array_elements_text(t.pools_involved) pool) p"
            ),
            link_opp._meta.db_table: (
                f"INSERT INTO {link_opp._meta.db_table} (token, detected_at, opportunity_id) "
                f"SELECT k.address, o.detected_at, o.id FROM {opp_model._meta.db_table} o "
                f"JOIN {pool_model._meta.db_table} p ON p.id = o.pool_id "
                "JOIN chains_token k ON k.id IN (p.token0_id, p.token1_id)"
            ),
        }
        with schema_editor.connection.cursor() as cursor:
            for table, insert in inserts.items():
                # The new tables' keys are built after the fill (a sort, not millions of index insertions).
                cursor.execute(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                    "AND contype = 'p'",
                    [table],
                )
                keys = cursor.fetchall()
                cursor.execute(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
                    "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
                    [table, table],
                )
                indexes = cursor.fetchall()
                for name, _ in keys:
                    cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
                for name, _ in indexes:
                    cursor.execute(f"DROP INDEX {name}")
                cursor.execute(insert)
                for name, definition in keys:
                    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
                for _, definition in indexes:
                    cursor.execute(definition)
        return
    rows = tx_model.objects.order_by("pk").values_list("pk", "detected_at", "pools_involved")
    link_tx.objects.bulk_create(
        (
            link_tx(pool=pool, detected_at=at, transaction_id=pk)
            for pk, at, pools in rows.iterator(chunk_size=5000)
            for pool in dict.fromkeys(pools)
        ),
        batch_size=5000,
    )
    tokens = {
        pk: tuple(dict.fromkeys((t0, t1)))
        for pk, t0, t1 in pool_model.objects.values_list("pk", "token0__address", "token1__address")
    }
    opps = opp_model.objects.order_by("pk").values_list("pk", "detected_at", "pool_id")
    link_opp.objects.bulk_create(
        (
            link_opp(token=token, detected_at=at, opportunity_id=pk)
            for pk, at, pool_id in opps.iterator(chunk_size=5000)
            for token in tokens.get(pool_id, ())
        ),
        batch_size=5000,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('api', '0003_window_totals'),
        ('opportunities', '0001_initial'),
        ('transactions', '0001_initial'),
        ('chains', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='OpportunityToken',
            fields=[
                ('pk', models.CompositePrimaryKey('token', 'detected_at', 'opportunity', blank=True, editable=False, primary_key=True, serialize=False)),
                ('token', models.CharField(max_length=42)),
                ('detected_at', models.DateTimeField()),
                ('opportunity', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='token_links', to='opportunities.opportunity')),
            ],
        ),
        migrations.CreateModel(
            name='TransactionPool',
            fields=[
                ('pk', models.CompositePrimaryKey('pool', 'detected_at', 'transaction', blank=True, editable=False, primary_key=True, serialize=False)),
                ('pool', models.CharField(max_length=42)),
                ('detected_at', models.DateTimeField()),
                ('transaction', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='pool_links', to='transactions.arbitragetransaction')),
            ],
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
