"""Cleveland's (1979) robust locally weighted regression, with the conventions of R's ``stats::lowess``.

DESeq2's ``results()`` picks its independent-filtering threshold from a lowess fit of the
number of rejections against the filter quantile. PyDESeq2 uses its own lowess, which
differs from R's by up to 1.5 rejections on pasilla — enough to move the chosen cut-off.
This is the algorithm as R applies it: span ``ns = max(2, min(n, floor(f·n + 1e-7)))``
nearest neighbours with tricube weights (weight 1 inside 0.1 % of the radius, 0 beyond
99.9 %), a local line only when the weighted x spread exceeds 0.1 % of the x range, points
within ``delta`` of the last fitted one interpolated, and ``iter`` robustness steps with
bisquare weights on 6 × the median absolute residual.
"""

from __future__ import annotations

import numpy as np

__all__ = ["r_lowess"]


def _local_fit(x: np.ndarray, y: np.ndarray, xs: float, left: int, right: int, robust: np.ndarray | None) -> float | None:
    """The fitted value at ``xs`` from the neighbourhood ``x[left..right]`` (ties to the right included); None if all weights are 0."""
    n = len(x)
    radius = max(xs - x[left], x[right] - xs)
    weights = np.zeros(n)
    total = 0.0
    j = left
    while j < n:
        distance = abs(x[j] - xs)
        if distance <= 0.999 * radius:
            weights[j] = 1.0 if distance <= 0.001 * radius else (1.0 - (distance / radius) ** 3) ** 3
            if robust is not None:
                weights[j] *= robust[j]
            total += weights[j]
        elif x[j] > xs:
            break
        j += 1
    last = j - 1
    if total <= 0.0:
        return None
    window = slice(left, last + 1)
    w = weights[window] / total
    if radius > 0.0:
        centre = float(np.sum(w * x[window]))
        spread = float(np.sum(w * (x[window] - centre) ** 2))
        if np.sqrt(spread) > 0.001 * (x[-1] - x[0]):
            w = w * ((xs - centre) / spread * (x[window] - centre) + 1.0)
    return float(np.sum(w * y[window]))


def _smooth(x: np.ndarray, y: np.ndarray, ns: int, delta: float, robust: np.ndarray | None) -> np.ndarray:
    n = len(x)
    fitted = np.zeros(n)
    left, right, last, i = 0, ns - 1, -1, 0
    while True:
        if right < n - 1 and x[i] - x[left] > x[right + 1] - x[i]:
            left, right = left + 1, right + 1
            continue
        value = _local_fit(x, y, x[i], left, right, robust)
        fitted[i] = y[i] if value is None else value
        if last < i - 1:  # points skipped within delta: linear interpolation
            span = x[i] - x[last]
            for j in range(last + 1, i):
                alpha = (x[j] - x[last]) / span
                fitted[j] = alpha * fitted[i] + (1.0 - alpha) * fitted[last]
        last = i
        cut = x[last] + delta
        i = last + 1
        while i < n:
            if x[i] > cut:
                break
            if x[i] == x[last]:
                fitted[i] = fitted[last]
                last = i
            i += 1
        i = max(last + 1, i - 1)
        if last >= n - 1:
            return fitted


def r_lowess(x: np.ndarray, y: np.ndarray, f: float = 2 / 3, iter: int = 3, delta: float | None = None) -> np.ndarray:
    """Lowess fitted values at ``x`` (sorted ascending, as ``lowess(y ~ x)`` sorts them), R's defaults.

    ``delta`` defaults to 1 % of the range of ``x``, as in R.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(x)
    if n < 2:
        return y.copy()
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    delta = 0.01 * (xs[-1] - xs[0]) if delta is None else delta
    ns = max(2, min(n, int(f * n + 1e-7)))
    robust = None
    fitted = np.zeros(n)
    for step in range(iter + 1):
        fitted = _smooth(xs, ys, ns, delta, robust)
        if step == iter:
            break
        residuals = np.abs(ys - fitted)
        scale = residuals.mean()
        cmad = 6.0 * np.median(residuals)
        if cmad < 1e-7 * scale:
            break
        r = residuals
        robust = np.where(r <= 0.001 * cmad, 1.0, np.where(r <= 0.999 * cmad, (1.0 - (r / cmad) ** 2) ** 2, 0.0))
    out = np.empty(n)
    out[order] = fitted
    return out
