"""factory_boy factories for rows used across the suite."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import factory

from chains.models import Chain, Dex, Pool, Token
from opportunities.models import Opportunity
from transactions.flows import NATIVE, Cycle, Hop, TxArbitrage
from transactions.models import ArbitrageTransaction


def _address(n: int) -> str:
    return "0x" + f"{n:040x}"


class ChainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Chain
        django_get_or_create = ("chain_id",)

    chain_id = 56
    name = "BNB Smart Chain"
    native_symbol = "BNB"
    block_time = 0.45
    explorer_url = "https://bscscan.com"


class TokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Token

    chain = factory.SubFactory(ChainFactory)
    address = factory.Sequence(lambda n: _address(0x1000 + n))
    symbol = factory.Sequence(lambda n: f"TK{n}")
    decimals = 18


class DexFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dex

    chain = factory.SubFactory(ChainFactory)
    name = factory.Sequence(lambda n: f"Dex {n}")
    factory_address = factory.Sequence(lambda n: _address(0x2000 + n))
    fee_bps = 25


class PoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pool

    chain = factory.SubFactory(ChainFactory)
    dex = factory.SubFactory(DexFactory, chain=factory.SelfAttribute("..chain"))
    address = factory.Sequence(lambda n: _address(0x3000 + n))
    token0 = factory.SubFactory(TokenFactory, chain=factory.SelfAttribute("..chain"))
    token1 = factory.SubFactory(TokenFactory, chain=factory.SelfAttribute("..chain"))
    reserve0 = Decimal(10**21)
    reserve1 = Decimal(2 * 10**21)
    last_block = 68286234


class OpportunityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Opportunity

    pool = factory.SubFactory(PoolFactory)
    chain = factory.SelfAttribute("pool.chain")
    pool_name = factory.LazyAttribute(lambda o: o.pool.name)
    pool_address = factory.LazyAttribute(lambda o: o.pool.address)
    imbalance_pct = 7.82
    profit_usd = Decimal("45230.50")
    profit_native = Decimal("150.25")
    reserve0 = Decimal(10**21)
    reserve1 = Decimal(2 * 10**21)
    block_number = factory.Sequence(lambda n: 68286234 + n)
    detected_at = datetime(2025, 11, 16, 16, 54, 43, 123456, tzinfo=UTC)
    path_pools = factory.LazyAttribute(lambda o: [o.pool.address])
    start_token = factory.LazyAttribute(lambda o: o.pool.token0.address)
    amount_in = Decimal(10**18)
    amount_out = Decimal(11 * 10**17)
    profit_raw = Decimal(10**17)


class ArbitrageTransactionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ArbitrageTransaction

    chain = factory.SubFactory(ChainFactory)
    tx_hash = factory.Sequence(lambda n: "0x" + f"{n:064x}")
    from_address = _address(0xABCDEF)
    block_number = 68286235
    block_timestamp = datetime(2025, 11, 16, 16, 54, 40, tzinfo=UTC)
    gas_price_gwei = Decimal("5.0")
    gas_used = 250000
    gas_cost_native = Decimal("0.00125")
    gas_cost_usd = Decimal("0.75")
    swap_count = 3
    strategy = "3-hop"
    profit_gross_usd = Decimal("1500.00")
    profit_net_usd = Decimal("1499.25")
    pools_involved = factory.LazyFunction(lambda: [_address(1), _address(2), _address(3)])
    tokens_involved = factory.LazyFunction(lambda: [_address(11), _address(12), _address(11)])
    detected_at = datetime(2025, 11, 16, 16, 54, 43, 123456, tzinfo=UTC)


def tx_arbitrage(
    pools: Sequence[str],
    start_token: str,
    start: int,
    end: int,
    tokens: Sequence[str] | None = None,
    *,
    coinbase_wei: int | None = None,
    venue: str = "uniswap_v2",
) -> TxArbitrage:
    """One closed cycle through ``pools`` (intermediate amounts made up, the start and end exact) and the
    searcher's gain ``end - start`` in the start token; ``coinbase_wei``: a measured native builder payment."""
    given = list(tokens[:-1]) if tokens else [start_token, *(_address(900 + i) for i in range(len(pools) - 1))]
    path = [*(given[i % len(given)] for i in range(len(pools))), start_token]
    amounts = [start, *([start] * (len(pools) - 1)), end]
    hops = tuple(
        Hop(i, pool, venue, path[i], amounts[i], path[i + 1], amounts[i + 1], pools[(i + 1) % len(pools)])
        for i, pool in enumerate(pools)
    )
    return TxArbitrage(
        cycles=(Cycle(hops),),
        searchers=(),
        gains={start_token: end - start} if end != start else {},
        builder_payments={NATIVE: coinbase_wei} if coinbase_wei else {},
        native_measured=coinbase_wei is not None,
    )


def tx_arbitrages(*arbitrages: TxArbitrage) -> TxArbitrage:
    """Several single-cycle arbitrages as one transaction's (gains added per token)."""
    gains: dict[str, int] = {}
    for arb in arbitrages:
        for token, value in arb.gains.items():
            gains[token] = gains.get(token, 0) + value
    return TxArbitrage(
        cycles=tuple(c for arb in arbitrages for c in arb.cycles),
        searchers=(),
        gains={t: v for t, v in gains.items() if v},
    )
