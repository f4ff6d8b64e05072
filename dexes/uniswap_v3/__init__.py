"""Uniswap V3 concentrated liquidity: exact integer math, events and pool state (pure)."""
