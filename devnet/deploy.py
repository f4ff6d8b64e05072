"""Deploy a devnet market (markets.py) onto an anvil node and write its manifest.

The manifest uses ArbMonitor's chain-registry schema (see docs/devnet.md), so
the application reads a devnet exactly as it reads chains/registry/*.json.
Deployment is deterministic: fixed mnemonic, fixed nonce order, therefore the
same addresses on every run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from devnet import MULTICALL3_ADDRESS, REPO_ROOT
from devnet.markets import ODD_KINDS, Market, TokenSpec, market_for, pool_amounts, usd_to_raw
from devnet.rpc import Chain, abi, create_address

MAX_UINT = 2**256 - 1
DEADLINE = 2**40
TRADER_FUNDING_USD = 5_000_000  # per tradable token, per trader account
EXECUTOR_FUNDING_USD = 2_000_000  # per base token, per bot executor
FOT_FEE_BPS = 100
RECEIPT_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Roles:
    """Which dev account does what (indices into anvil's account list)."""

    deployer: str
    bots: list[str]
    traders: list[str]
    lp_provider: str
    transferer: str
    sandwicher: str
    builder: str

    @classmethod
    def from_accounts(cls, accounts: list[str]) -> Roles:
        if len(accounts) < 16:
            raise ValueError(f"the devnet needs 16 unlocked accounts, node has {len(accounts)}")
        return cls(
            deployer=accounts[0],
            bots=accounts[1:5],
            traders=accounts[5:11],
            lp_provider=accounts[11],
            transferer=accounts[12],
            sandwicher=accounts[13],
            builder=accounts[15],
        )

    @property
    def funded_traders(self) -> list[str]:
        return [*self.traders, self.lp_provider, self.transferer, self.sandwicher]


def default_manifest_path(chain_id: int) -> Path:
    return REPO_ROOT / "var" / "devnet" / f"chain-{chain_id}.json"


def pair_address(factory: str, token_a: str, token_b: str) -> str:
    """CREATE2 address of the V2Pair the factory creates for (a, b)."""
    t0, t1 = sorted([token_a, token_b], key=lambda a: int(a, 16))
    salt = keccak(bytes.fromhex(t0[2:]) + bytes.fromhex(t1[2:]))
    code_hash = keccak(bytes.fromhex(abi("V2Pair").bytecode[2:]))
    raw = keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + code_hash)[12:]
    return to_checksum_address(raw)


class Deployer:
    """Collects transactions in dependency order, then sends them in batches."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.txs: list[dict[str, Any]] = []

    def create(self, sender: str, contract: str, types: list[str] | None = None, args: list[Any] | None = None) -> str:
        address = create_address(sender, self.chain.nonce(sender))
        data = abi(contract).deploy_data(types, args)
        self.txs.append(self.chain.tx(sender, None, data, gas=12_000_000))
        return address

    def call(self, sender: str, to: str, data: str, value: int = 0, gas: int = 300_000) -> None:
        self.txs.append(self.chain.tx(sender, to, data, value=value, gas=gas))

    def flush(self) -> list[dict[str, Any]]:
        hashes: list[str] = []
        for i in range(0, len(self.txs), 200):
            hashes += self.chain.send_many(self.txs[i : i + 200])
        receipts: list[dict[str, Any] | None] = []
        # Wait on a deadline, not a number of polls: on a loaded 2-core machine
        # anvil can take seconds to mine a large batch.
        deadline = time.monotonic() + RECEIPT_TIMEOUT_SECONDS
        attempt = 0
        while True:
            receipts = self.chain.receipts(hashes)
            if all(r is not None for r in receipts) or time.monotonic() > deadline:
                break
            # anvil's automine can leave a tx pending when its nonce gap was
            # filled by a later arrival; an explicit block picks it up.
            if attempt:
                self.chain.rpc("evm_mine")
            attempt += 1
            time.sleep(min(0.02 * attempt, 0.5))
        for h, r in zip(hashes, receipts, strict=True):
            if r is None or int(r["status"], 16) != 1:
                raise RuntimeError(f"deployment transaction {h} failed: {r}")
        self.txs = []
        return [r for r in receipts if r is not None]


def _deploy_token(d: Deployer, deployer: str, t: TokenSpec) -> str:
    if t.kind == "wrapped_native":
        return d.create(deployer, "WrappedNative", ["string", "string"], [t.name, t.symbol])
    if t.kind == "fee_on_transfer":
        return d.create(
            deployer, "FeeOnTransferToken", ["string", "string", "uint8", "uint256"],
            [t.name, t.symbol, t.decimals, FOT_FEE_BPS],
        )  # fmt: skip
    if t.kind == "bytes32_symbol":
        return d.create(deployer, "Bytes32SymbolToken", ["bytes32", "uint8"], [t.symbol.encode().ljust(32, b"\0"), 18])
    if t.kind == "decimals_reverts":
        return d.create(deployer, "NoDecimalsToken", ["string", "string"], [t.name, t.symbol])
    return d.create(deployer, "DevToken", ["string", "string", "uint8"], [t.name, t.symbol, t.decimals])


def _fund(d: Deployer, deployer: str, t: TokenSpec, addr: str, to: str, amount: int) -> None:
    """Give `to` `amount` of token: mint, or wrap native and transfer."""
    if t.kind == "wrapped_native":
        d.call(deployer, addr, abi("WrappedNative").deposit.encode(), value=amount, gas=100_000)
        if to != deployer:
            d.call(deployer, addr, abi("WrappedNative").transfer.encode(to, amount), gas=100_000)
    else:
        d.call(deployer, addr, abi("DevToken").mint.encode(to, amount), gas=100_000)


def set_mining(chain: Chain, block_time: float | None) -> None:
    """block_time None: automine off (fast mode, blocks via evm_mine);
    otherwise interval mining every block_time seconds."""
    if block_time is None:
        chain.rpc("evm_setAutomine", [False])
        chain.rpc("evm_setIntervalMining", [0])
    else:
        chain.rpc("evm_setAutomine", [False])
        chain.rpc("evm_setIntervalMining", [block_time if not float(block_time).is_integer() else int(block_time)])


def deploy(
    rpc_url: str,
    *,
    manifest_path: Path | str | None = None,
    market: Market | None = None,
    rpc_urls: list[str] | None = None,
    ws_urls: list[str] | None = None,
    block_time: float | None = None,
) -> dict[str, Any]:
    """Deploy every contract of the chain's market, add liquidity, fund the
    simulator's accounts, write and return the manifest.

    Mining is switched to automine for the deployment; the caller sets the
    final mode with set_mining(). block_time only goes into the manifest.
    """
    chain = Chain(rpc_url)
    chain_id = chain.chain_id
    market = market or market_for(chain_id)
    if market.chain_id != chain_id:
        raise ValueError(f"market is for chain {market.chain_id}, node is chain {chain_id}")
    chain.default_gas_price = market.gas_price_wei
    roles = Roles.from_accounts(chain.accounts())
    chain.rpc("evm_setAutomine", [True])
    chain.rpc("anvil_setCode", [MULTICALL3_ADDRESS, abi("Multicall3").deployed_bytecode])
    chain.rpc("anvil_setCoinbase", [roles.builder])
    start_block = chain.block_number() + 1

    d = Deployer(chain)
    me = roles.deployer
    tokens = {t.symbol: _deploy_token(d, me, t) for t in market.tokens}
    factories = {x.name: d.create(me, "V2Factory", ["uint16"], [x.fee_bps]) for x in market.dexes}
    routers = {x.name: d.create(me, "V2Router", ["address"], [factories[x.name]]) for x in market.dexes}
    executors = [d.create(me, "ArbExecutor", ["address"], [bot]) for bot in roles.bots]

    # Liquidity: the deployer mints / wraps exactly what the pools need.
    need: dict[str, int] = {}
    for p in market.pools:
        amount_a, amount_b = pool_amounts(market, p)
        need[p.a] = need.get(p.a, 0) + amount_a
        need[p.b] = need.get(p.b, 0) + amount_b
    for sym, amount in need.items():
        _fund(d, me, market.token(sym), tokens[sym], me, amount)
    for sym in need:
        for router in routers.values():
            d.call(me, tokens[sym], abi("DevToken").approve.encode(router, MAX_UINT), gas=100_000)
    pools: list[dict[str, Any]] = []
    for p in market.pools:
        amount_a, amount_b = pool_amounts(market, p)
        router = routers[p.dex]
        data = abi("V2Router").addLiquidity.encode(tokens[p.a], tokens[p.b], amount_a, amount_b, 0, 0, me, DEADLINE)
        d.call(me, router, data, gas=6_000_000)
        t0, t1 = sorted([tokens[p.a], tokens[p.b]], key=lambda a: int(a, 16))
        odd = any(market.token(s).kind in ODD_KINDS for s in (p.a, p.b))
        pool = {
            "address": pair_address(factories[p.dex], t0, t1),
            "dex": p.dex,
            "token0": t0,
            "token1": t1,
            "fee_bps": market.dex(p.dex).fee_bps,
        }
        if odd:
            pool["odd"] = True
        pools.append(pool)

    # Simulator accounts: traders hold every plain token and approve every router.
    tradable = [t for t in market.tokens if t.kind not in ODD_KINDS]
    for trader in roles.funded_traders:
        for t in tradable:
            amount = usd_to_raw(TRADER_FUNDING_USD, t)
            if t.kind == "wrapped_native":
                d.call(trader, tokens[t.symbol], abi("WrappedNative").deposit.encode(), value=amount, gas=100_000)
            else:
                _fund(d, me, t, tokens[t.symbol], trader, amount)
            for router in routers.values():
                d.call(trader, tokens[t.symbol], abi("DevToken").approve.encode(router, MAX_UINT), gas=100_000)
    for executor in executors:
        for t in tradable:
            if t.base:
                _fund(d, me, t, tokens[t.symbol], executor, usd_to_raw(EXECUTOR_FUNDING_USD, t))
    receipts = d.flush()

    _check_pools(chain, factories, pools)
    deployed_at = min([int(r["blockNumber"], 16) for r in receipts] or [start_block])
    url = rpc_url.rstrip("/")
    manifest: dict[str, Any] = {
        "chain_id": chain_id,
        "name": market.name,
        "native_symbol": market.native_symbol,
        "block_time": float(block_time if block_time is not None else market.block_time),
        "explorer_url": "",
        "rpc_urls": rpc_urls if rpc_urls is not None else [url],
        "ws_urls": ws_urls if ws_urls is not None else [url.replace("http://", "ws://").replace("https://", "wss://")],
        "log_source": "eth_getLogs",
        "multicall3": MULTICALL3_ADDRESS,
        "wrapped_native": tokens[market.wrapped_native.symbol],
        "stable_tokens": [tokens[t.symbol] for t in market.tokens if t.stable],
        "base_tokens": [tokens[t.symbol] for t in market.tokens if t.base],
        "tokens": [
            {
                "address": tokens[t.symbol],
                "symbol": t.symbol,
                "decimals": t.decimals,
                "name": t.name,
                "usd_price": t.usd,
            }
            for t in tradable
        ],
        "dexes": [
            {"name": x.name, "factory": factories[x.name], "router": routers[x.name], "fee_bps": x.fee_bps}
            for x in market.dexes
        ],
        "pools": pools,
        "executor": executors[0],
        "deployed_at_block": deployed_at,
        # --- devnet-only keys (extra keys are allowed by the registry schema) ---
        "devnet": True,
        "executor_owner": roles.bots[0],
        "bots": [{"account": b, "executor": e} for b, e in zip(roles.bots, executors, strict=True)],
        "odd_tokens": [
            {"address": tokens[t.symbol], "symbol": t.symbol, "decimals": t.decimals, "kind": t.kind}
            for t in market.tokens
            if t.kind in ODD_KINDS
        ],
        "accounts": {
            "deployer": roles.deployer,
            "traders": roles.traders,
            "lp_provider": roles.lp_provider,
            "transferer": roles.transferer,
            "sandwicher": roles.sandwicher,
            "builder_coinbase": roles.builder,
        },
        "gas_price_wei": market.gas_price_wei,
    }
    if manifest_path is None:
        manifest_path = default_manifest_path(chain_id)
    write_manifest(manifest, Path(manifest_path))
    return manifest


def _check_pools(chain: Chain, factories: dict[str, str], pools: list[dict[str, Any]]) -> None:
    """The locally computed CREATE2 addresses must be what the factories made."""
    calls = [
        (
            "eth_call",
            [{"to": factories[p["dex"]], "data": abi("V2Factory").getPair.encode(p["token0"], p["token1"])}, "latest"],
        )
        for p in pools
    ]
    for p, raw in zip(pools, chain.batch(calls), strict=True):
        got = to_checksum_address("0x" + raw[-40:])
        if got != p["address"]:
            raise RuntimeError(
                f"pool {p['dex']} {p['token0']}/{p['token1']}: factory says {got}, computed {p['address']}"
            )


def write_manifest(manifest: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(path)


def load_manifest(path: Path | str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


__all__ = ["Roles", "deploy", "encode", "load_manifest", "pair_address", "set_mining", "write_manifest"]
