// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./V2Factory.sol";

interface IV2FactoryMin {
    function getPair(address a, address b) external view returns (address);
    function createPair(address a, address b) external returns (address);
}

interface IPerPairFee {
    function swapFee() external view returns (uint32);
}

interface IERC20Min {
    function balanceOf(address owner) external view returns (uint256);
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @title Router for one V2 factory (ours or the genuine Uniswap V2 one):
/// liquidity and exact-input multi-hop swaps.
/// @dev Pairs are looked up with factory.getPair (no init-code hash to keep in sync).
/// The fee is the DEX's (`feeBps`), or each pair's `swapFee()` with `perPairFees` (Biswap).
contract V2Router {
    IV2FactoryMin public immutable factory;
    uint16 public immutable feeBps;
    bool public immutable perPairFees;

    modifier ensure(uint256 deadline) {
        require(deadline >= block.timestamp, "Router: EXPIRED");
        _;
    }

    constructor(address factory_, uint16 feeBps_, bool perPairFees_) {
        factory = IV2FactoryMin(factory_);
        feeBps = feeBps_;
        perPairFees = perPairFees_;
    }

    // --- pure maths (same rounding as the pair) ---
    function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) public view returns (uint256) {
        return _amountOut(amountIn, reserveIn, reserveOut, feeBps);
    }

    function _fee(address pair) internal view returns (uint256) {
        return perPairFees ? uint256(IPerPairFee(pair).swapFee()) * 10 : feeBps;
    }

    function _amountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut, uint256 fee)
        internal
        pure
        returns (uint256)
    {
        require(amountIn > 0, "Router: INSUFFICIENT_INPUT_AMOUNT");
        require(reserveIn > 0 && reserveOut > 0, "Router: INSUFFICIENT_LIQUIDITY");
        uint256 amountInWithFee = amountIn * (10000 - fee);
        return (amountInWithFee * reserveOut) / (reserveIn * 10000 + amountInWithFee);
    }

    function quote(uint256 amountA, uint256 reserveA, uint256 reserveB) public pure returns (uint256) {
        require(amountA > 0, "Router: INSUFFICIENT_AMOUNT");
        require(reserveA > 0 && reserveB > 0, "Router: INSUFFICIENT_LIQUIDITY");
        return (amountA * reserveB) / reserveA;
    }

    function _pair(address a, address b) internal view returns (address pair) {
        pair = factory.getPair(a, b);
        require(pair != address(0), "Router: NO_PAIR");
    }

    function _reserves(address a, address b) internal view returns (uint256 ra, uint256 rb, address pair) {
        pair = _pair(a, b);
        (uint112 r0, uint112 r1, ) = V2Pair(pair).getReserves();
        (ra, rb) = a < b ? (uint256(r0), uint256(r1)) : (uint256(r1), uint256(r0));
    }

    function getAmountsOut(uint256 amountIn, address[] memory path) public view returns (uint256[] memory amounts) {
        require(path.length >= 2, "Router: INVALID_PATH");
        amounts = new uint256[](path.length);
        amounts[0] = amountIn;
        for (uint256 i; i < path.length - 1; i++) {
            (uint256 rIn, uint256 rOut, address pair) = _reserves(path[i], path[i + 1]);
            amounts[i + 1] = _amountOut(amounts[i], rIn, rOut, _fee(pair));
        }
    }

    // --- liquidity ---
    function addLiquidity(
        address tokenA,
        address tokenB,
        uint256 amountADesired,
        uint256 amountBDesired,
        uint256 amountAMin,
        uint256 amountBMin,
        address to,
        uint256 deadline
    ) external ensure(deadline) returns (uint256 amountA, uint256 amountB, uint256 liquidity) {
        if (factory.getPair(tokenA, tokenB) == address(0)) {
            factory.createPair(tokenA, tokenB);
        }
        (uint256 rA, uint256 rB, address pair) = _reserves(tokenA, tokenB);
        if (rA == 0 && rB == 0) {
            (amountA, amountB) = (amountADesired, amountBDesired);
        } else {
            uint256 bOptimal = quote(amountADesired, rA, rB);
            if (bOptimal <= amountBDesired) {
                require(bOptimal >= amountBMin, "Router: INSUFFICIENT_B_AMOUNT");
                (amountA, amountB) = (amountADesired, bOptimal);
            } else {
                uint256 aOptimal = quote(amountBDesired, rB, rA);
                require(aOptimal <= amountADesired && aOptimal >= amountAMin, "Router: INSUFFICIENT_A_AMOUNT");
                (amountA, amountB) = (aOptimal, amountBDesired);
            }
        }
        _pull(tokenA, msg.sender, pair, amountA);
        _pull(tokenB, msg.sender, pair, amountB);
        liquidity = V2Pair(pair).mint(to);
    }

    function removeLiquidity(
        address tokenA,
        address tokenB,
        uint256 liquidity,
        uint256 amountAMin,
        uint256 amountBMin,
        address to,
        uint256 deadline
    ) external ensure(deadline) returns (uint256 amountA, uint256 amountB) {
        address pair = _pair(tokenA, tokenB);
        V2Pair(pair).transferFrom(msg.sender, pair, liquidity);
        (uint256 amount0, uint256 amount1) = V2Pair(pair).burn(to);
        (amountA, amountB) = tokenA < tokenB ? (amount0, amount1) : (amount1, amount0);
        require(amountA >= amountAMin, "Router: INSUFFICIENT_A_AMOUNT");
        require(amountB >= amountBMin, "Router: INSUFFICIENT_B_AMOUNT");
    }

    // --- swaps ---
    function swapExactTokensForTokens(
        uint256 amountIn,
        uint256 amountOutMin,
        address[] calldata path,
        address to,
        uint256 deadline
    ) external ensure(deadline) returns (uint256[] memory amounts) {
        amounts = getAmountsOut(amountIn, path);
        require(amounts[amounts.length - 1] >= amountOutMin, "Router: INSUFFICIENT_OUTPUT_AMOUNT");
        _pull(path[0], msg.sender, _pair(path[0], path[1]), amounts[0]);
        for (uint256 i; i < path.length - 1; i++) {
            (address input, address output) = (path[i], path[i + 1]);
            uint256 amountOut = amounts[i + 1];
            (uint256 amount0Out, uint256 amount1Out) = input < output ? (uint256(0), amountOut) : (amountOut, uint256(0));
            address next = i < path.length - 2 ? _pair(output, path[i + 2]) : to;
            V2Pair(_pair(input, output)).swap(amount0Out, amount1Out, next, new bytes(0));
        }
    }

    function _pull(address token, address from, address to, uint256 value) private {
        (bool ok, bytes memory data) = token.call(
            abi.encodeWithSelector(IERC20Min.transferFrom.selector, from, to, value)
        );
        require(ok && (data.length == 0 || abi.decode(data, (bool))), "Router: TRANSFER_FROM_FAILED");
    }
}
