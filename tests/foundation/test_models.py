"""Constraints that keep detections unique and amounts exact."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from chains.models import Pool, Token
from opportunities.models import Opportunity
from tests.factories import ArbitrageTransactionFactory, ChainFactory, OpportunityFactory, PoolFactory, TokenFactory
from transactions.models import ArbitrageTransaction

pytestmark = pytest.mark.django_db


def test_duplicate_tx_hash_on_one_chain_is_rejected() -> None:
    first = ArbitrageTransactionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        ArbitrageTransactionFactory(chain=first.chain, tx_hash=first.tx_hash)
    assert ArbitrageTransaction.objects.count() == 1


def test_same_tx_hash_on_another_chain_is_allowed() -> None:
    first = ArbitrageTransactionFactory()
    polygon = ChainFactory(chain_id=137, name="Polygon PoS", native_symbol="POL")
    ArbitrageTransactionFactory(chain=polygon, tx_hash=first.tx_hash)
    assert ArbitrageTransaction.objects.filter(tx_hash=first.tx_hash).count() == 2


def test_one_opportunity_per_pool_and_block() -> None:
    opportunity = OpportunityFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        OpportunityFactory(pool=opportunity.pool, block_number=opportunity.block_number)
    OpportunityFactory(pool=opportunity.pool, block_number=opportunity.block_number + 1)
    assert Opportunity.objects.count() == 2


def test_token_and_pool_addresses_are_unique_per_chain() -> None:
    token = TokenFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        TokenFactory(chain=token.chain, address=token.address)
    pool = PoolFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        PoolFactory(chain=pool.chain, address=pool.address)
    assert Token.objects.filter(address=token.address).count() == 1
    assert Pool.objects.filter(address=pool.address).count() == 1


def test_raw_amounts_round_trip_exactly_at_uint256_scale() -> None:
    max_uint112 = 2**112 - 1
    pool = PoolFactory(reserve0=Decimal(max_uint112), reserve1=Decimal(1))
    pool.refresh_from_db()
    assert int(pool.reserve0) == max_uint112
    tx = ArbitrageTransactionFactory(profit_raw=Decimal(-(2**255)))
    tx.refresh_from_db()
    assert int(tx.profit_raw) == -(2**255)


def test_pool_name_is_token0_dash_token1() -> None:
    pool = PoolFactory(token0__symbol="WBNB", token1__symbol="BUSD")
    assert pool.name == "WBNB-BUSD"


def test_chain_reset_deletes_a_chain_whose_pools_protect_their_tokens() -> None:
    """The devnet reset of a second `make run`: pools PROTECT tokens, the reset still clears all."""
    from chains.models import Chain
    from chains.services import chain_reset

    opportunity = OpportunityFactory()
    chain_id = opportunity.chain_id
    other = PoolFactory(chain=ChainFactory(chain_id=137, name="Polygon PoS", native_symbol="POL"))
    with pytest.raises(ProtectedError), transaction.atomic():  # what the launcher did before
        Chain.objects.filter(chain_id=chain_id).delete()
    chain_reset(chain_id=chain_id)
    assert not Chain.objects.filter(chain_id=chain_id).exists()
    assert not Token.objects.filter(chain_id=chain_id).exists()
    assert not Opportunity.objects.exists()
    assert Pool.objects.filter(pk=other.pk).exists()  # other chains untouched


def test_registry_sync_leaves_unchanged_pool_rows_alone() -> None:
    """Issue 11 #7: a scanner's first run syncs the registry while another writes reserves; updating every
    pool row (as update_or_create does) took their locks in another order and could deadlock. Now a sync of
    an unchanged registry writes no pool row, and a changed pool gets exactly one UPDATE."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chains.config import chain_config_parse
    from chains.services import chain_registry_sync

    tokens = [{"address": "0x" + f"{i:040x}", "symbol": f"T{i}", "decimals": 18} for i in (1, 2, 3)]
    entry = {
        "chain_id": 56, "name": "BNB Smart Chain", "native_symbol": "BNB", "block_time": 3.0,
        "rpc_urls": ["http://127.0.0.1:1"], "tokens": tokens,
        "dexes": [{"name": "A", "factory": "0x" + "aa" * 20, "fee_bps": 25}],
        "pools": [
            {"address": "0x" + f"{i:040x}", "dex": "A", "token0": tokens[0]["address"], "token1": t["address"]}
            for i, t in ((100, tokens[1]), (101, tokens[2]))
        ],
    }  # fmt: skip
    chain_registry_sync(config=chain_config_parse(entry, environ={}))
    Pool.objects.update(reserve0=7, reserve1=9, last_block=5)  # what a scanner wrote meanwhile
    with CaptureQueriesContext(connection) as queries:
        chain_registry_sync(config=chain_config_parse(entry, environ={}))
    pool_writes = [q["sql"] for q in queries if "chains_pool" in q["sql"] and not q["sql"].startswith("SELECT")]
    assert pool_writes == []
    assert set(Pool.objects.values_list("reserve0", "reserve1", "last_block")) == {(7, 9, 5)}

    entry["pools"][1]["token1"] = tokens[1]["address"]  # the registry changed one pool
    with CaptureQueriesContext(connection) as queries:
        chain_registry_sync(config=chain_config_parse(entry, environ={}))
    pool_writes = [q["sql"] for q in queries if "chains_pool" in q["sql"] and not q["sql"].startswith("SELECT")]
    assert len(pool_writes) == 1 and pool_writes[0].startswith("UPDATE")
    assert Pool.objects.get(address="0x" + f"{101:040x}").token1.address == tokens[1]["address"]
