"""Rows stored before token flows: say what they are instead of passing them off as the new measurements.

* ``price_source`` ``block_end``: they were priced at the end of their block (after the arbitrage).
* ``coinbase_transfer_wei`` emptied: it was a per-block balance surplus (an upper bound that credited
  other senders' payments and stored a negative surplus as 0), not a measured payment.
* ``profits`` from ``profit_token``/``profit_raw`` where one token was shared, with the stored gross USD.
* ``venues`` and cycles: every hop was a V2 ``Swap`` (the old detector read nothing else); ``profitable`` from the
  stored profit (the old detector kept only profitable cycles).
"""

from __future__ import annotations

from django.db import migrations


def mark_stored_rows(apps, schema_editor):  # type: ignore[no-untyped-def]
    transaction_model = apps.get_model("transactions", "ArbitrageTransaction")
    cycle_model = apps.get_model("transactions", "ArbitrageCycle")
    for tx in transaction_model.objects.all().iterator(chunk_size=2000):
        tx.price_source = "block_end"
        tx.coinbase_transfer_wei = None
        tx.venues = ["uniswap_v2"] * len(tx.pools_involved)
        if tx.profit_token and tx.profit_raw is not None:
            tx.profits = [{"token": tx.profit_token, "raw": str(tx.profit_raw), "usd": float(tx.profit_gross_usd)}]
        tx.save(update_fields=["price_source", "coinbase_transfer_wei", "profits", "venues"])
    for cycle in cycle_model.objects.all().iterator(chunk_size=2000):
        cycle.venues = ["uniswap_v2"] * len(cycle.pools)
        cycle.profitable = int(cycle.profit_raw) > 0
        cycle.save(update_fields=["venues", "profitable"])


class Migration(migrations.Migration):
    dependencies = [("transactions", "0002_flows_profits_builder_payments_hops")]

    operations = [migrations.RunPython(mark_stored_rows, migrations.RunPython.noop)]
