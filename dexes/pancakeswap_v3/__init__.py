"""PancakeSwap V3: Uniswap V3's pool math with its own Swap event (two protocol-fee fields) and fee tiers."""
