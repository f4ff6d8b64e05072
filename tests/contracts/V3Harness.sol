// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

// Test harness for the genuine Uniswap V3, PancakeSwap V3 and Algebra pools: it
// holds the tokens, pays the mint and swap callbacks of all three families, and
// runs a batch of swaps in one transaction (a failing swap is reported, not fatal).

interface IERC20Like {
    function transfer(address to, uint256 value) external returns (bool);
}

interface IPoolLike {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function swap(address recipient, bool zeroForOne, int256 amountSpecified, uint160 sqrtPriceLimitX96, bytes calldata data)
        external
        returns (int256, int256);
    function burn(int24 tickLower, int24 tickUpper, uint128 amount) external returns (uint256, uint256);
}

interface IUniswapStylePool {
    function mint(address recipient, int24 tickLower, int24 tickUpper, uint128 amount, bytes calldata data)
        external
        returns (uint256, uint256);
}

interface IAlgebraStylePool {
    function mint(address sender, address recipient, int24 bottomTick, int24 topTick, uint128 amount, bytes calldata data)
        external
        returns (uint256, uint256, uint128);
}

contract V3Harness {
    struct Order {
        bool zeroForOne;
        int256 amountSpecified;
        uint160 sqrtPriceLimitX96;
    }

    event SwapFailed(uint256 index, bytes reason);

    function mint(address pool, bool algebra, int24 lower, int24 upper, uint128 amount) external {
        if (algebra) {
            IAlgebraStylePool(pool).mint(address(this), address(this), lower, upper, amount, "");
        } else {
            IUniswapStylePool(pool).mint(address(this), lower, upper, amount, "");
        }
    }

    function burn(address pool, int24 lower, int24 upper, uint128 amount) external {
        IPoolLike(pool).burn(lower, upper, amount);
    }

    function swaps(address pool, Order[] calldata orders) external {
        for (uint256 i = 0; i < orders.length; i++) {
            Order calldata o = orders[i];
            try IPoolLike(pool).swap(address(this), o.zeroForOne, o.amountSpecified, o.sqrtPriceLimitX96, "") {}
            catch (bytes memory reason) {
                emit SwapFailed(i, reason);
            }
        }
    }

    function _pay(int256 amount0, int256 amount1) internal {
        if (amount0 > 0) IERC20Like(IPoolLike(msg.sender).token0()).transfer(msg.sender, uint256(amount0));
        if (amount1 > 0) IERC20Like(IPoolLike(msg.sender).token1()).transfer(msg.sender, uint256(amount1));
    }

    function uniswapV3SwapCallback(int256 amount0, int256 amount1, bytes calldata) external {
        _pay(amount0, amount1);
    }

    function pancakeV3SwapCallback(int256 amount0, int256 amount1, bytes calldata) external {
        _pay(amount0, amount1);
    }

    function algebraSwapCallback(int256 amount0, int256 amount1, bytes calldata) external {
        _pay(amount0, amount1);
    }

    function uniswapV3MintCallback(uint256 amount0, uint256 amount1, bytes calldata) external {
        _pay(int256(amount0), int256(amount1));
    }

    function pancakeV3MintCallback(uint256 amount0, uint256 amount1, bytes calldata) external {
        _pay(int256(amount0), int256(amount1));
    }

    function algebraMintCallback(uint256 amount0, uint256 amount1, bytes calldata) external {
        _pay(int256(amount0), int256(amount1));
    }
}
