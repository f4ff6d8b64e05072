"""Names vulture (make lint) cannot see used, each with who uses it. Not imported by anything."""

# ruff: noqa
# Celery reads its configuration attributes; Channels calls OriginValidator.valid_origin.
_.beat_schedule
_.task_always_eager  # tests/alerts/test_flow.py runs tasks in the test process
_.valid_origin
# Model fields: stored, shown in the admin and the API, never read as attributes in Python.
_.updated_at
_.profit_token
POOLS  # ScanCursor.Kind.POOLS: the "pools" cursor kind, referred to by its value
# Data fields of parsed JSON-RPC objects and reports (part of the value, read by callers as needed).
_.to_address
_.max_fee_per_gas
_.max_priority_fee_per_gas
_.input
_.cursor_block
_.journal_exhausted
# The devnet simulator calls its decoys by name (getattr(self, f"_decoy_{kind}")).
_._decoy_route_non_cyclic
_._decoy_cyclic_route
_._decoy_swap_then_reverse
_._decoy_remove_liquidity
_._decoy_transfer
_._decoy_sandwich
# Fixtures requested by parameter name.
scan_redis_clean
RAW_CHANNEL
# alerts/ model fields written by keyword (create/filter/update) and shown in the admin, never read as attributes.
_.key_hash
_.active
_.last_used_at
_.started_at
_.retry_after_seconds
# alerts/ choices: rows carry their values ("discord", "telegram", "ok", "retry", "failed"); the labels show in the admin.
DISCORD
TELEGRAM
OK
RETRY
FAILED
# arbmonitor/settings.py (excluded above: every setting looks unused) parses METRICS_ALLOWED_NETWORKS with it.
env_networks
# The devnet simulator calls this decoy by name too (see the decoys above).
_._decoy_batch_swaps
_._decoy_aggregator_route
# Fields of decoded event records: part of the decoded value, kept so a record says all its log says.
_.tick_spacing_limit_orders  # Algebra TickSpacing(newTickSpacing, newTickSpacingLimitOrders)
_.protocol_fees_token0  # PancakeSwap V3 Swap(..., protocolFeesToken0, protocolFeesToken1)
_.protocol_fees_token1
# django-filter reads a FilterSet's declared filters from its class attributes (query parameters by name).
_.block_min
_.block_max
_.detected_after
_.detected_before
_.max_swaps
_.block_after
_.block_before
# The dashboard's templates read the chart's fields.
_.zero_y
_.min_label
_.max_label
_.height
# Aggregate model fields: written by F() updates and the rebuild command, read by the API's queries by name.
_.opp_profit_usd
# DRF's CursorPagination calls get_ordering (api.views.NewestFirst: side-table lists page by the link's time).
_.get_ordering
# A pytest fixture argument that orders fixtures (tests/alerts/conftest.py: after the test database exists).
_.django_db_setup
# transactions/ choices: rows carry their values ("loss", "mixed", "unavailable", "block_end"); the labels show in the admin.
LOSS
MIXED
UNAVAILABLE
BLOCK_END
# http.server calls a handler's do_GET for each GET request.
_.do_GET
# asyncio calls a Protocol's connection_made/connection_lost (bench/ws_scale.py's client reader).
_.connection_made
_.connection_lost
# streaming/deflate.py sets uvicorn's Config attribute, which uvicorn's protocol reads.
_.ws_per_message_deflate
# ConcentratedPoolState's known tick range: written through cl_state_row, read by name in scanner_cl_states.
_.known_tick_lower
_.known_tick_upper
# A fixture requested by parameter name only for its ordering (tests/alerts/conftest.py).
django_db_setup
