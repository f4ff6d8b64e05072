"""Rows written through the real write paths (so the aggregate receivers run as in production)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from api.addresses import checksum
from chains.models import Pool
from opportunities.models import Opportunity
from opportunities.services import OpportunityDraft, opportunity_record_many
from tests.factories import tx_arbitrage
from transactions.models import ArbitrageTransaction
from transactions.services import BlockPrices, TxFacts, transaction_record

WBNB = checksum("0x" + "bb" * 20)  # stored as the scanners store them: EIP-55
USDT = checksum("0x" + "55" * 20)
PRICES = BlockPrices(
    native_usd=Decimal("600"), token_usd={WBNB: Decimal("600"), USDT: Decimal("1")}, decimals={WBNB: 18, USDT: 18}
)
T0 = datetime(2026, 11, 30, 10, 15, tzinfo=UTC)


def record_tx(
    *,
    n: int,
    sender: str = checksum("0x" + "ab" * 20),
    block: int = 1000,
    at: datetime = T0,
    pools: tuple[str, ...] = ("0x" + "01" * 20, "0x" + "02" * 20),
    tokens: tuple[str, ...] | None = None,
    start_token: str = USDT,
    profit: int = 10**19,  # $10 in USDT
    coinbase_wei: int | None = None,
    contract: str = "",
    chain_id: int = 56,
    broadcast: bool = False,
) -> ArbitrageTransaction:
    arb = tx_arbitrage(
        pools,
        start_token,
        10**21,
        10**21 + profit,
        tokens or (start_token, WBNB, start_token),
        coinbase_wei=coinbase_wei,
    )
    facts = TxFacts(
        tx_hash="0x" + f"{n:064x}",
        from_address=sender,
        block_number=block,
        block_hash="0x" + "ee" * 32,
        block_timestamp=at,
        gas_used=200_000,
        effective_gas_price=5 * 10**9,  # 0.001 BNB = $0.60
        contract_address=contract,
    )
    tx, created = transaction_record(chain_id=chain_id, facts=facts, arbitrage=arb, prices=PRICES, broadcast=broadcast)
    assert created
    return tx


def record_opportunity(*, pool: Pool, block: int, profit_usd: str = "25.5", broadcast: bool = False) -> Opportunity:
    draft = OpportunityDraft(
        chain_id=pool.chain_id,
        pool_id=pool.pk,
        pool_name=pool.name,
        pool_address=pool.address,
        block_number=block,
        block_hash="0x" + "aa" * 32,
        imbalance_pct=1.5,
        profit_usd=Decimal(profit_usd),
        profit_native=Decimal("0.04"),
        reserve0=2**80 + 1,
        reserve1=3 * 10**24 + 7,
        start_token=pool.token0.address,
        amount_in=10**18,
        amount_out=10**18 + 10**16,
        profit_raw=10**16,
        gas_estimate=250_000,
        gas_cost_usd=Decimal("0.5"),
        path_pools=(pool.address,),
        path_tokens=(pool.token0.address, pool.token1.address, pool.token0.address),
    )
    (row,) = opportunity_record_many(drafts=[draft], broadcast=broadcast)
    return row
