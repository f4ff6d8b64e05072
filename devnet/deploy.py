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
from fractions import Fraction
from pathlib import Path
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from devnet import MULTICALL3_ADDRESS, REPO_ROOT
from devnet.genuine import gabi, init_code_hash
from devnet.liquidity import cl_positions, sqrt_price_x96
from devnet.markets import (
    ALGEBRA,
    HOP_KIND,
    ODD_KINDS,
    PANCAKESWAP_V3,
    TICK_SPACING,
    UNISWAP_V3,
    V2,
    Market,
    TokenSpec,
    market_for,
    pool_amounts,
    usd_to_raw,
)
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
    round_tripper: str  # cyclic_route decoys only, so its balance change per block is that trade's
    cl_bots: list[str]  # bots whose routes go through concentrated-liquidity pools (and tax tokens)
    aggregator_user: str  # a searcher without a contract: sends cyclic routes to the aggregator itself
    aggregator_fees: str  # the aggregator's fee collector

    @classmethod
    def from_accounts(cls, accounts: list[str]) -> Roles:
        if len(accounts) < 20:
            raise ValueError(f"the devnet needs 20 unlocked accounts, node has {len(accounts)}")
        return cls(
            deployer=accounts[0],
            bots=accounts[1:5],
            traders=accounts[5:11],
            lp_provider=accounts[11],
            transferer=accounts[12],
            sandwicher=accounts[13],
            builder=accounts[15],
            round_tripper=accounts[14],
            cl_bots=accounts[16:18],
            aggregator_user=accounts[18],
            aggregator_fees=accounts[19],
        )

    @property
    def funded_traders(self) -> list[str]:
        return [
            *self.traders,
            self.lp_provider,
            self.transferer,
            self.sandwicher,
            self.round_tripper,
            self.aggregator_user,
        ]


def default_manifest_path(chain_id: int) -> Path:
    return REPO_ROOT / "var" / "devnet" / f"chain-{chain_id}.json"


def create2_address(deployer: str, salt: bytes, code_hash: bytes) -> str:
    raw = keccak(b"\xff" + bytes.fromhex(deployer[2:]) + salt + code_hash)[12:]
    return to_checksum_address(raw)


def sort_tokens(token_a: str, token_b: str) -> tuple[str, str]:
    t0, t1 = sorted([token_a, token_b], key=lambda a: int(a, 16))
    return t0, t1


def pair_address(factory: str, token_a: str, token_b: str, *, genuine: bool = False) -> str:
    """CREATE2 address of the pair the factory creates for (a, b): the genuine
    UniswapV2Pair's init code hash, or our V2Pair's."""
    t0, t1 = sort_tokens(token_a, token_b)
    salt = keccak(bytes.fromhex(t0[2:]) + bytes.fromhex(t1[2:]))
    code_hash = init_code_hash("UniswapV2Pair") if genuine else keccak(bytes.fromhex(abi("V2Pair").bytecode[2:]))
    return create2_address(factory, salt, code_hash)


def cl_pool_address(family: str, deployer: str, token_a: str, token_b: str, fee: int) -> str:
    """CREATE2 address of a concentrated-liquidity pool. `deployer` is the
    contract that runs CREATE2: the Uniswap V3 factory itself, PancakeSwap's
    and Algebra's pool deployers."""
    t0, t1 = sort_tokens(token_a, token_b)
    if family == ALGEBRA:
        salt = keccak(encode(["address", "address"], [t0, t1]))
        return create2_address(deployer, salt, init_code_hash("AlgebraPool"))
    name = "UniswapV3Pool" if family == UNISWAP_V3 else "PancakeV3Pool"
    salt = keccak(encode(["address", "address", "uint24"], [t0, t1, fee]))
    return create2_address(deployer, salt, init_code_hash(name))


def code_holder_creation(runtime_hex: str) -> str:
    """Creation code that deploys `runtime_hex` verbatim as a contract's code
    (CODECOPY the payload after a 12-byte prefix, RETURN it)."""
    payload = bytes.fromhex(runtime_hex[2:])
    n = len(payload)
    prefix = bytes([0x61, n >> 8, n & 0xFF, 0x80, 0x60, 0x0C, 0x60, 0x00, 0x39, 0x60, 0x00, 0xF3])
    return "0x" + (prefix + payload).hex()


class Deployer:
    """Collects transactions in dependency order, then sends them in batches."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.txs: list[dict[str, Any]] = []

    def create(self, sender: str, contract: str, types: list[str] | None = None, args: list[Any] | None = None) -> str:
        return self.create_raw(sender, abi(contract).deploy_data(types, args))

    def create_genuine(
        self, sender: str, contract: str, types: list[str] | None = None, args: list[Any] | None = None
    ) -> str:
        """Deploy a contract from its npm package's own bytecode (devnet.genuine)."""
        return self.create_raw(sender, gabi(contract).deploy_data(types, args))

    def create_raw(self, sender: str, data: str) -> str:
        address = create_address(sender, self.chain.nonce(sender))
        self.txs.append(self.chain.tx(sender, None, data, gas=30_000_000))
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
        done, last_progress = -1, time.monotonic()
        while True:
            receipts = self.chain.receipts(hashes)
            if all(r is not None for r in receipts) or time.monotonic() > deadline:
                break
            # anvil's automine can leave a tx pending when its nonce gap was
            # filled by a later arrival; an explicit block picks it up. Only
            # when nothing moved for a second: anvil mines a large batch
            # asynchronously, and blocks requested meanwhile land after it.
            now_done = sum(r is not None for r in receipts)
            if now_done != done:
                done, last_progress = now_done, time.monotonic()
            elif time.monotonic() - last_progress > 1.0:
                self.chain.rpc("evm_mine")
                last_progress = time.monotonic()
            attempt += 1
            time.sleep(min(0.02 * attempt, 0.5))
        for h, r, tx in zip(hashes, receipts, self.txs, strict=True):
            if r is None or int(r["status"], 16) != 1:
                what = f"to {tx.get('to')} selector {tx['data'][:10]}" if tx.get("to") else "a contract creation"
                raise RuntimeError(f"deployment transaction {h} ({what}) failed: {r}")
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
    automine: bool = True,
) -> dict[str, Any]:
    """Deploy every contract of the chain's market, add liquidity, fund the
    simulator's accounts, write and return the manifest.

    Mining is switched to automine for the deployment; the caller sets the
    final mode with set_mining() or a devnet.blocktimer.BlockTimer (fractional
    block times). automine=False keeps the node's mode; the deployer's own
    transactions are then mined before anyone else's, which depend on its
    contracts (under interval mining anvil may still drop one whose predecessor
    nonce did not fit in a block: prefer automine). block_time only goes into
    the manifest.
    """
    chain = Chain(rpc_url)
    chain_id = chain.chain_id
    market = market or market_for(chain_id)
    if market.chain_id != chain_id:
        raise ValueError(f"market is for chain {market.chain_id}, node is chain {chain_id}")
    chain.default_gas_price = market.gas_price_wei
    roles = Roles.from_accounts(chain.accounts())
    if automine:
        chain.rpc("evm_setAutomine", [True])
    chain.rpc("anvil_setCode", [MULTICALL3_ADDRESS, abi("Multicall3").deployed_bytecode])
    chain.rpc("anvil_setCoinbase", [roles.builder])
    start_block = chain.block_number() + 1

    d = Deployer(chain)
    me = roles.deployer
    tokens = {t.symbol: _deploy_token(d, me, t) for t in market.tokens}
    v2_dexes = [x for x in market.dexes if x.family == V2]
    cl_dexes = [x for x in market.dexes if x.family != V2]
    factories: dict[str, str] = {}
    for x in v2_dexes:
        if x.genuine:
            if x.fee_bps != 30 or x.per_pair_fees:
                raise ValueError(f"{x.name}: the genuine Uniswap V2 pair charges 30 bps, nothing else")
            factories[x.name] = d.create_genuine(me, "UniswapV2Factory", ["address"], [me])
        else:
            factories[x.name] = d.create(me, "V2Factory", ["uint16", "bool"], [x.fee_bps, x.per_pair_fees])
    routers = {
        x.name: d.create(me, "V2Router", ["address", "uint16", "bool"], [factories[x.name], x.fee_bps, x.per_pair_fees])
        for x in v2_dexes
    }
    executors = [d.create(me, "ArbExecutor", ["address"], [bot]) for bot in roles.bots]
    cl_executors = [d.create(me, "ArbExecutor", ["address"], [bot]) for bot in roles.cl_bots]
    # The batcher: an executor owned by the transferer, for "two unrelated swaps in one tx" decoys.
    batcher = d.create(me, "ArbExecutor", ["address"], [roles.transferer])
    cl = _deploy_cl_dexes(d, me, cl_dexes, tokens[market.wrapped_native.symbol]) if cl_dexes else {}
    helper = d.create(me, "V3Helper") if cl_dexes else None
    # DEX aggregators (ours): arbitrage routes pass through them, traders route through them. The
    # first sends its fees to a collector, the second keeps them in its own balance.
    aggregator = d.create(me, "DevAggregator", ["address"], [roles.aggregator_fees])
    keeping_aggregator = d.create(me, "DevAggregator", ["address"], ["0x" + "00" * 20])

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
        dex = market.dex(p.dex)
        amount_a, amount_b = pool_amounts(market, p)
        router = routers[p.dex]
        data = abi("V2Router").addLiquidity.encode(tokens[p.a], tokens[p.b], amount_a, amount_b, 0, 0, me, DEADLINE)
        d.call(me, router, data, gas=6_000_000)
        t0, t1 = sort_tokens(tokens[p.a], tokens[p.b])
        odd = any(market.token(s).kind in ODD_KINDS for s in (p.a, p.b))
        address = pair_address(factories[p.dex], t0, t1, genuine=dex.genuine)
        pool: dict[str, Any] = {
            "address": address,
            "dex": p.dex,
            "family": V2,
            "token0": t0,
            "token1": t1,
            "fee_bps": dex.fee_bps,
        }
        if p.swap_fee_bps is not None and p.swap_fee_bps != dex.fee_bps:
            if not dex.per_pair_fees or p.swap_fee_bps % 10:
                raise ValueError(f"{p.dex} {p.a}/{p.b}: per-pair fee needs a per-pair-fee DEX and whole 0.1 % steps")
            d.call(me, factories[p.dex], abi("V2Factory").setSwapFee.encode(address, p.swap_fee_bps // 10))
            # fee_bps is what the pair charges; the DEX default stays in dexes[].fee_bps.
            pool["fee_bps"] = p.swap_fee_bps
            pool["fee_off_default"] = True
        if odd:
            pool["odd"] = True
        pools.append(pool)
    cl_pools = _deploy_cl_pools(d, me, market, tokens, cl, helper) if helper else []

    # Simulator accounts: traders hold every plain token and approve every router
    # (and the V3 SwapRouter and helper).
    tradable = [t for t in market.tokens if t.kind not in ODD_KINDS]
    spenders = [
        *routers.values(),
        *[c["router"] for c in cl.values() if c.get("router")],
        aggregator,
        keeping_aggregator,
    ]
    if helper:
        spenders.append(helper)
    first_receipts = d.flush()  # every contract exists before the traders' transactions (interval mining mixes senders)
    for trader in roles.funded_traders:
        for t in tradable:
            amount = usd_to_raw(TRADER_FUNDING_USD, t)
            if t.kind == "wrapped_native":
                d.call(trader, tokens[t.symbol], abi("WrappedNative").deposit.encode(), value=amount, gas=100_000)
            else:
                _fund(d, me, t, tokens[t.symbol], trader, amount)
            for spender in spenders:
                d.call(trader, tokens[t.symbol], abi("DevToken").approve.encode(spender, MAX_UINT), gas=100_000)
    for executor in [*executors, *cl_executors, batcher]:
        for t in tradable:
            if t.base:
                _fund(d, me, t, tokens[t.symbol], executor, usd_to_raw(EXECUTOR_FUNDING_USD, t))
    receipts = first_receipts + d.flush()

    _check_pools(chain, factories, pools)
    _check_cl_pools(chain, cl, cl_pools)
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
            {
                "name": x.name,
                "family": V2,
                "factory": factories[x.name],
                "router": routers[x.name],
                "fee_bps": x.fee_bps,
                "genuine": x.genuine,
                "per_pair_fees": x.per_pair_fees,
                "fee_per_pair": x.per_pair_fees,  # the registry's name for it (chains/config.py)
            }
            for x in v2_dexes
        ],
        "pools": pools,
        "min_gas_price_wei": market.min_gas_price_wei,
        "min_priority_fee_wei": market.min_priority_fee_wei,
        # Concentrated liquidity (the V2 scanners do not read these keys yet).
        "cl_dexes": [cl[x.name] for x in cl_dexes],
        "cl_pools": cl_pools,
        "v3_helper": helper,
        "batcher": {"account": roles.transferer, "executor": batcher},
        "aggregator": {
            "address": aggregator,
            "fee_collector": roles.aggregator_fees,
            "keeping": keeping_aggregator,  # keeps its fees
            "user": roles.aggregator_user,
        },
        "executor": executors[0],
        "deployed_at_block": deployed_at,
        # --- devnet-only keys (extra keys are allowed by the registry schema) ---
        "devnet": True,
        "executor_owner": roles.bots[0],
        "bots": [{"account": b, "executor": e} for b, e in zip(roles.bots, executors, strict=True)],
        "cl_bots": [{"account": b, "executor": e} for b, e in zip(roles.cl_bots, cl_executors, strict=True)],
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
            "round_tripper": roles.round_tripper,
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


def _deploy_cl_dexes(d: Deployer, me: str, dexes: list[Any], wrapped_native: str) -> dict[str, dict[str, Any]]:
    """Factories (and pool deployers, Uniswap's SwapRouter and QuoterV2) of the
    concentrated-liquidity DEXes, all from their npm bytecode except
    PancakeSwap's pool deployer (devnet/contracts/V3Support.sol)."""
    out: dict[str, dict[str, Any]] = {}
    for x in dexes:
        entry: dict[str, Any] = {"name": x.name, "family": x.family}
        if x.family == UNISWAP_V3:
            factory = d.create_genuine(me, "UniswapV3Factory")
            d.call(me, factory, gabi("UniswapV3Factory").enableFeeAmount.encode(100, 1), gas=200_000)
            router = d.create_genuine(me, "SwapRouter", ["address", "address"], [factory, wrapped_native])
            quoter = d.create_genuine(me, "QuoterV2", ["address", "address"], [factory, wrapped_native])
            entry |= {"factory": factory, "pool_deployer": factory, "router": router, "quoter": quoter}
        elif x.family == PANCAKESWAP_V3:
            holder = d.create_raw(me, code_holder_creation(gabi("PancakeV3Pool").bytecode))
            pool_deployer = d.create(me, "DevPancakeV3PoolDeployer", ["address"], [holder])
            factory = d.create_genuine(me, "PancakeV3Factory", ["address"], [pool_deployer])
            d.call(me, pool_deployer, abi("DevPancakeV3PoolDeployer").setFactoryAddress.encode(factory))
            entry |= {"factory": factory, "pool_deployer": pool_deployer, "pool_code_holder": holder, "router": None}
        elif x.family == ALGEBRA:
            # Each constructor takes the other's address: the factory is the deployer's next creation.
            # The factory's constructor creates its community vault (the factory's first CREATE).
            factory = create_address(me, d.chain.nonce(me) + 1)
            vault = create_address(factory, 1)
            pool_deployer = d.create_genuine(me, "AlgebraPoolDeployer", ["address", "address"], [factory, vault])
            if d.create_genuine(me, "AlgebraFactory", ["address"], [pool_deployer]) != factory:
                raise RuntimeError("Algebra factory address prediction failed")
            entry["community_vault"] = vault
            entry |= {"factory": factory, "pool_deployer": pool_deployer, "router": None}
        else:
            raise ValueError(f"unknown DEX family {x.family}")
        entry["tick_spacing"] = {str(k): v for k, v in TICK_SPACING[x.family].items()}
        out[x.name] = entry
    return out


def _deploy_cl_pools(
    d: Deployer, me: str, market: Market, tokens: dict[str, str], cl: dict[str, dict[str, Any]], helper: str
) -> list[dict[str, Any]]:
    """Create, initialize and fill every concentrated-liquidity pool."""
    out: list[dict[str, Any]] = []
    by_address = {addr: market.token(sym) for sym, addr in tokens.items()}
    funding: dict[str, int] = {}
    mints: list[tuple[str, int, list[Any]]] = []
    for spec in market.cl_pools:
        dex = cl[spec.dex]
        family = dex["family"]
        t0, t1 = sort_tokens(tokens[spec.a], tokens[spec.b])
        k0, k1 = by_address[t0], by_address[t1]
        price = Fraction(k0.usd) / Fraction(k1.usd) * Fraction(10**k1.decimals, 10**k0.decimals)
        skew = Fraction(1 + spec.skew)
        price = price * skew if t0 == tokens[spec.a] else price / skew
        address = cl_pool_address(family, dex["pool_deployer"], t0, t1, spec.fee)
        if family == ALGEBRA:
            d.call(me, dex["factory"], gabi("AlgebraFactory").createPool.encode(t0, t1), gas=30_000_000)
            pool_abi = gabi("AlgebraPool")
        else:
            name = "UniswapV3" if family == UNISWAP_V3 else "PancakeV3"
            d.call(me, dex["factory"], gabi(name + "Factory").createPool.encode(t0, t1, spec.fee), gas=8_000_000)
            pool_abi = gabi(name + "Pool")
        d.call(me, address, pool_abi.initialize.encode(sqrt_price_x96(price)), gas=300_000)
        spacing = TICK_SPACING[family][spec.fee]
        positions = cl_positions(price, usd_to_raw(spec.depth_usd, k0), spec.widths, spacing)
        for pos in positions:
            funding[t0] = funding.get(t0, 0) + pos.amount0
            funding[t1] = funding.get(t1, 0) + pos.amount1
            mints.append((address, HOP_KIND[family], [pos.tick_lower, pos.tick_upper, pos.liquidity]))
        out.append(
            {
                "address": address,
                "dex": spec.dex,
                "family": family,
                "token0": t0,
                "token1": t1,
                "fee": spec.fee if family != ALGEBRA else None,  # hundredths of a bip; Algebra's is dynamic
                "tick_spacing": spacing,
                "positions": [[p.tick_lower, p.tick_upper, str(p.liquidity)] for p in positions],
            }
        )
    for token, amount in funding.items():
        _fund(d, me, by_address[token], token, helper, amount * 101 // 100 + 10**6)
    for pool, kind, (lower, upper, liquidity) in mints:
        d.call(me, helper, abi("V3Helper").mint.encode(pool, kind, lower, upper, liquidity), gas=1_500_000)
    return out


def _check_cl_pools(chain: Chain, cl: dict[str, dict[str, Any]], pools: list[dict[str, Any]]) -> None:
    """Locally computed CREATE2 addresses (genuine init code hashes) must be the factories'."""
    calls = []
    for p in pools:
        factory = cl[p["dex"]]["factory"]
        if p["family"] == ALGEBRA:
            data = gabi("AlgebraFactory").poolByPair.encode(p["token0"], p["token1"])
        else:
            data = gabi("UniswapV3Factory").getPool.encode(p["token0"], p["token1"], p["fee"])
        calls.append(("eth_call", [{"to": factory, "data": data}, "latest"]))
    for p, raw in zip(pools, chain.batch(calls), strict=True):
        got = to_checksum_address("0x" + raw[-40:])
        if got != p["address"]:
            where = f"pool {p['dex']} {p['token0']}/{p['token1']}"
            raise RuntimeError(f"{where}: factory says {got}, computed {p['address']}")
