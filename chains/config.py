"""The chain registry: which chains to watch, their RPCs, DEXes and tokens.

A chain is added by configuration alone: a JSON file in the schema below (the
devnet writes one per chain; ``chains/registry/*.json`` hold BSC and Polygon
mainnet), listed in ``CHAIN_REGISTRY_FILES``. RPC endpoints usually come from the
environment so that secrets stay out of files::

    CHAIN_56_RPC_URLS=https://a.example,https://b.example   # failover order
    CHAIN_56_WS_URLS=wss://a.example
    CHAIN_56_LOG_SOURCE=eth_getBlockReceipts                 # or eth_getLogs

Schema (keys not listed are ignored)::

    {"chain_id": 56, "name": "...", "native_symbol": "BNB", "block_time": 0.45,
     "explorer_url": "https://bscscan.com", "rpc_urls": [...], "ws_urls": [...],
     "log_source": "eth_getLogs", "multicall3": "0x...", "wrapped_native": "0x...",
     "stable_tokens": ["0x..."], "base_tokens": ["0x..."],
     "tokens": [{"address", "symbol", "decimals", "fee_on_transfer" (optional)}],
     "dexes": [{"name", "factory", "fee_bps", "fee_per_pair" (optional)}],
     "pools": [{"address", "dex", "token0", "token1"}],
     "cl_dexes": [{"name", "family", "factory", "pool_deployer" (optional), "init_code_hash" (optional),
                   "fee_tiers": {"<fee in millionths>": <tick spacing>} (optional)}],
     "cl_pools": [{"address", "dex", "token0", "token1"}],
     "min_gas_price_wei": 0, "min_priority_fee_wei": 0}

``fee_per_pair`` (Biswap): each pair charges its own fee, read from the pair's
``swapFee()`` (Biswap's unit, tenths of a percent); ``fee_bps`` is then the
DEX's default, used only for display. ``min_gas_price_wei`` (BSC) and
``min_priority_fee_wei`` (Polygon) are the floors the chain's validators
enforce: opportunities are never priced below them (``opportunities.gas``).

``cl_dexes`` are the concentrated-liquidity DEXes (families in ``dexes.families``:
``uniswap_v3``, ``pancakeswap_v3``, ``algebra`` (V1.9), ``algebra_v1``). Their pools are
found from the factory's ``PoolCreated`` / ``Pool`` logs (``chains.v3pools``); the devnet
manifest's ``cl_dexes`` entries have this shape.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from eth_utils import is_address, to_checksum_address

from arbmonitor.env import env_str, env_url_list
from dexes.families import CL_FAMILIES

LOG_SOURCES = ("eth_getLogs", "eth_getBlockReceipts")
MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"


@dataclass(frozen=True, slots=True)
class TokenConfig:
    address: str
    symbol: str
    decimals: int
    fee_on_transfer: bool = False


@dataclass(frozen=True, slots=True)
class DexConfig:
    name: str
    factory: str
    fee_bps: int
    router: str | None = None
    fee_per_pair: bool = False  # Biswap: read each pair's swapFee(); fee_bps is the default


@dataclass(frozen=True, slots=True)
class ClDexConfig:
    """A concentrated-liquidity DEX: its family, factory, and (for CREATE2 checks) deployer and init code hash."""

    name: str
    family: str
    factory: str
    pool_deployer: str | None = None
    init_code_hash: str | None = None
    fee_tiers: Mapping[int, int] = field(default_factory=dict)  # fee (millionths) -> tick spacing


@dataclass(frozen=True, slots=True)
class PoolConfig:
    address: str
    dex: str
    token0: str
    token1: str


@dataclass(frozen=True, slots=True)
class ChainConfig:
    chain_id: int
    name: str
    native_symbol: str
    block_time: float
    rpc_urls: tuple[str, ...]
    ws_urls: tuple[str, ...] = ()
    explorer_url: str = ""
    log_source: str = "eth_getLogs"
    multicall3: str = MULTICALL3_ADDRESS
    wrapped_native: str | None = None
    stable_tokens: tuple[str, ...] = ()
    base_tokens: tuple[str, ...] = ()
    tokens: tuple[TokenConfig, ...] = ()
    dexes: tuple[DexConfig, ...] = ()
    pools: tuple[PoolConfig, ...] = ()
    min_gas_price_wei: int = 0  # the validators' minimum gas price (BSC)
    min_priority_fee_wei: int = 0  # the validators' minimum tip (Polygon)
    cl_dexes: tuple[ClDexConfig, ...] = ()
    cl_pools: tuple[PoolConfig, ...] = ()  # concentrated-liquidity pools known up front (the devnet's)
    source: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def dex_by_factory(self, factory: str) -> DexConfig | None:
        factory = factory.lower()
        return next((d for d in self.dexes if d.factory.lower() == factory), None)

    def cl_dex_by_factory(self, factory: str) -> ClDexConfig | None:
        factory = factory.lower()
        return next((d for d in self.cl_dexes if d.factory.lower() == factory), None)


def _address(value: Any, where: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise ImproperlyConfigured(f"{where}: {value!r} is not an address")
    return to_checksum_address(value)


def _require(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ImproperlyConfigured(f"{where}: missing {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ImproperlyConfigured(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _flag(data: Mapping[str, Any], key: str, where: str) -> bool:
    """An optional boolean; anything but true/false (a string "false", a number) is a mistake, not a default."""
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ImproperlyConfigured(f"{where}: {key!r} must be true or false, got {value!r}")
    return value


def _wei(data: Mapping[str, Any], key: str, where: str) -> int:
    """An optional non-negative wei amount (a JSON integer, or a decimal string for big values)."""
    value = data.get(key, 0)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(f"{where}: {key!r} must be a non-negative integer (wei), got {value!r}")
    return value


def chain_config_parse(
    data: Mapping[str, Any], *, source: str = "<memory>", environ: Mapping[str, str] | None = None
) -> ChainConfig:
    """Validate one registry entry and apply the CHAIN_<id>_* environment overrides."""
    where = source
    chain_id = _require(data, "chain_id", int, where)
    if chain_id <= 0:
        raise ImproperlyConfigured(f"{where}: chain_id must be positive")
    where = f"{source} (chain {chain_id})"
    prefix = f"CHAIN_{chain_id}_"
    rpc_urls = env_url_list(
        prefix + "RPC_URLS", list(data.get("rpc_urls") or []), schemes=("http", "https", "ws", "wss"), environ=environ
    )
    ws_urls = env_url_list(prefix + "WS_URLS", list(data.get("ws_urls") or []), schemes=("ws", "wss"), environ=environ)
    log_source = env_str(prefix + "LOG_SOURCE", str(data.get("log_source") or "eth_getLogs"), environ=environ)
    if log_source not in LOG_SOURCES:
        raise ImproperlyConfigured(f"{prefix}LOG_SOURCE / log_source must be one of {LOG_SOURCES}, got {log_source!r}")
    block_time = _require(data, "block_time", (int, float), where)
    if block_time <= 0:
        raise ImproperlyConfigured(f"{where}: block_time must be positive")
    tokens = tuple(
        TokenConfig(
            address=_address(t.get("address"), f"{where} token"),
            symbol=str(t.get("symbol", "")),
            decimals=int(_require(t, "decimals", int, f"{where} token {t.get('symbol')}")),
            fee_on_transfer=bool(t.get("fee_on_transfer", False)),
        )
        for t in data.get("tokens") or []
    )
    dexes = tuple(
        DexConfig(
            name=str(_require(d, "name", str, f"{where} dex")),
            factory=_address(d.get("factory"), f"{where} dex {d.get('name')} factory"),
            fee_bps=int(_require(d, "fee_bps", int, f"{where} dex {d.get('name')}")),
            router=_address(d["router"], f"{where} dex router") if d.get("router") else None,
            fee_per_pair=_flag(d, "fee_per_pair", f"{where} dex {d.get('name')}"),
        )
        for d in data.get("dexes") or []
    )
    for dex in dexes:
        if not 0 <= dex.fee_bps < 10_000:
            raise ImproperlyConfigured(f"{where}: dex {dex.name} fee_bps must be in [0, 10000)")
    pools = tuple(
        PoolConfig(
            address=_address(p.get("address"), f"{where} pool"),
            dex=str(p.get("dex", "")),
            token0=_address(p.get("token0"), f"{where} pool token0"),
            token1=_address(p.get("token1"), f"{where} pool token1"),
        )
        for p in data.get("pools") or []
    )
    min_gas_price = _wei(data, "min_gas_price_wei", where)
    min_priority_fee = _wei(data, "min_priority_fee_wei", where)
    cl_dexes = tuple(_cl_dex_parse(d, where) for d in data.get("cl_dexes") or [])
    cl_pools = tuple(
        PoolConfig(
            address=_address(p.get("address"), f"{where} cl_pool"),
            dex=str(p.get("dex", "")),
            token0=_address(p.get("token0"), f"{where} cl_pool token0"),
            token1=_address(p.get("token1"), f"{where} cl_pool token1"),
        )
        for p in data.get("cl_pools") or []
    )
    names = [d.name for d in dexes] + [d.name for d in cl_dexes]
    if len(set(names)) != len(names):
        raise ImproperlyConfigured(f"{where}: DEX names must be unique across dexes and cl_dexes: {names}")
    known = {"chain_id", "name", "native_symbol", "block_time", "explorer_url", "rpc_urls", "ws_urls", "log_source"}
    known |= {
        "multicall3",
        "wrapped_native",
        "stable_tokens",
        "base_tokens",
        "tokens",
        "dexes",
        "pools",
        "cl_dexes",
        "cl_pools",
    }
    known |= {"min_gas_price_wei", "min_priority_fee_wei"}
    return ChainConfig(
        chain_id=chain_id,
        name=str(data.get("name") or f"chain {chain_id}"),
        native_symbol=str(data.get("native_symbol") or "ETH"),
        block_time=float(block_time),
        rpc_urls=tuple(rpc_urls),
        ws_urls=tuple(ws_urls),
        explorer_url=str(data.get("explorer_url") or ""),
        log_source=log_source,
        multicall3=_address(data.get("multicall3") or MULTICALL3_ADDRESS, f"{where} multicall3"),
        wrapped_native=_address(data["wrapped_native"], f"{where} wrapped_native")
        if data.get("wrapped_native")
        else None,
        stable_tokens=tuple(_address(a, f"{where} stable_tokens") for a in data.get("stable_tokens") or []),
        base_tokens=tuple(_address(a, f"{where} base_tokens") for a in data.get("base_tokens") or []),
        tokens=tokens,
        dexes=dexes,
        pools=pools,
        min_gas_price_wei=min_gas_price,
        min_priority_fee_wei=min_priority_fee,
        cl_dexes=cl_dexes,
        cl_pools=cl_pools,
        source=source,
        extra={k: v for k, v in data.items() if k not in known},
    )


def _cl_dex_parse(d: Any, where: str) -> ClDexConfig:
    if not isinstance(d, Mapping):
        raise ImproperlyConfigured(f"{where}: each cl_dexes entry must be an object")
    name = str(_require(d, "name", str, f"{where} cl_dex"))
    family = str(_require(d, "family", str, f"{where} cl_dex {name}"))
    if family not in CL_FAMILIES:
        raise ImproperlyConfigured(f"{where}: cl_dex {name}: family {family!r} is not one of {sorted(CL_FAMILIES)}")
    init_code_hash = d.get("init_code_hash")
    if init_code_hash is not None and not (
        isinstance(init_code_hash, str) and init_code_hash.startswith("0x") and len(init_code_hash) == 66
    ):
        raise ImproperlyConfigured(f"{where}: cl_dex {name}: init_code_hash must be 0x + 64 hex digits")
    tiers = d.get("fee_tiers") or d.get("tick_spacing") or {}
    try:
        fee_tiers = {int(fee): int(spacing) for fee, spacing in dict(tiers).items()}
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{where}: cl_dex {name}: fee_tiers must map fees to tick spacings") from None
    return ClDexConfig(
        name=name,
        family=family,
        factory=_address(d.get("factory"), f"{where} cl_dex {name} factory"),
        pool_deployer=_address(d["pool_deployer"], f"{where} cl_dex {name} pool_deployer")
        if d.get("pool_deployer")
        else None,
        init_code_hash=init_code_hash,
        fee_tiers=fee_tiers,
    )


def registry_load(
    paths: Sequence[str | Path] | None = None, *, environ: Mapping[str, str] | None = None
) -> dict[int, ChainConfig]:
    """Load every registry file; later files override earlier ones for the same chain id."""
    paths = list(settings.CHAIN_REGISTRY_FILES if paths is None else paths)
    chains: dict[int, ChainConfig] = {}
    for path in paths:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ImproperlyConfigured(
                f"chain registry file {path} does not exist (CHAIN_REGISTRY_FILES; start the devnet with `make devnet`)"
            ) from None
        except json.JSONDecodeError as exc:
            raise ImproperlyConfigured(f"chain registry file {path} is not valid JSON: {exc}") from None
        entries = data if isinstance(data, list) else [data]
        for entry in entries:
            if not isinstance(entry, dict):
                raise ImproperlyConfigured(f"chain registry file {path}: each entry must be an object")
            config = chain_config_parse(entry, source=str(path), environ=environ)
            chains[config.chain_id] = config
    return chains


def registry_enabled_chains(environ: Mapping[str, str] | None = None) -> list[ChainConfig]:
    """The chains to scan: ENABLED_CHAINS if set, else every chain in the registry."""
    chains = registry_load(environ=environ if environ is not None else os.environ)
    enabled = list(settings.ENABLED_CHAINS)
    missing = [c for c in enabled if c not in chains]
    if missing:
        raise ImproperlyConfigured(f"ENABLED_CHAINS names chains with no registry entry: {missing}")
    return [chains[c] for c in enabled] if enabled else list(chains.values())
