"""Rows for the browser tests, written through the real write paths in a process of its own.

    python -m tests.browser.seed market            # tokens, pools, a few days of arbitrages
    python -m tests.browser.seed live <json spec>  # new rows now, broadcast after commit as the scanners do

Prints what it stored as JSON (ids, hashes) on stdout.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import django


def market() -> dict[str, object]:
    from api.windows import windows_reset
    from chains.models import Chain, Dex, Pool, Token
    from tests.api.helpers import USDT, WBNB, record_opportunity, record_tx

    bsc = Chain.objects.get(chain_id=56)
    bsc.explorer_url = "https://bscscan.com"
    bsc.save()
    usdt = Token.objects.create(chain=bsc, address=USDT, symbol="USDT", decimals=18)
    wbnb = Token.objects.create(chain=bsc, address=WBNB, symbol="WBNB", decimals=18)
    cake = Dex.objects.create(chain=bsc, name="PancakeSwap V2", factory_address="0x" + "ca" * 20, fee_bps=25)
    biswap = Dex.objects.create(chain=bsc, name="BiSwap", factory_address="0x" + "b1" * 20, fee_bps=10)
    p1 = Pool.objects.create(
        chain=bsc,
        dex=cake,
        address="0x" + "01" * 20,
        token0=usdt,
        token1=wbnb,
        reserve0=5 * 10**24 + 1,
        reserve1=8 * 10**21 + 3,
    )
    p2 = Pool.objects.create(chain=bsc, dex=biswap, address="0x" + "02" * 20, token0=usdt, token1=wbnb)
    windows_reset()
    now = datetime.now(UTC)
    bots = ["0x" + "A1" * 20, "0x" + "B2" * 20, "0x" + "C3" * 20]
    from api.addresses import checksum

    bots = [checksum(b) for b in bots]
    # Bots A1 and B2 are two keys of one searcher (one contract); C3 runs its own.
    contracts = [checksum("0x" + "C0" * 20), checksum("0x" + "C0" * 20), checksum("0x" + "CC" * 20)]
    txs = []
    for i in range(24):
        txs.append(
            record_tx(
                n=i + 1,
                sender=bots[i % 3],
                block=50_000 + i * 40,
                at=now - timedelta(hours=23 - i, minutes=10),
                pools=(p1.address, p2.address) if i % 2 else (p2.address, p1.address),
                tokens=(USDT, WBNB, USDT),
                profit=(5 + (i * 7) % 40) * 10**18,
                coinbase_wei=(i + 1) * 10**15 if i % 4 == 0 else None,
                contract=contracts[i % 3],
            )
        )
        record_opportunity(pool=p1 if i % 2 else p2, block=50_000 + i * 40 + 20, profit_usd=str(3 + i))
    return {
        "tx_ids": [t.pk for t in txs],
        "tx_hashes": [t.tx_hash for t in txs],
        "bots": bots,
        "pool": p1.address,
        "latest_block": 50_000 + 23 * 40,
    }


def live(spec: dict[str, Any]) -> dict[str, list[int]]:
    """Record rows now through the write paths, which broadcast them after commit as the scanners do."""
    from chains.models import Pool
    from opportunities.services import OpportunityDraft, opportunity_record_many
    from streaming.broadcast import broadcast_flush
    from tests.api.helpers import USDT, WBNB, record_tx

    stored: dict[str, list[int]] = {"opportunities": [], "transactions": []}
    for item in spec.get("opportunities", []):
        pool = Pool.objects.select_related("token0", "token1").get(chain_id=item["chain_id"], address=item["pool"])
        draft = OpportunityDraft(
            chain_id=pool.chain_id,
            pool_id=pool.pk,
            pool_name=pool.name,
            pool_address=pool.address,
            block_number=item["block"],
            block_hash="0x" + "ab" * 32,
            imbalance_pct=2.5,
            profit_usd=Decimal(str(item["profit_usd"])),
            profit_native=Decimal("0.1"),
            reserve0=int(item["reserve0"]),
            reserve1=int(item["reserve1"]),
            start_token=USDT,
            amount_in=10**18,
            amount_out=10**18 + 1,
            profit_raw=1,
            gas_estimate=200_000,
            gas_cost_usd=Decimal("0.1"),
            path_pools=(pool.address,),
            path_tokens=(USDT, WBNB, USDT),
        )
        (row,) = opportunity_record_many(drafts=[draft], broadcast=True)
        stored["opportunities"].append(row.pk)
    for item in spec.get("transactions", []):
        tx = record_tx(
            n=int(item["n"]), block=int(item["block"]), at=datetime.now(UTC), profit=int(item["profit"]), broadcast=True
        )
        stored["transactions"].append(tx.pk)
    assert broadcast_flush(20), "publisher did not flush"
    return stored


if __name__ == "__main__":
    django.setup()
    command = sys.argv[1]
    result = market() if command == "market" else live(json.loads(sys.argv[2]))
    print(json.dumps(result))
