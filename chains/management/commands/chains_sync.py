"""Load the chain registry into the database; optionally discover pools and load reserves."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from chains.clients import chain_client
from chains.config import registry_enabled_chains
from chains.fees import pool_fees_refresh
from chains.pools import pool_discover, pool_reserves_refresh
from chains.services import chain_registry_sync
from chains.tokens import token_metadata_refresh
from evm.rpc import RpcError


class Command(BaseCommand):
    help = (
        "Upsert every enabled chain of the registry (chains, tokens, DEXes, listed pools). "
        "With --discover, also find the factories' pools (POOL_TOKEN_ALLOWLIST), read token "
        "metadata, detect fee-on-transfer tokens, load reserves and per-pair fees (Biswap's swapFee()), all "
        "through Multicall3."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--chain", type=int, action="append", default=[], help="Only this chain id (repeatable).")
        parser.add_argument("--discover", action="store_true", help="Discover pools and load reserves from the chain.")

    def handle(self, *args: Any, **options: Any) -> None:
        configs = registry_enabled_chains()
        if options["chain"]:
            unknown = set(options["chain"]) - {c.chain_id for c in configs}
            if unknown:
                raise CommandError(f"not in the registry (or not enabled): {sorted(unknown)}")
            configs = [c for c in configs if c.chain_id in options["chain"]]
        for config in configs:
            chain_registry_sync(config=config)
            self.stdout.write(f"chain {config.chain_id} ({config.name}): registry synced")
            if options["discover"]:
                self.discover(config)

    def discover(self, config: Any) -> None:
        client = chain_client(config)
        try:
            block = client.block_number()
            pools = pool_discover(config=config, client=client, block=block)
            loaded = pool_reserves_refresh(chain_id=config.chain_id, client=client, block=block)
            fees = pool_fees_refresh(chain_id=config.chain_id, client=client, block=block)
            tokens = token_metadata_refresh(chain_id=config.chain_id, client=client)
        except RpcError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"chain {config.chain_id}: {len(pools)} pools at block {block}, {loaded} reserves loaded, "
            f"{fees} per-pair fees read, {len(tokens)} tokens updated ({client.request_count} RPC round trips)"
        )
