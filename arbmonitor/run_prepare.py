"""Before a worker or beat starts under `make run`: wait for the chains, load the registry.

``python -m arbmonitor.run_prepare [--wait-only] [--timeout S]`` waits until every
registry file exists and its first RPC URL answers with the configured chain id,
then (unless --wait-only) loads the registry into the database. A devnet restarts
from genesis on every `make run`; when a stored scan cursor names a block the
chain no longer has, that chain's previous rows are cleared so the scanners start
clean instead of "reorging" across two unrelated chains. Mainnet chains are never
cleared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import django


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arbmonitor.run_prepare")
    parser.add_argument("--wait-only", action="store_true")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arbmonitor.settings")
    django.setup()
    from django.core.exceptions import ImproperlyConfigured

    from chains.clients import chain_client_new
    from chains.config import registry_enabled_chains
    from chains.models import Chain, ScanCursor
    from chains.services import chain_registry_sync, chain_reset
    from evm.rpc import RpcError

    deadline = time.monotonic() + args.timeout
    while True:
        try:
            chains = registry_enabled_chains()
            for config in chains:
                if not config.rpc_urls:
                    raise ImproperlyConfigured(
                        f"chain {config.chain_id} has no RPC URL (CHAIN_{config.chain_id}_RPC_URLS)"
                    )
                probe = chain_client_new(config, timeout=5.0, max_retries=0, verify_chain_id=False, log_failures=False)
                try:
                    answered = int(str(probe.call("eth_chainId")), 16)
                finally:
                    probe.close()
                if answered != config.chain_id:
                    print(
                        f"{config.rpc_urls[0]} is chain {answered}, the registry says {config.chain_id}",
                        file=sys.stderr,
                    )
                    return 1
            break
        except (ImproperlyConfigured, RpcError, OSError, ValueError, KeyError) as exc:
            if time.monotonic() > deadline:
                print(f"chains not ready after {args.timeout:.0f}s: {exc}", file=sys.stderr)
                return 1
            time.sleep(1.0)
    if args.wait_only:
        # Beat must not fire scans before the worker has loaded the registry.
        wanted = {config.chain_id for config in chains}
        while set(Chain.objects.filter(chain_id__in=wanted).values_list("chain_id", flat=True)) != wanted:
            if time.monotonic() > deadline:
                print("the worker did not load the chain registry in time", file=sys.stderr)
                return 1
            time.sleep(1.0)
        return 0

    for config in chains:
        client = chain_client_new(config, timeout=5.0)
        is_devnet = bool(config.extra.get("devnet")) or "devnet" in config.name.lower()
        for cursor in ScanCursor.objects.filter(chain_id=config.chain_id):
            block = client.call("eth_getBlockByNumber", [hex(cursor.block_number), False])
            if not isinstance(block, dict) or block.get("hash") != cursor.block_hash:
                if not is_devnet:
                    break  # a real chain's reorg is the scanner's business
                print(f"chain {config.chain_id}: the devnet was restarted, clearing its previous run's rows")
                chain_reset(chain_id=config.chain_id)
                break
        client.close()
        chain_registry_sync(config=config)
        print(f"chain {config.chain_id} ({config.name}): {len(config.pools)} pools, {len(config.tokens)} tokens loaded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
