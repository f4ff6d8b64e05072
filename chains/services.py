"""Writes for the chains app: the registry into rows, cursors."""

from __future__ import annotations

from django.db import transaction

from chains.config import ChainConfig
from chains.models import Chain, Dex, Pool, Token


@transaction.atomic
def chain_reset(*, chain_id: int) -> None:
    """Delete a chain and everything stored for it (a devnet restarted from genesis).

    Pools go first: they PROTECT their tokens (a token must not vanish under a
    live pool), so deleting the chain alone would stop at that guard.
    """
    Pool.objects.filter(chain_id=chain_id).delete()
    Chain.objects.filter(chain_id=chain_id).delete()


@transaction.atomic
def chain_registry_sync(*, config: ChainConfig, enabled: bool = True) -> Chain:
    """Upsert a registry entry's chain, tokens, DEXes and pools; idempotent.

    Reserves and cursors are left alone: they belong to the scanners.
    """
    chain, _ = Chain.objects.update_or_create(
        chain_id=config.chain_id,
        defaults={
            "name": config.name,
            "native_symbol": config.native_symbol,
            "block_time": config.block_time,
            "explorer_url": config.explorer_url,
            "enabled": enabled,
        },
    )
    tokens: dict[str, Token] = {}
    for token in config.tokens:
        tokens[token.address], _ = Token.objects.update_or_create(
            chain=chain,
            address=token.address,
            defaults={"symbol": token.symbol, "decimals": token.decimals, "fee_on_transfer": token.fee_on_transfer},
        )
    dexes: dict[str, Dex] = {}
    for dex in config.dexes:
        dexes[dex.name], _ = Dex.objects.update_or_create(
            chain=chain,
            factory_address=dex.factory,
            defaults={"name": dex.name, "fee_bps": dex.fee_bps, "fee_per_pair": dex.fee_per_pair},
        )
    for cl_dex in config.cl_dexes:  # concentrated liquidity: the fee is each pool's (ConcentratedPoolState)
        dexes[cl_dex.name], _ = Dex.objects.update_or_create(
            chain=chain,
            factory_address=cl_dex.factory,
            defaults={"name": cl_dex.name, "fee_bps": 0, "family": cl_dex.family},
        )
    # Pools: insert the missing ones, update only those whose DEX or tokens changed. A scanner may be
    # writing reserves to these rows right now; touching an unchanged row would take its lock for nothing
    # and, in another order than the scanner's, deadlock with it (issue 11 #7).
    stored = {
        address: (dex_id, token0_id, token1_id)
        for address, dex_id, token0_id, token1_id in Pool.objects.filter(
            chain=chain, address__in=[p.address for p in config.pools]
        ).values_list("address", "dex_id", "token0_id", "token1_id")
    }
    for pool in config.pools:
        token0 = tokens.get(pool.token0) or Token.objects.get_or_create(chain=chain, address=pool.token0)[0]
        token1 = tokens.get(pool.token1) or Token.objects.get_or_create(chain=chain, address=pool.token1)[0]
        pool_dex = dexes.get(pool.dex)
        wanted = (pool_dex.pk if pool_dex else None, token0.pk, token1.pk)
        if pool.address not in stored:
            Pool.objects.get_or_create(
                chain=chain, address=pool.address, defaults={"dex": pool_dex, "token0": token0, "token1": token1}
            )
        elif stored[pool.address] != wanted:
            Pool.objects.filter(chain=chain, address=pool.address).update(dex=pool_dex, token0=token0, token1=token1)
    return chain
