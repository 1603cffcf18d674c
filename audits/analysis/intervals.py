"""Rates and their Wilson score intervals for binomial proportions (pure NumPy, no scipy).

The Wilson interval stays inside [0, 1] and behaves sensibly at 0 and n successes, unlike
the normal-approximation interval, which collapses to zero width there: exactly where a
small group could otherwise look certain.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np


def z_value(confidence: float) -> float:
    """Two-sided standard normal quantile for ``confidence`` (0.95 -> 1.95996...)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(
    successes: np.ndarray | int, trials: np.ndarray | int, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``successes`` out of ``trials``, element-wise.

    low, high = (p + z²/2n ∓ z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), with p = k/n.
    Where ``trials`` is 0 both bounds are NaN (no information); callers turn that into
    an undefined value.
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = z_value(confidence)
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1.0 + z2 / n
        centre = (p + z2 / (2.0 * n)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    # Exact bounds at 0 and n successes, where rounding would leave a 1e-17 residue.
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    low, high = np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)
    return low, high


@dataclass(frozen=True)
class Value:
    """A metric value, or None with the reason it is undefined; optional interval."""

    value: float | None
    reason: str | None = None
    interval: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value}
        if self.reason:
            out["reason"] = self.reason
        if self.interval is not None:
            out["interval"] = list(self.interval)
        return out


def rates(num: np.ndarray, den: np.ndarray, reason: str) -> list[Value]:
    """num / den element-wise; None with ``reason`` where den is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = num / den
    return [
        Value(float(r)) if d > 0 else Value(None, reason) for r, d in zip(rate, den, strict=True)
    ]


def with_intervals(
    values: list[Value], num: np.ndarray, den: np.ndarray, confidence: float
) -> list[Value]:
    """The same values with the Wilson interval of num out of den attached."""
    low, high = wilson_interval(num, den, confidence)
    return [
        Value(v.value, v.reason, (float(lo), float(hi)) if v.value is not None else None)
        for v, lo, hi in zip(values, low, high, strict=True)
    ]
