"""The scanning layer's devnet tests share the opportunity scanner's fixtures (devnet plugin, fresh markets)."""

from __future__ import annotations

from tests.opportunities.conftest import _fresh_markets, pytest_configure

__all__ = ["_fresh_markets", "pytest_configure"]
