"""Thin JSON-RPC + ABI helpers for the devnet.

Deployment and the simulator send hundreds of transactions per second of wall
time; going through web3's contract layer for each costs more than the node
does, so they encode calldata with eth_abi and talk JSON-RPC directly. A
web3.Web3 instance is still exposed (`Chain.w3`) for callers that want it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import rlp
from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from devnet.compile import load_artifact
from evm.rpc import ChainClient, RpcResponseError


def abi_type(param: dict[str, Any]) -> str:
    """Canonical ABI type string of one input/output (tuples expanded)."""
    t = param["type"]
    if t.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param["components"])
        return f"({inner})" + t[len("tuple") :]
    return t


def event_signature(event: dict[str, Any]) -> str:
    return f"{event['name']}({','.join(abi_type(i) for i in event['inputs'])})"


def event_topic(event: dict[str, Any]) -> str:
    return "0x" + keccak(text=event_signature(event)).hex()


@dataclass(frozen=True)
class Fn:
    name: str
    selector: bytes
    inputs: list[str]
    outputs: list[str]

    def encode(self, *args: Any) -> str:
        return "0x" + (self.selector + encode(self.inputs, list(args))).hex()

    def decode(self, data: bytes | str) -> tuple[Any, ...]:
        raw = bytes.fromhex(data[2:]) if isinstance(data, str) else data
        return tuple(decode(self.outputs, raw))


class Abi:
    """Function encoders and event topics of one compiled contract (``artifact``: abi, bytecode and
    deployedBytecode; by default ours, compiled from devnet/contracts)."""

    def __init__(self, contract_name: str, artifact: dict[str, Any] | None = None) -> None:
        art = load_artifact(contract_name) if artifact is None else artifact
        self.name = contract_name
        self.abi: list[dict[str, Any]] = art["abi"]
        self.bytecode: str = art["bytecode"]
        self.deployed_bytecode: str = art["deployedBytecode"]
        self.fns: dict[str, Fn] = {}
        self.events: dict[str, dict[str, Any]] = {}
        for item in self.abi:
            if item["type"] == "function":
                ins = [abi_type(i) for i in item["inputs"]]
                sel = keccak(text=f"{item['name']}({','.join(ins)})")[:4]
                self.fns[item["name"]] = Fn(item["name"], sel, ins, [abi_type(o) for o in item["outputs"]])
            elif item["type"] == "event":
                self.events[item["name"]] = item

    def __getattr__(self, item: str) -> Fn:
        try:
            return self.__dict__["fns"][item]
        except KeyError:
            raise AttributeError(item) from None

    def deploy_data(self, types: list[str] | None = None, args: list[Any] | None = None) -> str:
        ctor = encode(types, args or []).hex() if types else ""
        return self.bytecode + ctor

    def topic(self, event: str) -> str:
        return event_topic(self.events[event])


_ABIS: dict[str, Abi] = {}


def abi(contract_name: str) -> Abi:
    """Cached Abi per contract name."""
    if contract_name not in _ABIS:
        _ABIS[contract_name] = Abi(contract_name)
    return _ABIS[contract_name]


def create_address(sender: str, nonce: int) -> str:
    """Address of the contract that `sender` creates with `nonce` (CREATE)."""
    return to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


class RpcError(RuntimeError):
    pass


class Chain:
    """JSON-RPC client with local nonce tracking for unlocked dev accounts."""

    def __init__(self, rpc_url: str, timeout: float = 60.0) -> None:
        self.rpc_url = rpc_url
        self.timeout = timeout
        # The project's one JSON-RPC client; no retries: a resent eth_sendTransaction could land twice.
        self.client = ChainClient(
            chain_id=0, rpc_urls=(rpc_url,), timeout=timeout, max_retries=0, verify_chain_id=False, batch_size=1000
        )
        self._nonces: dict[str, int] = {}
        self.default_gas_price = 1_000_000_000
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))

    # --- raw JSON-RPC ---
    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        try:
            return self.client.call(method, params or [])
        except RpcResponseError as exc:
            raise RpcError(f"{method}: {exc.message} {exc.data or ''}".rstrip()) from exc

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Several requests in one HTTP round trip; errors raise."""
        try:
            return self.client.batch(calls)
        except RpcResponseError as exc:
            raise RpcError(f"{exc.method}: {exc.message}") from exc

    # --- helpers ---
    @property
    def chain_id(self) -> int:
        return int(self.rpc("eth_chainId"), 16)

    def accounts(self) -> list[str]:
        return [to_checksum_address(a) for a in self.rpc("eth_accounts")]

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def nonce(self, account: str) -> int:
        """Next nonce, tracked locally after the first look-up (pending txs count)."""
        if account not in self._nonces:
            self._nonces[account] = int(self.rpc("eth_getTransactionCount", [account, "pending"]), 16)
        return self._nonces[account]

    def reset_nonces(self) -> None:
        """Forget tracked nonces (after evm_revert, or a dropped tx)."""
        self._nonces.clear()

    def tx(
        self,
        sender: str,
        to: str | None,
        data: str = "0x",
        value: int = 0,
        gas: int = 1_000_000,
        gas_price: int | None = None,
    ) -> dict[str, Any]:
        """Transaction params with an explicit nonce; consumes the nonce."""
        nonce = self.nonce(sender)
        self._nonces[sender] = nonce + 1
        tx: dict[str, Any] = {"from": sender, "data": data, "gas": hex(gas), "nonce": hex(nonce), "value": hex(value)}
        if to is not None:
            tx["to"] = to
        tx["gasPrice"] = hex(self.default_gas_price if gas_price is None else gas_price)
        return tx

    def send(self, sender: str, to: str | None, data: str = "0x", **kw: Any) -> str:
        return self.rpc("eth_sendTransaction", [self.tx(sender, to, data, **kw)])

    def send_many(self, txs: list[dict[str, Any]]) -> list[str]:
        """Send in order, one request each.

        Not one JSON-RPC batch: anvil serves a batch's requests concurrently, so a
        sender's transactions can arrive out of nonce order, and now and then one
        with exactly the next nonce stays in anvil's queued pool for good (seen as
        "deployment transaction … failed: None" about one session in six).
        """
        return [self.rpc("eth_sendTransaction", [t]) for t in txs]

    def call(self, to: str, data: str, block: str = "latest") -> bytes:
        return bytes.fromhex(self.rpc("eth_call", [{"to": to, "data": data}, block])[2:])

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        return self.rpc("eth_getTransactionReceipt", [tx_hash])

    def receipts(self, tx_hashes: list[str]) -> list[dict[str, Any] | None]:
        return self.batch([("eth_getTransactionReceipt", [h]) for h in tx_hashes])

    def mine(self, blocks: int = 1) -> None:
        """Mine `blocks` blocks now (anvil_mine does it in one call)."""
        if blocks == 1:
            self.rpc("evm_mine")
        elif blocks > 1:
            self.rpc("anvil_mine", [hex(blocks)])

    def snapshot(self) -> str:
        return self.rpc("evm_snapshot")

    def revert(self, snapshot_id: str) -> bool:
        self.reset_nonces()
        return bool(self.rpc("evm_revert", [snapshot_id]))
