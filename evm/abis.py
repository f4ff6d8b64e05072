"""Minimal ABIs: function selectors and return decoders for ERC-20, V2 pairs and factories; event topics.

Selectors are computed from their signatures with keccak (tests pin a few
well-known values). Decoders are tolerant: a missing or malformed return is
None, never an exception, because mainnet is full of odd tokens.
"""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak, to_checksum_address


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def event_topic(signature: str) -> str:
    """topic0 of an event signature such as ``Sync(uint112,uint112)``, 0x-prefixed lowercase hex."""
    return "0x" + keccak(text=signature).hex()


class EventDecodeError(ValueError):
    """A log does not have the shape of the event it was decoded as (the DEX families' decoders raise it)."""


# ERC-20
SYMBOL = selector("symbol()")
NAME = selector("name()")
DECIMALS = selector("decimals()")
# Uniswap V2 pair
GET_RESERVES = selector("getReserves()")
TOKEN0 = selector("token0()")
TOKEN1 = selector("token1()")
FACTORY = selector("factory()")
# Uniswap V2 factory
ALL_PAIRS_LENGTH = selector("allPairsLength()")
ALL_PAIRS = selector("allPairs(uint256)")
GET_PAIR = selector("getPair(address,address)")
# TransferProbe (below)
PROBE = selector("probe(address)")


def call_all_pairs(index: int) -> bytes:
    return ALL_PAIRS + encode(["uint256"], [index])


def call_get_pair(token_a: str, token_b: str) -> bytes:
    return GET_PAIR + encode(["address", "address"], [token_a, token_b])


def call_probe(token: str) -> bytes:
    return PROBE + encode(["address"], [token])


def decode_uint(data: bytes) -> int | None:
    if len(data) < 32:
        return None
    return int.from_bytes(data[:32], "big")


def decode_address(data: bytes) -> str | None:
    if len(data) < 32 or any(data[:12]):
        return None
    raw = data[12:32]
    return None if not any(raw) else to_checksum_address(raw)


def decode_reserves(data: bytes) -> tuple[int, int] | None:
    """(reserve0, reserve1) of getReserves() (the third word, the timestamp, is ignored)."""
    if len(data) < 64:
        return None
    return int.from_bytes(data[:32], "big"), int.from_bytes(data[32:64], "big")


def decode_decimals(data: bytes) -> int | None:
    """decimals() as uint8; anything out of range (or no answer) is unknown."""
    value = decode_uint(data)
    return value if value is not None and value <= 77 else None


def decode_text(data: bytes) -> str | None:
    """A string return, or a bytes32 one (MKR-style symbol()), as text."""
    if len(data) == 32:  # bytes32
        return _clean(data.rstrip(b"\0"))
    if len(data) >= 64:
        offset = int.from_bytes(data[:32], "big")
        if offset + 32 <= len(data):
            length = int.from_bytes(data[offset : offset + 32], "big")
            if offset + 32 + length <= len(data):
                return _clean(data[offset + 32 : offset + 32 + length])
        return _clean(data[:32].rstrip(b"\0"))
    return None


def _clean(raw: bytes) -> str | None:
    text = raw.decode("utf-8", errors="replace").replace("\x00", "").strip()
    return "".join(ch for ch in text if ch.isprintable())[:64] or None


def decode_probe(data: bytes) -> tuple[int, int] | None:
    if len(data) < 64:
        return None
    return int.from_bytes(data[:32], "big"), int.from_bytes(data[32:64], "big")


# Runtime code of TransferProbe, solc 0.8.37 (npm, pinned in package.json), optimizer 200 runs,
# evm cancun. It is only ever used as an eth_call state override, never deployed:
#
#   contract TransferProbe {
#       function probe(address token) external returns (uint256 sent, uint256 received) {
#           address sink = address(uint160(uint256(keccak256("arbmonitor.transfer-probe"))));
#           sent = IERC20Probe(token).balanceOf(address(this)) / 100;
#           if (sent == 0) return (0, 0);
#           uint256 before = IERC20Probe(token).balanceOf(sink);
#           (bool ok, bytes memory ret) = token.call(abi.encodeWithSelector(0xa9059cbb, sink, sent));
#           require(ok && (ret.length == 0 || abi.decode(ret, (bool))), "transfer failed");
#           received = IERC20Probe(token).balanceOf(sink) - before;
#       }
#   }
TRANSFER_PROBE_RUNTIME = "0x" + (
    "608060405234801561000f575f5ffd5b5060043610610029575f3560e01c8063275e5da51461002d575b5f5ffd5b61004061"
    "003b36600461030e565b610059565b6040805192835260208301919091520160405180910390f35b6040516370a0823160e0"
    "1b81523060048201525f9081907fd7799caef9a484c12300e7131e19fa80ce2a6b9ffc31520355624c16864250c190606490"
    "6001600160a01b038616906370a0823190602401602060405180830381865afa1580156100c4573d5f5f3e3d5ffd5b505050"
    "506040513d601f19601f820116820180604052508101906100e8919061033b565b6100f29190610352565b9250825f036101"
    "0657505f93849350915050565b6040516370a0823160e01b81526001600160a01b0382811660048301525f91908616906370"
    "a0823190602401602060405180830381865afa15801561014d573d5f5f3e3d5ffd5b505050506040513d601f19601f820116"
    "82018060405250810190610171919061033b565b90505f5f866001600160a01b031663a9059cbb85886040516024016101ab"
    "9291906001600160a01b03929092168252602082015260400190565b6040516020818303038152906040529060e01b602082"
    "0180516001600160e01b0383818316178352505050506040516101e49190610371565b5f604051808303815f865af1915050"
    "3d805f811461021d576040519150601f19603f3d011682016040523d82523d5f602084013e610222565b606091505b509150"
    "915081801561024c57508051158061024c57508080602001905181019061024c9190610387565b61028e5760405162461bcd"
    "60e51b815260206004820152600f60248201526e1d1c985b9cd9995c8819985a5b1959608a1b604482015260640160405180"
    "910390fd5b6040516370a0823160e01b81526001600160a01b0385811660048301528491908916906370a082319060240160"
    "2060405180830381865afa1580156102d5573d5f5f3e3d5ffd5b505050506040513d601f19601f8201168201806040525081"
    "01906102f9919061033b565b61030391906103a6565b945050505050915091565b5f6020828403121561031e575f5ffd5b81"
    "356001600160a01b0381168114610334575f5ffd5b9392505050565b5f6020828403121561034b575f5ffd5b505191905056"
    "5b5f8261036c57634e487b7160e01b5f52601260045260245ffd5b500490565b5f82518060208501845e5f92019182525091"
    "9050565b5f60208284031215610397575f5ffd5b81518015158114610334575f5ffd5b818103818111156103c557634e487b"
    "7160e01b5f52601160045260245ffd5b9291505056fea26469706673582212206ed7521504acc99b09ca994cb8aea6ebd77d"
    "4136c8ca3037d5c508333ee0e6e764736f6c63430008250033"
)
