"""Address and hash recognition (pure)."""

from __future__ import annotations

import re

from eth_utils import to_checksum_address

ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
BLOCK_RE = re.compile(r"^[0-9]{1,12}$")
SYMBOL_RE = re.compile(r"^[A-Za-z0-9.\-_$+]{1,64}$")


def is_address(value: str) -> bool:
    return bool(ADDRESS_RE.match(value))


def checksum(value: str) -> str:
    """The EIP-55 spelling, as the scanners store addresses."""
    return str(to_checksum_address(value))
