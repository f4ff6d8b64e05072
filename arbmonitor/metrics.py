"""Every Prometheus metric of ArbMonitor, and one small function per thing that happens.

Call sites elsewhere (the RPC client, the scan loop, streaming) are one line each into this
module, so the instrumentation survives refactors of those files. Nothing here raises into a
caller: a metric that cannot be recorded is not worth failing a scan or a send for.

Multiprocess mode: when ``PROMETHEUS_MULTIPROC_DIR`` is set (the launcher sets it for every
process it starts: web, Celery prefork children, beat, head watcher), each process writes its
values to files in that directory and ``/metrics`` adds them up (``metrics_text``). It must be set
before this module is first imported, and emptied before the processes start.

Label values are bounded: chain ids, kinds, RPC method names, endpoints reduced to
``scheme://host:port`` (a URL's path and query often hold an API key), task names, outcomes.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

NAMESPACE = "arbmonitor"
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)

# --- scanning -----------------------------------------------------------------------------------
SCAN_LAG_BLOCKS = Gauge(
    "scan_lag_blocks",
    "Blocks between the chain head and the last block a scan committed.",
    ["chain_id", "kind"],
    namespace=NAMESPACE,
    multiprocess_mode="mostrecent",
)
SCAN_LAG_SECONDS = Gauge(
    "scan_lag_seconds",
    "Seconds between the last committed block's timestamp and the moment it was committed.",
    ["chain_id", "kind"],
    namespace=NAMESPACE,
    multiprocess_mode="mostrecent",
)
SCAN_LAST_SUCCESS = Gauge(
    "scan_last_success_timestamp_seconds",
    "Unix time of the last scan run that finished (alert on time() minus this).",
    ["chain_id", "kind"],
    namespace=NAMESPACE,
    multiprocess_mode="mostrecent",
)
SCAN_BLOCKS = Counter("scan_blocks", "Blocks scanned.", ["chain_id", "kind"], namespace=NAMESPACE)
SCAN_LOGS = Counter("scan_logs", "Event logs scanned.", ["chain_id", "kind"], namespace=NAMESPACE)
SCAN_RUNS = Counter(
    "scan_runs",
    "Scan runs by outcome (ok, nothing_new, locked, error).",
    ["chain_id", "kind", "outcome"],
    namespace=NAMESPACE,
)
SCAN_DURATION = Histogram(
    "scan_duration_seconds",
    "Wall time of one scan run (lock held).",
    ["chain_id", "kind"],
    namespace=NAMESPACE,
    buckets=_DURATION_BUCKETS,
)

# --- RPC ------------------------------------------------------------------------------------------
RPC_REQUESTS = Counter(
    "rpc_requests",
    "JSON-RPC requests sent (a batch counts once).",
    ["chain_id", "endpoint", "method"],
    namespace=NAMESPACE,
)
RPC_ERRORS = Counter(
    "rpc_errors",
    "JSON-RPC requests that failed, by reason (rate_limited, timeout, http_5xx, connection, other).",
    ["chain_id", "endpoint", "method", "reason"],
    namespace=NAMESPACE,
)
RPC_LATENCY = Histogram(
    "rpc_request_duration_seconds",
    "Round trip of one JSON-RPC request.",
    ["chain_id", "endpoint", "method"],
    namespace=NAMESPACE,
    buckets=_DURATION_BUCKETS,
)
RPC_FAILOVERS = Counter(
    "rpc_failovers", "Switches to another RPC URL of a chain.", ["chain_id", "endpoint"], namespace=NAMESPACE
)

# --- stored detections -------------------------------------------------------------------------
DETECTIONS_STORED = Counter(
    "detections_stored",
    "Rows stored by the scanners (kind: opportunities, transactions).",
    ["chain_id", "kind"],
    namespace=NAMESPACE,
)

# --- streaming ------------------------------------------------------------------------------------
WS_CONNECTIONS = Gauge(
    "ws_connections", "Open WebSocket connections.", namespace=NAMESPACE, multiprocess_mode="livesum"
)
WS_CONNECTIONS_OPENED = Counter("ws_connections_opened", "WebSocket connections admitted.", namespace=NAMESPACE)
WS_CONNECTIONS_REFUSED = Counter(
    "ws_connections_refused", "WebSocket connections refused (capacity, unavailable).", ["reason"], namespace=NAMESPACE
)
WS_EVENTS = Counter("ws_events", "Notifications received by the fan-out.", ["channel"], namespace=NAMESPACE)
WS_DELIVERIES = Counter(
    "ws_deliveries", "Notifications handed to a client connection.", ["channel"], namespace=NAMESPACE
)
WS_LAGGING_CLOSES = Counter(
    "ws_lagging_closes", "Connections closed because the client did not read fast enough.", namespace=NAMESPACE
)
WS_EVENTS_LOST = Counter(
    "ws_events_lost",
    "Notifications lost between a publisher and this web process (sequence gaps).",
    namespace=NAMESPACE,
)
BROADCASTS = Counter(
    "broadcasts",
    "Notifications handed to the channel layer, by outcome (published, failed, dropped).",
    ["outcome"],
    namespace=NAMESPACE,
)
DETECTION_TO_SEND = Histogram(
    "detection_to_send_seconds",
    "From a row's detected_at to its notification leaving the server (path: websocket, alert).",
    ["path"],
    namespace=NAMESPACE,
    buckets=_LATENCY_BUCKETS,
)

# --- alerts ----------------------------------------------------------------------------------------
ALERT_DELIVERIES = Counter(
    "alert_deliveries",
    "Alert deliveries by outcome (sent, retry, dead, deferred, suppressed, digest_queued, digested).",
    ["destination", "outcome"],
    namespace=NAMESPACE,
)
ALERT_ENQUEUE_FAILURES = Counter(
    "alert_enqueue_failures", "Batches of detections whose alert matching could not be queued.", namespace=NAMESPACE
)

# --- Celery -----------------------------------------------------------------------------------------
CELERY_TASK_DURATION = Histogram(
    "celery_task_duration_seconds",
    "Run time of Celery tasks by task name and final state.",
    ["task", "state"],
    namespace=NAMESPACE,
    buckets=_DURATION_BUCKETS,
)

FAMILIES = [
    SCAN_LAG_BLOCKS,
    SCAN_LAG_SECONDS,
    SCAN_LAST_SUCCESS,
    SCAN_BLOCKS,
    SCAN_LOGS,
    SCAN_RUNS,
    SCAN_DURATION,
    RPC_REQUESTS,
    RPC_ERRORS,
    RPC_LATENCY,
    RPC_FAILOVERS,
    DETECTIONS_STORED,
    WS_CONNECTIONS,
    WS_CONNECTIONS_OPENED,
    WS_CONNECTIONS_REFUSED,
    WS_EVENTS,
    WS_DELIVERIES,
    WS_LAGGING_CLOSES,
    WS_EVENTS_LOST,
    BROADCASTS,
    DETECTION_TO_SEND,
    ALERT_DELIVERIES,
    ALERT_ENQUEUE_FAILURES,
    CELERY_TASK_DURATION,
]


def _safe(record: Callable[[], None]) -> None:
    try:
        record()
    except Exception:  # metrics never break the work they measure
        logger.debug("metric not recorded", exc_info=True)


@functools.lru_cache(maxsize=512)
def endpoint_label(url: str) -> str:
    """``https://host:port`` of an RPC URL: never its path or query, which often carry an API key."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "unknown"
        return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "invalid"


# --- scanning: one call per scan run ----------------------------------------------------------------


def scan_timed(func: Callable[P, T]) -> Callable[P, T]:
    """Decorator for the scan loop's entry point: duration, outcome, blocks, logs and lag from its report.

    The decorated function takes ``(chain_id, processor, ...)`` and returns a report with
    ``kind``, ``skipped``, ``blocks``, ``logs``, ``head``, ``to_block``, ``reason`` and ``lag``.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        started = time.monotonic()
        chain_id = str(args[0] if args else kwargs.get("chain_id"))
        kind = str(getattr(args[1] if len(args) > 1 else kwargs.get("processor"), "kind", "unknown"))
        try:
            report = func(*args, **kwargs)
        except Exception:
            _safe(lambda: SCAN_RUNS.labels(chain_id, kind, "error").inc())
            raise
        _safe(lambda: _scan_report(chain_id, kind, report, time.monotonic() - started))
        return report

    return wrapper


def _scan_report(chain_id: str, kind: str, report: Any, seconds: float) -> None:
    if report.skipped:
        SCAN_RUNS.labels(chain_id, kind, "locked").inc()
        return
    SCAN_DURATION.labels(chain_id, kind).observe(seconds)
    SCAN_RUNS.labels(chain_id, kind, "ok" if report.blocks else "nothing_new").inc()
    SCAN_BLOCKS.labels(chain_id, kind).inc(report.blocks)
    SCAN_LOGS.labels(chain_id, kind).inc(report.logs)
    if report.lag is not None:
        SCAN_LAG_BLOCKS.labels(chain_id, kind).set(report.lag)
    SCAN_LAST_SUCCESS.labels(chain_id, kind).set(time.time())


def scan_committed(chain_id: int, kind: str, block_timestamp: int) -> None:
    """A scan committed up to a block produced at ``block_timestamp`` (unix seconds)."""
    _safe(lambda: SCAN_LAG_SECONDS.labels(str(chain_id), kind).set(max(time.time() - block_timestamp, 0.0)))


# --- RPC --------------------------------------------------------------------------------------------


def rpc_send(chain_id: int, url: str, methods: Any, send: Callable[[Any], T], payload: Any) -> T:
    """``send(payload)``, counted and timed (failures are counted by ``rpc_error`` where they are retried)."""
    names = list(methods)
    method = names[0] if len(set(names)) == 1 else "batch"
    endpoint = endpoint_label(url)
    labels = (str(chain_id), endpoint, method)
    started = time.monotonic()
    try:
        return send(payload)
    finally:
        elapsed = time.monotonic() - started
        _safe(lambda: _rpc_request(labels, elapsed))


def _rpc_request(labels: tuple[str, str, str], elapsed: float) -> None:
    RPC_REQUESTS.labels(*labels).inc()
    RPC_LATENCY.labels(*labels).observe(elapsed)


def rpc_error(chain_id: int, url: str, methods: Any, exc: BaseException) -> None:
    """A request failed in a way worth retrying: HTTP 429/5xx, a timeout, a refused connection, a rate-limit reply."""
    names = list(methods)
    method = names[0] if len(set(names)) == 1 else "batch"
    _safe(lambda: RPC_ERRORS.labels(str(chain_id), endpoint_label(url), method, rpc_error_reason(exc)).inc())


def rpc_error_reason(exc: BaseException) -> str:
    text = str(exc).lower()
    if "429" in text or "rate limit" in text:
        return "rate_limited"
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "http 5" in text:
        return "http_5xx"
    if "connection" in text or "websocket failed" in text:
        return "connection"
    return "other"


def rpc_failover(chain_id: int, url: str) -> None:
    _safe(lambda: RPC_FAILOVERS.labels(str(chain_id), endpoint_label(url)).inc())


# --- detections ------------------------------------------------------------------------------------


def detections_stored(*, kind: str, chain_id: int, count: int) -> None:
    _safe(lambda: DETECTIONS_STORED.labels(str(chain_id), kind).inc(count))


# --- streaming ------------------------------------------------------------------------------------


def ws_connection_opened() -> None:
    _safe(WS_CONNECTIONS_OPENED.inc)
    _safe(WS_CONNECTIONS.inc)


def ws_connection_closed() -> None:
    _safe(WS_CONNECTIONS.dec)


def ws_connection_refused(reason: str) -> None:
    _safe(lambda: WS_CONNECTIONS_REFUSED.labels(reason).inc())


def ws_event_dispatched(event: dict[str, Any], delivered: int) -> None:
    """One notification went through this process's fan-out to ``delivered`` connections."""
    _safe(lambda: _ws_event(event, delivered))


def _ws_event(event: dict[str, Any], delivered: int) -> None:
    channel = str(event.get("channel", "unknown"))
    WS_EVENTS.labels(channel).inc()
    if not delivered:
        return
    WS_DELIVERIES.labels(channel).inc(delivered)
    detected = json.loads(event["text"]).get("data", {}).get("detected_at")
    if detected:
        detection_sent("websocket", detected)


def ws_lagging_closed() -> None:
    _safe(WS_LAGGING_CLOSES.inc)


def ws_events_lost(count: int) -> None:
    _safe(lambda: WS_EVENTS_LOST.inc(count))


def broadcast_outcome(outcome: str) -> None:
    """A publisher handed one notification to the channel layer: published, failed or dropped."""
    _safe(lambda: BROADCASTS.labels(outcome).inc())


def detection_sent(path: str, detected_at: str | datetime) -> None:
    """A notification of a row detected at ``detected_at`` left the server by ``path``."""

    def record() -> None:
        when = detected_at if isinstance(detected_at, datetime) else _parse_time(detected_at)
        DETECTION_TO_SEND.labels(path).observe(max((datetime.now(UTC) - when).total_seconds(), 0.0))

    _safe(record)


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- alerts ---------------------------------------------------------------------------------------


def alert_delivery(destination: str, outcome: str, count: int = 1) -> None:
    _safe(lambda: ALERT_DELIVERIES.labels(destination, outcome).inc(count))


def alert_enqueue_failed() -> None:
    _safe(ALERT_ENQUEUE_FAILURES.inc)


# --- Celery -----------------------------------------------------------------------------------------

_task_started: dict[str, float] = {}


def celery_task_started(task_id: str) -> None:
    _task_started[task_id] = time.monotonic()


def celery_task_finished(task_id: str, task_name: str, state: str) -> None:
    started = _task_started.pop(task_id, None)
    if started is not None:
        _safe(lambda: CELERY_TASK_DURATION.labels(task_name, state or "UNKNOWN").observe(time.monotonic() - started))


def celery_connect() -> None:
    """Time every task of this worker (Celery signals), and forget a prefork child's live gauges when it exits."""
    from celery import signals

    def prerun(task_id: str | None = None, **_: Any) -> None:
        if task_id:
            celery_task_started(task_id)

    def postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
        if task_id:
            celery_task_finished(task_id, getattr(task, "name", "unknown"), state or "UNKNOWN")

    def child_exit(pid: int | None = None, **_: Any) -> None:
        multiprocess_mark_dead(pid or os.getpid())

    def worker_ready(**_: Any) -> None:
        serve_if_configured()

    signals.task_prerun.connect(prerun, weak=False)
    signals.task_postrun.connect(postrun, weak=False)
    signals.worker_process_shutdown.connect(child_exit, weak=False)
    signals.worker_init.connect(worker_ready, weak=False)


# --- exposition -------------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def multiprocess_mark_dead(pid: int) -> None:
    if multiprocess_dir():
        from prometheus_client import multiprocess

        _safe(lambda: multiprocess.mark_process_dead(pid))


def registry() -> CollectorRegistry:
    """All processes' values (multiprocess mode) or this process's (a single process, the tests)."""
    if not multiprocess_dir():
        return REGISTRY
    from prometheus_client import multiprocess

    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
    return combined


def metrics_text() -> tuple[bytes, str]:
    """The exposition body and its content type."""
    return generate_latest(registry()), CONTENT_TYPE_LATEST


def serve_if_configured() -> None:
    """Serve /metrics on METRICS_LISTEN (``host:port``) from this process, when set.

    For processes without the web server (a worker container) whose multiprocess directory
    the web process cannot read; with ``make run`` every process shares one directory and the
    web's /metrics covers them all.
    """
    listen = os.environ.get("METRICS_LISTEN", "").strip()
    if not listen:
        return
    from prometheus_client import start_http_server

    host, _, port = listen.rpartition(":")
    start_http_server(int(port), addr=host or "127.0.0.1", registry=registry())
    logger.info("metrics served on %s", listen)


class _PrometheusRpcObserver:
    """``evm.rpc.RpcObserver`` for this process's metrics (evm knows no metrics; chains.clients passes this)."""

    send = staticmethod(rpc_send)
    error = staticmethod(rpc_error)
    failover = staticmethod(rpc_failover)


RPC_OBSERVER = _PrometheusRpcObserver()
