"""Algebra concentrated liquidity (QuickSwap V3 on Polygon): events, dynamic-fee pool state, swap walk.

Written against ``@cryptoalgebra/core`` 3.0.0 on npm, which is Algebra V1.9 (solc 0.8.17:
tick tree, limit orders, ``TickSpacing`` event). QuickSwap V3 on Polygon runs Algebra V1
(solc 0.7.6, fixed spacing 60, no limit orders); the events this module decodes have the
same signatures in both, and V1's swap walk is V1.9's without limit orders.
"""
