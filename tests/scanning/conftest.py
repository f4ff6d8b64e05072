"""The scanning layer's devnet tests share the opportunity scanner's fixtures (fresh markets)."""

from __future__ import annotations

from tests.opportunities.conftest import _fresh_markets

__all__ = ["_fresh_markets"]
