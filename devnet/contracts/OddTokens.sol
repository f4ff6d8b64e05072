// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./Tokens.sol";

/// @title Token that burns a fee on every transfer (SafeMoon-style), so a pool
/// receives less than the sender sent: scanners must not trust router amounts.
contract FeeOnTransferToken is DevToken {
    uint256 public immutable transferFeeBps;

    constructor(string memory name_, string memory symbol_, uint8 decimals_, uint256 feeBps_)
        DevToken(name_, symbol_, decimals_)
    {
        require(feeBps_ < 10000, "FOT: fee");
        transferFeeBps = feeBps_;
    }

    function _transfer(address from, address to, uint256 amount) internal override {
        uint256 fee = (amount * transferFeeBps) / 10000;
        super._transfer(from, to, amount - fee);
        if (fee > 0) {
            super._transfer(from, address(0xdEaD), fee);
        }
    }
}

/// @title Token whose symbol() and name() return bytes32 (as MKR and SAI do).
contract Bytes32SymbolToken is DevToken {
    bytes32 internal immutable _symbol32;

    constructor(bytes32 symbol32_, uint8 decimals_) DevToken("", "", decimals_) {
        _symbol32 = symbol32_;
    }

    function symbol() external view override returns (string memory) {
        // The declared ABI type is string only to satisfy the override; the raw
        // return data is a single bytes32 word, like MKR's.
        bytes32 s = _symbol32;
        assembly {
            mstore(0, s)
            return(0, 32)
        }
    }
}

/// @title Token whose decimals() reverts (some early tokens lack the function).
contract NoDecimalsToken is DevToken {
    constructor(string memory name_, string memory symbol_) DevToken(name_, symbol_, 18) {}

    function decimals() external pure override returns (uint8) {
        revert("no decimals");
    }
}
