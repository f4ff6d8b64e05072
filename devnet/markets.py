"""What each devnet chain looks like: tokens, DEXes and pools at realistic
prices and depths. Pure data plus the arithmetic that turns USD depths into
raw token amounts; deploy.py does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction


@dataclass(frozen=True)
class TokenSpec:
    symbol: str
    name: str
    decimals: int
    usd: float
    kind: str = "erc20"  # erc20 | wrapped_native | fee_on_transfer | bytes32_symbol | decimals_reverts
    stable: bool = False
    base: bool = False


# Families of DEX contracts (the manifest's dex "family"):
V2 = "uniswap_v2"  # constant product: the genuine Uniswap V2 pair, or our fork for odd fees
UNISWAP_V3 = "uniswap_v3"
PANCAKESWAP_V3 = "pancakeswap_v3"
ALGEBRA = "algebra"  # Algebra V1, as QuickSwap V3 on Polygon
# The executor's hop kind per family (ArbExecutor.Hop.kind).
HOP_KIND = {V2: 0, UNISWAP_V3: 1, PANCAKESWAP_V3: 2, ALGEBRA: 3}


@dataclass(frozen=True)
class DexSpec:
    name: str
    fee_bps: int  # V2: the DEX's fee; concentrated liquidity: 0 (each pool has its own)
    family: str = V2
    genuine: bool = False  # V2 only: the genuine @uniswap/v2-core pair (30 bps) instead of our fork
    per_pair_fees: bool = False  # V2 fork only: Biswap's swapFee() per pair


@dataclass(frozen=True)
class PoolSpec:
    dex: str
    a: str
    b: str
    depth_usd: float  # USD value of EACH side
    skew: float = 0.0  # pool price of `a` in `b` = fair price * (1 + skew)
    swap_fee_bps: int | None = None  # Biswap: this pair's fee when off the DEX default


@dataclass(frozen=True)
class ClPoolSpec:
    """A concentrated-liquidity pool; depth_usd per side, split over positions
    of several widths around the start price (so swaps cross initialized ticks)."""

    dex: str
    a: str
    b: str
    fee: int  # Uniswap/PancakeSwap fee tier in hundredths of a bip (500 = 0.05 %); Algebra: 0 (dynamic)
    depth_usd: float
    skew: float = 0.0
    widths: tuple[float, ...] = (0.004, 0.02, 0.08, 0.5)  # +-fraction of price per position


@dataclass(frozen=True)
class Market:
    chain_id: int
    name: str
    native_symbol: str
    block_time: float
    tokens: tuple[TokenSpec, ...]
    dexes: tuple[DexSpec, ...]
    pools: tuple[PoolSpec, ...]
    gas_price_wei: int
    cl_pools: tuple[ClPoolSpec, ...] = ()
    # The registry's gas floors, as on the real chain (chains/registry/*.json); anvil itself enforces none.
    min_gas_price_wei: int = 0
    min_priority_fee_wei: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    def token(self, symbol: str) -> TokenSpec:
        for t in self.tokens:
            if t.symbol == symbol:
                return t
        raise KeyError(symbol)

    def dex(self, name: str) -> DexSpec:
        for d in self.dexes:
            if d.name == name:
                return d
        raise KeyError(name)

    @property
    def wrapped_native(self) -> TokenSpec:
        return next(t for t in self.tokens if t.kind == "wrapped_native")


ODD_KINDS = ("fee_on_transfer", "bytes32_symbol", "decimals_reverts")


def usd_to_raw(usd: float, token: TokenSpec) -> int:
    """Raw integer amount of `token` worth `usd` at its reference price."""
    return int(Fraction(usd) / Fraction(token.usd) * 10**token.decimals)


# Tick spacing per fee tier (the factories' defaults; Uniswap's 100 tier is
# enabled by deploy.py, as on Polygon) and Algebra V1's constant spacing.
TICK_SPACING = {
    UNISWAP_V3: {100: 1, 500: 10, 3000: 60, 10000: 200},
    PANCAKESWAP_V3: {100: 1, 500: 10, 2500: 50, 10000: 200},
    ALGEBRA: {0: 60},
}


def pool_amounts(market: Market, pool: PoolSpec) -> tuple[int, int]:
    """Initial raw amounts (a, b) for a pool: depth_usd per side, price skewed."""
    ta, tb = market.token(pool.a), market.token(pool.b)
    amount_a = usd_to_raw(pool.depth_usd, ta)
    amount_b = usd_to_raw(pool.depth_usd * (1 + pool.skew), tb)
    return amount_a, amount_b


BSC = Market(
    chain_id=56,
    name="BSC devnet",
    native_symbol="BNB",
    block_time=0.45,
    gas_price_wei=1_000_000_000,  # 1 gwei, BSC's usual floor price in 2025
    min_gas_price_wei=50_000_000,  # 0.05 gwei, BSC's validators' minimum (chains/registry/bsc.json)
    tokens=(
        TokenSpec("WBNB", "Wrapped BNB", 18, 600.0, kind="wrapped_native", base=True),
        TokenSpec("USDT", "Tether USD", 18, 1.0, stable=True, base=True),
        TokenSpec("USDC", "USD Coin", 18, 1.0, stable=True, base=True),
        TokenSpec("BUSD", "BUSD Token", 18, 1.0, stable=True, base=True),
        TokenSpec("CAKE", "PancakeSwap Token", 18, 2.0),
        TokenSpec("ETH", "Ethereum Token", 18, 3000.0, base=True),
        TokenSpec("BTCB", "BTCB Token", 18, 90000.0, base=True),
        TokenSpec("RFL", "Reflect Fee Token", 18, 0.5, kind="fee_on_transfer"),
        TokenSpec("B32", "Bytes32 Symbol Token", 18, 1.0, kind="bytes32_symbol"),
        TokenSpec("NODEC", "No Decimals Token", 18, 3.0, kind="decimals_reverts"),
    ),
    dexes=(
        DexSpec("PancakeSwap V2", 25),
        # Biswap's default is 0.2 %; two pairs are set to 0.1 % with setSwapFee (docs/devnet.md).
        DexSpec("Biswap", 20, per_pair_fees=True),
        DexSpec("ApeSwap", 20),
        DexSpec("PancakeSwap V3", 0, family=PANCAKESWAP_V3),
    ),
    pools=(
        PoolSpec("PancakeSwap V2", "WBNB", "USDT", 20_000_000),
        PoolSpec("PancakeSwap V2", "WBNB", "BUSD", 10_000_000, 0.002),
        PoolSpec("PancakeSwap V2", "WBNB", "USDC", 5_000_000),
        PoolSpec("PancakeSwap V2", "USDT", "BUSD", 5_000_000),
        PoolSpec("PancakeSwap V2", "USDT", "USDC", 5_000_000),
        PoolSpec("PancakeSwap V2", "CAKE", "WBNB", 3_000_000),
        PoolSpec("PancakeSwap V2", "CAKE", "USDT", 1_000_000, -0.004),
        PoolSpec("PancakeSwap V2", "ETH", "WBNB", 3_000_000),
        PoolSpec("PancakeSwap V2", "ETH", "USDT", 2_000_000),
        PoolSpec("PancakeSwap V2", "BTCB", "WBNB", 3_000_000),
        PoolSpec("PancakeSwap V2", "BTCB", "USDT", 2_000_000, 0.003),
        PoolSpec("PancakeSwap V2", "ETH", "BTCB", 500_000),
        PoolSpec("PancakeSwap V2", "RFL", "WBNB", 200_000),
        PoolSpec("PancakeSwap V2", "B32", "WBNB", 100_000),
        PoolSpec("Biswap", "WBNB", "USDT", 3_000_000, 0.006),
        PoolSpec("Biswap", "USDT", "BUSD", 1_000_000, swap_fee_bps=10),
        PoolSpec("Biswap", "ETH", "WBNB", 800_000, -0.005),
        PoolSpec("Biswap", "BTCB", "USDT", 800_000),
        PoolSpec("Biswap", "CAKE", "WBNB", 200_000),
        PoolSpec("Biswap", "ETH", "USDT", 500_000),
        PoolSpec("Biswap", "USDT", "USDC", 500_000, swap_fee_bps=10),
        PoolSpec("Biswap", "RFL", "USDT", 50_000, 0.03),  # tax-token routes start off mispriced
        PoolSpec("ApeSwap", "WBNB", "BUSD", 1_000_000),
        PoolSpec("ApeSwap", "WBNB", "USDT", 500_000, -0.004),
        PoolSpec("ApeSwap", "CAKE", "BUSD", 50_000, 0.01),  # thin
        PoolSpec("ApeSwap", "ETH", "WBNB", 200_000),
        PoolSpec("ApeSwap", "BTCB", "WBNB", 150_000, 0.008),
        PoolSpec("ApeSwap", "BUSD", "USDC", 100_000),
        PoolSpec("ApeSwap", "NODEC", "USDT", 30_000),
    ),
    cl_pools=(
        ClPoolSpec("PancakeSwap V3", "WBNB", "USDT", 500, 8_000_000, 0.001),
        ClPoolSpec("PancakeSwap V3", "WBNB", "USDT", 100, 2_000_000),
        ClPoolSpec("PancakeSwap V3", "WBNB", "BUSD", 2500, 1_000_000, -0.003),
        ClPoolSpec("PancakeSwap V3", "USDT", "USDC", 100, 3_000_000),
        ClPoolSpec("PancakeSwap V3", "ETH", "WBNB", 500, 1_500_000, 0.004),
        ClPoolSpec("PancakeSwap V3", "BTCB", "USDT", 500, 1_500_000),
        ClPoolSpec("PancakeSwap V3", "CAKE", "WBNB", 2500, 500_000, -0.006),
    ),
)

POLYGON = Market(
    chain_id=137,
    name="Polygon devnet",
    native_symbol="MATIC",
    block_time=2.0,
    gas_price_wei=30_000_000_000,  # 30 gwei
    min_priority_fee_wei=25_000_000_000,  # Bor's 25 gwei minimum tip (chains/registry/polygon.json)
    tokens=(
        TokenSpec("WMATIC", "Wrapped Matic", 18, 0.4, kind="wrapped_native", base=True),
        TokenSpec("USDC", "USD Coin", 6, 1.0, stable=True, base=True),
        TokenSpec("USDT", "(PoS) Tether USD", 6, 1.0, stable=True, base=True),
        TokenSpec("WETH", "Wrapped Ether", 18, 3000.0, base=True),
        TokenSpec("WBTC", "(PoS) Wrapped BTC", 8, 90000.0, base=True),
        TokenSpec("RFL", "Reflect Fee Token", 18, 0.5, kind="fee_on_transfer"),
        TokenSpec("B32", "Bytes32 Symbol Token", 18, 1.0, kind="bytes32_symbol"),
        TokenSpec("NODEC", "No Decimals Token", 18, 3.0, kind="decimals_reverts"),
    ),
    dexes=(
        DexSpec("QuickSwap V2", 30, genuine=True),
        DexSpec("SushiSwap", 30, genuine=True),
        DexSpec("Uniswap V3", 0, family=UNISWAP_V3),
        DexSpec("QuickSwap V3", 0, family=ALGEBRA),
    ),
    pools=(
        PoolSpec("QuickSwap V2", "WMATIC", "USDC", 2_000_000),
        PoolSpec("QuickSwap V2", "WMATIC", "USDT", 1_000_000, 0.004),
        PoolSpec("QuickSwap V2", "WMATIC", "WETH", 1_500_000),
        PoolSpec("QuickSwap V2", "WETH", "USDC", 3_000_000),
        PoolSpec("QuickSwap V2", "WBTC", "WETH", 1_000_000),
        PoolSpec("QuickSwap V2", "USDC", "USDT", 2_000_000),
        PoolSpec("QuickSwap V2", "WBTC", "USDC", 500_000, -0.006),
        PoolSpec("QuickSwap V2", "RFL", "WMATIC", 100_000),
        PoolSpec("QuickSwap V2", "NODEC", "WMATIC", 30_000),
        PoolSpec("SushiSwap", "WMATIC", "USDC", 500_000, -0.007),
        PoolSpec("SushiSwap", "WMATIC", "WETH", 800_000),
        PoolSpec("SushiSwap", "WETH", "USDC", 1_000_000, 0.008),
        PoolSpec("SushiSwap", "WETH", "USDT", 300_000),
        PoolSpec("SushiSwap", "WBTC", "WETH", 400_000),
        PoolSpec("SushiSwap", "USDC", "USDT", 300_000),
        PoolSpec("SushiSwap", "WMATIC", "USDT", 50_000, 0.01),  # thin
        PoolSpec("SushiSwap", "B32", "USDC", 50_000),
    ),
    cl_pools=(
        ClPoolSpec("Uniswap V3", "WMATIC", "USDC", 500, 1_500_000, 0.003),
        ClPoolSpec("Uniswap V3", "WMATIC", "USDC", 3000, 500_000),
        ClPoolSpec("Uniswap V3", "WETH", "USDC", 500, 3_000_000, -0.002),
        ClPoolSpec("Uniswap V3", "WBTC", "WETH", 3000, 800_000),
        ClPoolSpec("Uniswap V3", "USDC", "USDT", 100, 2_000_000),
        ClPoolSpec("Uniswap V3", "WMATIC", "WETH", 10000, 300_000, 0.01),
        ClPoolSpec("QuickSwap V3", "WMATIC", "USDC", 0, 1_000_000, -0.004),
        ClPoolSpec("QuickSwap V3", "WETH", "USDC", 0, 1_500_000, 0.003),
        ClPoolSpec("QuickSwap V3", "WMATIC", "WETH", 0, 500_000),
        ClPoolSpec("QuickSwap V3", "WBTC", "USDC", 0, 400_000),
    ),
)

MARKETS: dict[int, Market] = {56: BSC, 137: POLYGON}


def market_for(chain_id: int) -> Market:
    try:
        return MARKETS[chain_id]
    except KeyError:
        raise ValueError(f"no devnet market for chain {chain_id}; known: {sorted(MARKETS)}") from None
