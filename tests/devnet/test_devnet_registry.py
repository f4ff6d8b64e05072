"""The mainnet registry files use the same schema as the devnet manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils import is_checksum_address

REGISTRY = Path(__file__).resolve().parents[2] / "chains" / "registry"
KEYS = {
    "chain_id", "name", "native_symbol", "block_time", "explorer_url", "rpc_urls", "ws_urls", "log_source",
    "multicall3", "wrapped_native", "stable_tokens", "base_tokens", "tokens", "dexes", "notes",
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "chain_id", "log_source"), [("bsc", 56, "eth_getBlockReceipts"), ("polygon", 137, "eth_getLogs")]
)
def test_registry_file(name: str, chain_id: int, log_source: str) -> None:
    data = json.loads((REGISTRY / f"{name}.json").read_text())
    assert set(data) >= KEYS
    assert data["chain_id"] == chain_id and data["log_source"] == log_source
    assert data["rpc_urls"] == [] and data["ws_urls"] == []
    tokens = {t["address"]: t for t in data["tokens"]}
    assert data["wrapped_native"] in tokens
    assert set(data["stable_tokens"]) <= set(tokens) and set(data["base_tokens"]) <= set(tokens)
    addresses = [data["multicall3"], *tokens, *(d[k] for d in data["dexes"] for k in ("factory", "router"))]
    assert all(is_checksum_address(a) for a in addresses)
    stable_decimals = {tokens[a]["decimals"] for a in data["stable_tokens"]}
    assert stable_decimals == ({18} if chain_id == 56 else {6})
