"""Algebra concentrated liquidity (QuickSwap V3 on Polygon): events, dynamic-fee pool state, swap walk.

``AlgebraPoolState`` is checked on chain against ``@cryptoalgebra/core`` 3.0.0 = Algebra V1.9
(solc 0.8.17: tick tree, limit orders, ``TickSpacing`` event). QuickSwap V3 on Polygon runs
Algebra V1 (``@cryptoalgebra/core`` 2.0.0: solc 0.7.6, spacing 60, Uniswap-style bitmap tick
table) with the same event signatures: ``AlgebraV1PoolState`` models it from V1's source, but is
NOT checked on chain — the 2.0.0 npm artifacts are coverage-instrumented builds whose factory
cannot deploy a working pool (its DataStorageOperator expects another pool address).
"""
