"""Chain access: JSON-RPC over HTTP or WebSocket with retries, failover and batching.

One ``ChainClient`` per chain. It speaks JSON-RPC directly (one ``requests``
session per HTTP URL, one ``websockets`` sync connection per WS URL) rather than
through web3's provider stack, because the scanner needs control web3's
providers do not give: a JSON-RPC *batch* is one HTTP round trip for a whole
block range's headers or receipts, 429/Retry-After and rate-limit errors are
backed off per URL, and a failing URL is skipped for the next one. Encoding
and decoding use web3's own libraries (eth_abi, eth_utils) except on the two
hot paths measured in docs/architecture.md (Multicall3 results, Swap/Sync data).
``new_heads`` is the same module's WebSocket subscription (async).

Failure policy, per request (a single call or a batch):

* transport errors (refused, reset, timeout, HTTP 5xx), HTTP 429 and JSON-RPC
  rate-limit errors are *retryable*: the next URL is tried at once; when every
  URL failed in a round, sleep (exponential backoff with full jitter, or the
  server's Retry-After, capped) and start another round, up to
  ``max_retries`` extra rounds; then ``RpcUnavailable`` names every URL and its
  last error;
* any other JSON-RPC error is the node's answer and raised as
  ``RpcResponseError`` (``LogRangeTooLarge`` / ``MethodNotSupported`` for the
  cases callers handle);
* before a URL is first used its ``eth_chainId`` is compared with the
  configuration: a mismatch raises ``ChainIdMismatch`` (misconfiguration is
  fatal, never failed over).

``request_count`` counts HTTP/WS round trips (a batch is one), ``call_count``
JSON-RPC calls, ``method_counts`` calls per method: tests and benchmarks assert
calls per block with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address

logger = logging.getLogger(__name__)

JsonCall = tuple[str, list[Any]]


class ChainEndpoint(Protocol):
    """What a client needs to know about a chain (``chains.config.ChainConfig`` is one)."""

    @property
    def chain_id(self) -> int: ...
    @property
    def rpc_urls(self) -> Sequence[str]: ...
    @property
    def log_source(self) -> str: ...
    @property
    def multicall3(self) -> str: ...


# --- errors -------------------------------------------------------------------------


class RpcError(Exception):
    """Base of every chain-access error."""


class RpcUnavailable(RpcError):  # noqa: N818 - the agreed API name
    """Every URL failed on every retry (connection, timeout, 5xx, rate limit)."""


class ChainIdMismatch(RpcError):  # noqa: N818 - the agreed API name
    """An endpoint serves another chain than its configuration says."""

    def __init__(self, url: str, expected: int, actual: int) -> None:
        super().__init__(f"RPC endpoint {url} reports chain id {actual}, but it is configured for chain {expected}")
        self.url, self.expected, self.actual = url, expected, actual


class RpcResponseError(RpcError):
    """The node answered with a JSON-RPC error (not a transport or rate-limit problem)."""

    def __init__(self, method: str, code: int | None, message: str, data: Any = None, url: str = "") -> None:
        super().__init__(f"{method} failed on {url or 'node'}: [{code}] {message}")
        self.method, self.code, self.message, self.data, self.url = method, code, message, data, url


class LogRangeTooLarge(RpcResponseError):  # noqa: N818 - the agreed API name
    """eth_getLogs refused the range (too many results / too many blocks / too large)."""


class MethodNotSupported(RpcResponseError):  # noqa: N818 - the agreed API name
    """The node does not serve this method (e.g. eth_getLogs on BSC's public endpoints)."""


class SubscriptionRefused(RpcError):  # noqa: N818 - it is a refusal, not an error of ours
    """The node answered ``eth_subscribe`` with an error (no subscriptions on this endpoint)."""


class ReorgDuringFetch(RpcError):  # noqa: N818 - the agreed API name
    """Data fetched in separate calls belongs to different forks; fetch again."""


class _Retryable(Exception):  # noqa: N818 - the agreed API name
    """Internal: try the next URL / back off."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# JSON-RPC error messages meaning "slow down" (Infura, Alchemy, QuickNode, Ankr, BSC dataseed, Polygon RPCs).
_RATE_LIMIT_RE = re.compile(
    r"rate.?limit|too many requests|request limit|exceeded the quota|capacity exceeded|"
    r"daily request count|throttl|compute units|credits",
    re.IGNORECASE,
)
_RATE_LIMIT_CODES = {-32005, 429, -32029}
# eth_getLogs "your range is too big" in its common spellings (geth/bor: 10000 results,
# erigon, Alchemy, Infura, QuickNode, Ankr, BSC, Polygon).
_LOG_RANGE_RE = re.compile(
    r"query returned more than|more than \d+ results|block range|range (is )?too (large|wide|big)|"
    r"response size|size exceeded|limit exceeded|too many (logs|results|blocks)|max(imum)? (block )?range|"
    r"returned too many|exceed(s|ed)? .*(range|results)|query timeout",
    re.IGNORECASE,
)
_NOT_SUPPORTED_RE = re.compile(
    r"method .*(not (found|supported|available|exist)|disabled|unsupported)|not (supported|available|allowed)|"
    r"does not exist|is disabled|unsupported method|method not found",
    re.IGNORECASE,
)


def _is_rate_limit(code: Any, message: str, method: str = "") -> bool:
    if _RATE_LIMIT_RE.search(message):
        return True
    # -32005 is both "slow down" and (Infura) "query returned more than 10000 results".
    return code in _RATE_LIMIT_CODES and not (method == "eth_getLogs" and _LOG_RANGE_RE.search(message))


def _response_error(method: str, err: dict[str, Any], url: str) -> RpcResponseError:
    code, message = err.get("code"), str(err.get("message", ""))
    if method == "eth_getLogs" and _LOG_RANGE_RE.search(message):
        return LogRangeTooLarge(method, code, message, err.get("data"), url)
    if code == -32601 or _NOT_SUPPORTED_RE.search(message):
        return MethodNotSupported(method, code, message, err.get("data"), url)
    return RpcResponseError(method, code, message, err.get("data"), url)


# --- value types --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockHeader:
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    miner: str
    base_fee_per_gas: int | None


@dataclass(frozen=True, slots=True)
class LogRecord:
    block_number: int
    block_hash: str
    tx_hash: str
    tx_index: int
    log_index: int
    address: str
    topics: tuple[str, ...]
    data: bytes

    @property
    def topic0(self) -> str | None:
        return self.topics[0] if self.topics else None


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: str
    block_number: int
    block_hash: str
    tx_index: int
    from_address: str
    to_address: str | None
    status: int
    gas_used: int
    effective_gas_price: int
    logs: tuple[LogRecord, ...]


@dataclass(frozen=True, slots=True)
class Transaction:
    tx_hash: str
    block_number: int | None
    tx_index: int | None
    from_address: str
    to_address: str | None
    value: int
    gas: int
    gas_price: int | None
    max_fee_per_gas: int | None
    max_priority_fee_per_gas: int | None
    nonce: int
    input: bytes


@dataclass(frozen=True, slots=True)
class Call:
    """One Multicall3 sub-call."""

    target: str
    data: bytes
    allow_failure: bool = True


@dataclass(frozen=True, slots=True)
class CallResult:
    success: bool
    data: bytes

    @property
    def ok(self) -> bool:
        """Succeeded and returned something (a call to an address without code 'succeeds' with no data)."""
        return self.success and len(self.data) > 0


# --- parsing helpers ------------------------------------------------------------------


def _int(value: Any) -> int:
    if value is None:
        return 0
    return int(value, 16) if isinstance(value, str) else int(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _bytes(value: str | None) -> bytes:
    if not value:
        return b""
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def _hex(value: int) -> str:
    return hex(value)


def _block_param(block: int | str | None) -> str:
    if block is None:
        return "latest"
    if isinstance(block, int):
        return _hex(block)
    return block


@functools.lru_cache(maxsize=65536)
def checksum_address(value: str) -> str:
    """EIP-55 form of a hex address, cached.

    A keccak per call made checksumming the largest CPU cost of a backfill
    (one per log); pools, tokens, routers and senders repeat block after block.
    """
    return to_checksum_address(value)


def _checksum(value: str | None) -> str | None:
    return checksum_address(value) if value else None


def log_from_json(raw: dict[str, Any]) -> LogRecord:
    return LogRecord(
        block_number=_int(raw["blockNumber"]),
        block_hash=raw["blockHash"].lower(),
        tx_hash=raw["transactionHash"].lower(),
        tx_index=_int(raw["transactionIndex"]),
        log_index=_int(raw["logIndex"]),
        address=checksum_address(raw["address"]),
        topics=tuple(t.lower() for t in raw.get("topics") or ()),
        data=_bytes(raw.get("data")),
    )


def header_from_json(raw: dict[str, Any]) -> BlockHeader:
    return BlockHeader(
        number=_int(raw["number"]),
        hash=raw["hash"].lower(),
        parent_hash=raw["parentHash"].lower(),
        timestamp=_int(raw["timestamp"]),
        miner=checksum_address(raw["miner"]),
        base_fee_per_gas=_opt_int(raw.get("baseFeePerGas")),
    )


def receipt_from_json(raw: dict[str, Any]) -> Receipt:
    return Receipt(
        tx_hash=raw["transactionHash"].lower(),
        block_number=_int(raw["blockNumber"]),
        block_hash=raw["blockHash"].lower(),
        tx_index=_int(raw["transactionIndex"]),
        from_address=checksum_address(raw["from"]),
        to_address=_checksum(raw.get("to")),
        status=_int(raw.get("status")),
        gas_used=_int(raw["gasUsed"]),
        effective_gas_price=_int(raw.get("effectiveGasPrice")),
        logs=tuple(log_from_json(log) for log in raw.get("logs") or ()),
    )


def transaction_from_json(raw: dict[str, Any]) -> Transaction:
    return Transaction(
        tx_hash=raw["hash"].lower(),
        block_number=_opt_int(raw.get("blockNumber")),
        tx_index=_opt_int(raw.get("transactionIndex")),
        from_address=checksum_address(raw["from"]),
        to_address=_checksum(raw.get("to")),
        value=_int(raw.get("value")),
        gas=_int(raw.get("gas")),
        gas_price=_opt_int(raw.get("gasPrice")),
        max_fee_per_gas=_opt_int(raw.get("maxFeePerGas")),
        max_priority_fee_per_gas=_opt_int(raw.get("maxPriorityFeePerGas")),
        nonce=_int(raw.get("nonce")),
        input=_bytes(raw.get("input")),
    )


def log_matches(
    log: LogRecord, *, topics: Sequence[Sequence[str] | str | None] | None, addresses: Iterable[str] | None
) -> bool:
    """eth_getLogs filter semantics, for sources that return every log of a block."""
    if addresses is not None:
        wanted = {a.lower() for a in addresses}
        if log.address.lower() not in wanted:
            return False
    for position, allowed in enumerate(topics or ()):
        if allowed is None:
            continue
        options = [allowed] if isinstance(allowed, str) else list(allowed)
        if not options:
            continue
        if position >= len(log.topics) or log.topics[position] not in {t.lower() for t in options}:
            return False
    return True


# --- transports -------------------------------------------------------------------------


class _HttpTransport:
    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({"Content-Type": "application/json", "User-Agent": "arbmonitor"})

    def send(self, payload: Any) -> Any:
        try:
            response = self.session.post(self.url, data=json.dumps(payload), timeout=self.timeout)
        except requests.Timeout as exc:
            raise _Retryable(f"timed out after {self.timeout}s") from exc
        except requests.RequestException as exc:
            raise _Retryable(f"connection failed ({_short_reason(exc)})") from exc
        if response.status_code == 429:
            raise _Retryable("HTTP 429 Too Many Requests", _retry_after(response.headers.get("Retry-After")))
        if response.status_code >= 500 or response.status_code in (408, 425):
            raise _Retryable(f"HTTP {response.status_code}", _retry_after(response.headers.get("Retry-After")))
        try:
            return response.json()
        except ValueError as exc:
            if response.status_code >= 400:
                raise _Retryable(f"HTTP {response.status_code}: {response.text[:200]}") from exc
            raise _Retryable(f"invalid JSON in response: {response.text[:200]!r}") from exc

    def close(self) -> None:
        self.session.close()


class _WsTransport:
    """JSON-RPC over one WebSocket connection (sync, reconnects on failure)."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.conn: Any = None
        self._stack = contextlib.ExitStack()

    def _connect(self) -> Any:
        from websockets.sync.client import connect

        if self.conn is None:
            # websockets 17 wants connect() used as a context manager; the stack keeps it open across calls.
            stack = contextlib.ExitStack()
            self.conn = stack.enter_context(
                connect(self.url, open_timeout=self.timeout, close_timeout=1, max_size=2**27)
            )
            self._stack = stack
        return self.conn

    def send(self, payload: Any) -> Any:
        try:
            conn = self._connect()
            conn.send(json.dumps(payload))
            wanted = {p["id"] for p in payload} if isinstance(payload, list) else {payload["id"]}
            deadline = time.monotonic() + self.timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                reply = json.loads(conn.recv(timeout=remaining))
                ids = {r.get("id") for r in reply} if isinstance(reply, list) else {reply.get("id")}
                if ids & wanted or (isinstance(reply, dict) and reply.get("id") is None and "error" in reply):
                    return reply
                # A subscription notification or a stale reply: skip it.
        except TimeoutError as exc:
            self.close()
            raise _Retryable(f"timed out after {self.timeout}s") from exc
        except (OSError, ValueError, Exception) as exc:
            if isinstance(exc, _Retryable):
                raise
            self.close()
            raise _Retryable(f"websocket failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # closing a broken socket
                self._stack.close()
            self.conn = None


def _short_reason(exc: BaseException) -> str:
    """'Connection refused' rather than urllib3's three nested wrappers."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    return f"{type(exc).__name__}: {text[:160]}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # HTTP-date form: fall back to our own backoff


# --- the client -------------------------------------------------------------------------

MULTICALL3_AGGREGATE3 = bytes.fromhex("82ad56cb")  # aggregate3((address,bool,bytes)[])


def aggregate3_encode(calls: Sequence[Call], *, allow_failure: bool = True) -> str:
    """Calldata of Multicall3 ``aggregate3((address,bool,bytes)[])`` for these calls, 0x-prefixed."""
    encoded = abi_encode(
        ["(address,bool,bytes)[]"], [[(c.target, allow_failure and c.allow_failure, c.data) for c in calls]]
    )
    return "0x" + (MULTICALL3_AGGREGATE3 + encoded).hex()


def aggregate3_decode(data: bytes) -> list[tuple[bool, bytes]]:
    """The ``(bool,bytes)[]`` that Multicall3 ``aggregate3`` returns, decoded by offsets.

    Same result as ``eth_abi.decode(["(bool,bytes)[]"], data)`` at a fraction of
    its cost (pricing decodes one of these per arbitrage block); malformed input
    raises ``ValueError``.
    """

    def word(at: int) -> int:
        if at + 32 > len(data):
            raise ValueError(f"aggregate3 result truncated at byte {at} of {len(data)}")
        return int.from_bytes(data[at : at + 32], "big")

    base = word(0)
    count = word(base)
    heads = base + 32
    out: list[tuple[bool, bytes]] = []
    for i in range(count):
        item = heads + word(heads + 32 * i)
        success = word(item)
        if success > 1:
            raise ValueError(f"aggregate3 result {i}: bool word {success}")
        start = item + word(item + 32)
        length = word(start)
        if start + 32 + length > len(data):
            raise ValueError(f"aggregate3 result {i}: {length} bytes past the end")
        out.append((success == 1, data[start + 32 : start + 32 + length]))
    return out


@dataclass
class _Endpoint:
    url: str
    transport: Any
    verified: bool = False
    last_error: str = ""


class RpcObserver:
    """What a client reports about its requests (metrics); this default observes nothing.

    ``chains.clients`` passes the process's Prometheus observer. Methods must not raise.
    """

    def send(self, chain_id: int, url: str, methods: Sequence[str], send: Callable[[Any], Any], payload: Any) -> Any:
        """Send ``payload`` with ``send`` (an observer times it)."""
        return send(payload)

    def error(self, chain_id: int, url: str, methods: Sequence[str], exc: BaseException) -> None:
        """A request failed in a way worth retrying (429/5xx, timeout, refused connection)."""

    def failover(self, chain_id: int, url: str) -> None:
        """The client moved to ``url``."""


@dataclass
class ChainClient:
    """JSON-RPC access to one chain. Thread-safe (one request at a time per client)."""

    chain_id: int
    rpc_urls: tuple[str, ...]
    log_source: str = "eth_getLogs"
    multicall3: str = "0xcA11bde05977b3631167028862bE2a173976CA11"
    timeout: float = 10.0
    max_retries: int = 4
    backoff_base: float = 0.25
    backoff_max: float = 8.0
    batch_size: int = 100
    log_chunk_blocks: int = 2000
    multicall_chunk: int = 500
    verify_chain_id: bool = True
    log_failures: bool = True  # False: a caller that polls until a node comes up logs nothing per attempt
    observer: RpcObserver = field(default_factory=RpcObserver, repr=False)
    request_count: int = 0
    call_count: int = 0
    method_counts: Counter[str] = field(default_factory=Counter)
    _endpoints: list[_Endpoint] = field(default_factory=list, repr=False)
    _preferred: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    def __post_init__(self) -> None:
        if not self.rpc_urls:
            raise RpcError(f"chain {self.chain_id} has no RPC URL (set CHAIN_{self.chain_id}_RPC_URLS)")
        self._endpoints = [_Endpoint(url, self._transport(url)) for url in self.rpc_urls]

    @classmethod
    def from_config(cls, config: ChainEndpoint, **options: Any) -> ChainClient:
        """A client for a chain's endpoints (``chain_id``, ``rpc_urls``, ``log_source``, ``multicall3``);
        ``options`` set the other fields (``chains.clients`` passes the RPC_* settings)."""
        return cls(
            chain_id=config.chain_id,
            rpc_urls=tuple(config.rpc_urls),
            log_source=config.log_source,
            multicall3=config.multicall3,
            **options,
        )

    def _transport(self, url: str) -> Any:
        if url.startswith(("ws://", "wss://")):
            return _WsTransport(url, self.timeout)
        return _HttpTransport(url, self.timeout)

    def close(self) -> None:
        for endpoint in self._endpoints:
            endpoint.transport.close()

    @property
    def current_url(self) -> str:
        return self._endpoints[self._preferred].url

    def reset_counters(self) -> None:
        self.request_count = 0
        self.call_count = 0
        self.method_counts.clear()

    # --- core request machinery ------------------------------------------------------

    def _backoff(self, round_no: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        return random.uniform(0, min(self.backoff_max, self.backoff_base * (2**round_no)))

    def _send_once(self, endpoint: _Endpoint, payload: Any, methods: Sequence[str]) -> Any:
        self.request_count += 1
        self.call_count += len(methods)
        self.method_counts.update(methods)
        return self.observer.send(self.chain_id, endpoint.url, methods, endpoint.transport.send, payload)

    def _verify(self, endpoint: _Endpoint) -> None:
        if endpoint.verified or not self.verify_chain_id:
            return
        reply = self._send_once(
            endpoint, {"jsonrpc": "2.0", "id": next(self._ids), "method": "eth_chainId", "params": []}, ["eth_chainId"]
        )
        if not isinstance(reply, dict) or "result" not in reply:
            error = reply.get("error", {}) if isinstance(reply, dict) else {}
            if _is_rate_limit(error.get("code"), str(error.get("message", ""))):
                raise _Retryable(f"rate limited: {error.get('message')}")
            raise _Retryable(f"eth_chainId gave no result: {str(reply)[:200]}")
        actual = _int(reply["result"])
        if actual != self.chain_id:
            raise ChainIdMismatch(endpoint.url, self.chain_id, actual)
        endpoint.verified = True

    def _dispatch(self, payload: Any, methods: Sequence[str], check: Any) -> Any:
        """Send ``payload`` with failover and backoff; ``check(reply, url)`` raises _Retryable or returns the value."""
        with self._lock:
            n = len(self._endpoints)
            for round_no in range(self.max_retries + 1):
                retry_after: float | None = None
                for offset in range(n):
                    index = (self._preferred + offset) % n
                    endpoint = self._endpoints[index]
                    try:
                        self._verify(endpoint)
                        value = check(self._send_once(endpoint, payload, methods), endpoint.url)
                    except _Retryable as exc:
                        self.observer.error(self.chain_id, endpoint.url, methods, exc)
                        endpoint.last_error = str(exc)
                        if exc.retry_after is not None:
                            retry_after = max(retry_after or 0.0, exc.retry_after)
                        (logger.warning if self.log_failures else logger.debug)(
                            "chain %s: %s via %s failed (%s)%s",
                            self.chain_id,
                            methods[0] if len(methods) == 1 else f"batch of {len(methods)}",
                            endpoint.url,
                            exc,
                            "; trying the next URL" if n > 1 and offset < n - 1 else "",
                        )
                        continue
                    if index != self._preferred:
                        logger.info("chain %s: failing over to %s", self.chain_id, endpoint.url)
                        self.observer.failover(self.chain_id, endpoint.url)
                        self._preferred = index
                    return value
                if round_no < self.max_retries:
                    time.sleep(self._backoff(round_no, retry_after))
            failures = "; ".join(f"{e.url}: {e.last_error}" for e in self._endpoints)
            what = methods[0] if len(set(methods)) == 1 else f"batch of {len(methods)} calls"
            raise RpcUnavailable(
                f"chain {self.chain_id}: {what} failed on every RPC URL "
                f"after {self.max_retries + 1} rounds — {failures}"
            )

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        """One JSON-RPC call with retries and failover."""
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []}

        def check(reply: Any, url: str) -> Any:
            if not isinstance(reply, dict):
                raise _Retryable(f"unexpected reply {str(reply)[:200]}")
            if "error" in reply and reply["error"] is not None:
                err = reply["error"] if isinstance(reply["error"], dict) else {"message": str(reply["error"])}
                if _is_rate_limit(err.get("code"), str(err.get("message", "")), method):
                    raise _Retryable(f"rate limited: [{err.get('code')}] {err.get('message')}")
                raise _response_error(method, err, url)
            if "result" not in reply:
                raise _Retryable(f"reply without result: {str(reply)[:200]}")
            return reply["result"]

        return self._dispatch(payload, [method], check)

    def batch(self, calls: Sequence[JsonCall], *, return_errors: bool = False) -> list[Any]:
        """Many JSON-RPC calls in as few round trips as possible (``batch_size`` per request).

        Results come back in call order. An item's JSON-RPC error raises (or, with
        ``return_errors``, is returned as the ``RpcResponseError`` in its place).
        A node that rejects the batch as a whole gets it again in halves.
        """
        results: list[Any] = []
        for start in range(0, len(calls), self.batch_size):
            results.extend(self._batch_chunk(list(calls[start : start + self.batch_size]), return_errors))
        return results

    def _batch_chunk(self, calls: list[JsonCall], return_errors: bool) -> list[Any]:
        if not calls:
            return []
        if len(calls) == 1:
            try:
                return [self.call(*calls[0])]
            except RpcResponseError as exc:
                if return_errors:
                    return [exc]
                raise
        ids = [next(self._ids) for _ in calls]
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in zip(ids, calls, strict=True)]
        methods = [m for m, _ in calls]

        def check(reply: Any, url: str) -> Any:
            if isinstance(reply, dict):
                err = reply.get("error") or {}
                if _is_rate_limit(err.get("code"), str(err.get("message", ""))):
                    raise _Retryable(f"rate limited: [{err.get('code')}] {err.get('message')}")
                return None  # the whole batch was refused: split it
            if not isinstance(reply, list):
                raise _Retryable(f"unexpected batch reply {str(reply)[:200]}")
            by_id = {r.get("id"): r for r in reply if isinstance(r, dict)}
            out: list[Any] = []
            for i, (method, _params) in zip(ids, calls, strict=True):
                item = by_id.get(i)
                if item is None:
                    return None  # truncated batch (some providers cap it silently): split
                if item.get("error") is not None:
                    err = item["error"] if isinstance(item["error"], dict) else {"message": str(item["error"])}
                    if _is_rate_limit(err.get("code"), str(err.get("message", "")), method):
                        raise _Retryable(f"rate limited: [{err.get('code')}] {err.get('message')}")
                    exc = _response_error(method, err, url)
                    if not return_errors:
                        raise exc
                    out.append(exc)
                else:
                    out.append(item.get("result"))
            return out

        value = self._dispatch(payload, methods, check)
        if value is None:
            half = len(calls) // 2
            logger.info("chain %s: node refused a batch of %d; splitting", self.chain_id, len(calls))
            return self._batch_chunk(calls[:half], return_errors) + self._batch_chunk(calls[half:], return_errors)
        return value

    # --- chain reads --------------------------------------------------------------------

    def block_number(self) -> int:
        return _int(self.call("eth_blockNumber"))

    def get_block_header(self, tag_or_number: int | str = "latest") -> BlockHeader:
        raw = self.call("eth_getBlockByNumber", [_block_param(tag_or_number), False])
        if raw is None:
            raise RpcResponseError(
                "eth_getBlockByNumber", None, f"block {tag_or_number} not found", url=self.current_url
            )
        return header_from_json(raw)

    def get_block_headers(self, numbers: Sequence[int]) -> list[BlockHeader]:
        """Headers of the given blocks, batched; raises if one does not exist (yet)."""
        raws = self.batch([("eth_getBlockByNumber", [_hex(n), False]) for n in numbers])
        headers = []
        for number, raw in zip(numbers, raws, strict=True):
            if raw is None:
                raise RpcResponseError("eth_getBlockByNumber", None, f"block {number} not found", url=self.current_url)
            headers.append(header_from_json(raw))
        return headers

    def get_logs(
        self,
        from_block: int,
        to_block: int,
        *,
        topics: Sequence[Sequence[str] | str | None] | None = None,
        addresses: Sequence[str] | None = None,
        source: str | None = None,
    ) -> list[LogRecord]:
        """Logs of [from_block, to_block] matching the filter, sorted by (block, log_index).

        The source is the chain's ``log_source``: ``eth_getLogs`` (chunked by
        ``log_chunk_blocks``, halved when the node says the answer is too big) or
        ``eth_getBlockReceipts`` (every receipt of every block, batched, filtered here).
        """
        if to_block < from_block:
            return []
        source = source or self.log_source
        if source == "eth_getBlockReceipts":
            logs = self._logs_from_receipts(from_block, to_block, topics=topics, addresses=addresses)
        else:
            logs = []
            try:
                for start in range(from_block, to_block + 1, self.log_chunk_blocks):
                    end = min(start + self.log_chunk_blocks - 1, to_block)
                    logs.extend(self._get_logs_range(start, end, topics, addresses))
            except MethodNotSupported as exc:
                # BSC's public endpoints disable eth_getLogs: switch this client over for good.
                logger.warning(
                    "chain %s: %s; reading logs from eth_getBlockReceipts from now on "
                    "(set CHAIN_%s_LOG_SOURCE=eth_getBlockReceipts to say so in the configuration)",
                    self.chain_id,
                    exc,
                    self.chain_id,
                )
                self.log_source = "eth_getBlockReceipts"
                logs = self._logs_from_receipts(from_block, to_block, topics=topics, addresses=addresses)
        logs.sort(key=lambda log: (log.block_number, log.log_index))
        return logs

    def _get_logs_range(
        self, start: int, end: int, topics: Sequence[Any] | None, addresses: Sequence[str] | None
    ) -> list[LogRecord]:
        filter_: dict[str, Any] = {"fromBlock": _hex(start), "toBlock": _hex(end)}
        if topics:
            filter_["topics"] = [None if t is None else ([t] if isinstance(t, str) else list(t)) for t in topics]
        if addresses:
            filter_["address"] = list(addresses)
        try:
            raws = self.call("eth_getLogs", [filter_])
        except LogRangeTooLarge:
            if start >= end:
                raise
            middle = (start + end) // 2
            logger.info("chain %s: eth_getLogs %d-%d too large; halving", self.chain_id, start, end)
            return self._get_logs_range(start, middle, topics, addresses) + self._get_logs_range(
                middle + 1, end, topics, addresses
            )
        return [log_from_json(raw) for raw in raws or () if not raw.get("removed")]

    def _logs_from_receipts(
        self, from_block: int, to_block: int, *, topics: Sequence[Any] | None, addresses: Sequence[str] | None
    ) -> list[LogRecord]:
        numbers = list(range(from_block, to_block + 1))
        replies = self.batch([("eth_getBlockReceipts", [_hex(n)]) for n in numbers])
        logs: list[LogRecord] = []
        for number, receipts in zip(numbers, replies, strict=True):
            if receipts is None:
                raise RpcResponseError("eth_getBlockReceipts", None, f"block {number} not found", url=self.current_url)
            for receipt in receipts:
                for raw in receipt.get("logs") or ():
                    log = log_from_json(raw)
                    if log_matches(log, topics=topics, addresses=addresses):
                        logs.append(log)
        return logs

    def get_receipts(self, tx_hashes: Sequence[str]) -> dict[str, Receipt]:
        """Receipts by (lowercase) hash, batched; hashes the node does not know are absent."""
        hashes = list(dict.fromkeys(h.lower() for h in tx_hashes))
        raws = self.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        return {h: receipt_from_json(raw) for h, raw in zip(hashes, raws, strict=True) if raw is not None}

    def get_transactions(self, tx_hashes: Sequence[str]) -> dict[str, Transaction]:
        hashes = list(dict.fromkeys(h.lower() for h in tx_hashes))
        raws = self.batch([("eth_getTransactionByHash", [h]) for h in hashes])
        return {h: transaction_from_json(raw) for h, raw in zip(hashes, raws, strict=True) if raw is not None}

    def eth_call(self, to: str, data: bytes | str, block: int | str | None = None) -> bytes:
        payload = data if isinstance(data, str) else "0x" + data.hex()
        return _bytes(self.call("eth_call", [{"to": to, "data": payload}, _block_param(block)]))

    def multicall(
        self, calls: Sequence[Call], *, block: int | str | None = None, allow_failure: bool = True
    ) -> list[CallResult]:
        """Many contract reads through Multicall3 ``aggregate3``.

        ``multicall_chunk`` sub-calls per ``eth_call``, and the chunks themselves
        sent as one JSON-RPC batch: N reads cost ceil(N / chunk / batch_size)
        round trips. ``allow_failure=False`` makes any failing sub-call revert the
        chunk (raised as ``RpcResponseError``).
        """
        if not calls:
            return []
        block_param = _block_param(block)
        chunks = [list(calls[i : i + self.multicall_chunk]) for i in range(0, len(calls), self.multicall_chunk)]
        requests_: list[JsonCall] = []
        for chunk in chunks:
            data = aggregate3_encode(chunk, allow_failure=allow_failure)
            requests_.append(("eth_call", [{"to": self.multicall3, "data": data}, block_param]))
        replies = self.batch(requests_)
        results: list[CallResult] = []
        for chunk, reply in zip(chunks, replies, strict=True):
            decoded = aggregate3_decode(_bytes(reply))
            if len(decoded) != len(chunk):
                raise RpcResponseError("eth_call", None, f"Multicall3 returned {len(decoded)} results for {len(chunk)}")
            results.extend(CallResult(bool(ok), bytes(data)) for ok, data in decoded)
        return results


# --- subscriptions (async, WebSocket) -------------------------------------------------------


async def new_heads(
    url: str,
    *,
    stop: asyncio.Event,
    on_subscribed: Callable[[], None] | None = None,
    open_timeout: float = 10.0,
) -> AsyncIterator[int]:
    """Block numbers of a chain's new heads over one WebSocket: the current head at once (``eth_blockNumber``,
    so a reconnect catches up), then one per ``newHeads`` notification, until ``stop`` is set.

    Raises ``SubscriptionRefused`` when the node refuses ``eth_subscribe``; a broken connection raises the
    ``websockets``/``OSError`` exception, and the caller decides how to reconnect (``scanning.headwatch``).
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    async with connect(url, open_timeout=open_timeout, ping_interval=20, ping_timeout=20, max_size=2**22) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}))
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe", "params": ["newHeads"]}))
        subscription: str | None = None
        stopping = asyncio.create_task(stop.wait())
        try:
            while True:
                receiving = asyncio.create_task(ws.recv())
                done, _ = await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stopping in done:
                    receiving.cancel()
                    with contextlib.suppress(asyncio.CancelledError, WebSocketException):
                        await receiving
                    return
                message = json.loads(receiving.result())
                if message.get("method") == "eth_subscription":
                    params = message["params"]
                    if params.get("subscription") == subscription:
                        yield _int(params["result"]["number"])
                elif message.get("id") == 2:
                    if message.get("error"):
                        error = message["error"]
                        raise SubscriptionRefused(
                            str(error.get("message", error) if isinstance(error, dict) else error)
                        )
                    subscription = str(message["result"])
                    if on_subscribed is not None:
                        on_subscribed()
                elif message.get("id") == 1 and message.get("result"):
                    yield _int(message["result"])
        finally:
            stopping.cancel()
