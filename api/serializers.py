"""API representations. List rows are exactly the WebSocket payloads (``opportunity_data`` /
``transaction_data``); detail views add the stored cycle, with raw amounts as decimal strings
so JavaScript never rounds them. The declared fields describe those dicts for the OpenAPI schema.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from opportunities.gas import GasPriceSource
from opportunities.models import Opportunity
from opportunities.serializers import opportunity_data
from transactions.models import ArbitrageTransaction
from transactions.serializers import transaction_data


class OpportunitySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    chain_id = serializers.IntegerField()
    pool_name = serializers.CharField()
    pool_address = serializers.CharField()
    imbalance_pct = serializers.FloatField(allow_null=True)
    profit_usd = serializers.FloatField()
    profit_native = serializers.FloatField()
    reserve0 = serializers.IntegerField(help_text="Raw units (exact; may exceed 2^53).")
    reserve1 = serializers.IntegerField(help_text="Raw units (exact; may exceed 2^53).")
    block_number = serializers.IntegerField()
    detected_at = serializers.DateTimeField()
    captured = serializers.BooleanField()
    captured_by = serializers.CharField(allow_null=True)
    capture_tx_hash = serializers.CharField(allow_null=True)
    venues = serializers.ListField(
        child=serializers.CharField(),
        help_text="Each hop's protocol family, in swap order.",
    )
    gas_price_wei = serializers.IntegerField(
        allow_null=True, help_text="The block's gas price the gas cost is at (wei); null on rows stored before it."
    )
    gas_price_source = serializers.ChoiceField(
        choices=[source.value for source in GasPriceSource],
        allow_null=True,
        help_text="What set the gas price: the block's observed tip (eth_feeHistory), the registry's floor, the "
        "operator's GAS_PRIORITY_FEE_WEI, the base fee alone (tip unknown) or the last price seen; null: unknown.",
    )

    def to_representation(self, instance: Opportunity) -> dict[str, Any]:
        return opportunity_data(instance)


class OpportunityDetailSerializer(OpportunitySerializer):
    dex = serializers.CharField(allow_null=True)
    block_hash = serializers.CharField()
    strategy = serializers.CharField()
    path_pools = serializers.ListField(child=serializers.CharField())
    path_tokens = serializers.ListField(child=serializers.CharField())
    start_token = serializers.CharField()
    amount_in = serializers.CharField(help_text="Raw units, decimal string.")
    amount_out = serializers.CharField(help_text="Raw units, decimal string.")
    profit_raw = serializers.CharField(help_text="Raw units, decimal string.")
    gas_estimate = serializers.IntegerField()
    gas_cost_usd = serializers.FloatField()

    def to_representation(self, instance: Opportunity) -> dict[str, Any]:
        dex = instance.pool.dex if instance.pool_id else None
        return {
            **opportunity_data(instance),
            "dex": dex.name if dex else None,
            "block_hash": instance.block_hash,
            "strategy": instance.strategy,
            "path_pools": list(instance.path_pools),
            "path_tokens": list(instance.path_tokens),
            "start_token": instance.start_token,
            "amount_in": str(instance.amount_in),
            "amount_out": str(instance.amount_out),
            "profit_raw": str(instance.profit_raw),
            "gas_estimate": instance.gas_estimate,
            "gas_cost_usd": float(instance.gas_cost_usd),
        }


class TransactionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    chain_id = serializers.IntegerField()
    tx_hash = serializers.CharField()
    from_address = serializers.CharField()
    block_number = serializers.IntegerField()
    block_timestamp = serializers.DateTimeField()
    gas_price_gwei = serializers.FloatField()
    gas_used = serializers.IntegerField()
    gas_cost_native = serializers.FloatField()
    gas_cost_usd = serializers.FloatField()
    swap_count = serializers.IntegerField()
    strategy = serializers.CharField()
    profit_gross_usd = serializers.FloatField()
    profit_net_usd = serializers.FloatField()
    pools_involved = serializers.ListField(child=serializers.CharField())
    tokens_involved = serializers.ListField(child=serializers.CharField())
    detected_at = serializers.DateTimeField()
    contract_address = serializers.CharField(help_text="The contract the sender called (the transaction's to).")
    venues = serializers.ListField(child=serializers.CharField(), help_text="Protocol family per pools_involved.")
    outcome = serializers.ChoiceField(choices=["profit", "loss", "mixed"])
    profits = serializers.ListField(
        child=serializers.DictField(), help_text='Per token: {"token", "raw" (decimal string), "usd" (null: unpriced)}.'
    )
    builder_payment_usd = serializers.FloatField(allow_null=True, help_text="Null: not measured or unpriced.")
    price_source = serializers.CharField(help_text="parent_block, unavailable (unpriced) or block_end (old rows).")

    def to_representation(self, instance: ArbitrageTransaction) -> dict[str, Any]:
        return transaction_data(instance)


class CycleSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    start_token = serializers.CharField()
    start_amount = serializers.CharField(help_text="Raw units, decimal string.")
    end_amount = serializers.CharField(help_text="Raw units, decimal string.")
    profit_raw = serializers.CharField(help_text="Raw units, decimal string.")
    profit_usd = serializers.FloatField(allow_null=True)
    pools = serializers.ListField(child=serializers.CharField())
    tokens = serializers.ListField(child=serializers.CharField())
    venues = serializers.ListField(child=serializers.CharField())
    hops = serializers.ListField(
        child=serializers.DictField(),
        help_text='{"pool", "venue", "token_in", "amount_in", "token_out", "amount_out"}; amounts decimal strings.',
    )
    profitable = serializers.BooleanField()


class TransactionDetailSerializer(TransactionSerializer):
    block_hash = serializers.CharField()
    profit_token = serializers.CharField()
    profit_raw = serializers.CharField(allow_null=True, help_text="Raw units of profit_token, decimal string.")
    coinbase_transfer_wei = serializers.CharField(
        allow_null=True, help_text="Native builder payment from a call trace, wei, decimal string; null: not measured."
    )
    builder_payments = serializers.ListField(
        child=serializers.DictField(), help_text='{"token" ("native" or an address), "raw", "usd"}.'
    )
    cycles = CycleSerializer(many=True)

    def to_representation(self, instance: ArbitrageTransaction) -> dict[str, Any]:
        return {
            **transaction_data(instance),
            "block_hash": instance.block_hash,
            "profit_token": instance.profit_token,
            "profit_raw": None if instance.profit_raw is None else str(instance.profit_raw),
            "coinbase_transfer_wei": None
            if instance.coinbase_transfer_wei is None
            else str(instance.coinbase_transfer_wei),
            "builder_payments": list(instance.builder_payments),
            "cycles": [
                {
                    "index": c.index,
                    "start_token": c.start_token,
                    "start_amount": str(c.start_amount),
                    "end_amount": str(c.end_amount),
                    "profit_raw": str(c.profit_raw),
                    "profit_usd": None if c.profit_usd is None else float(c.profit_usd),
                    "pools": list(c.pools),
                    "tokens": list(c.tokens),
                    "venues": list(c.venues),
                    "hops": list(c.hops),
                    "profitable": c.profitable,
                }
                for c in instance.cycles.all()
            ],
        }
