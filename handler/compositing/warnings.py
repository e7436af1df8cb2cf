"""Warnings: the result is usable but something about it deserves the user's attention.

A warning is a value: `code` (snake_case, stable, for programs), `message` (plain words for
the person making the ad: what is wrong and what to do), `details` (numbers for engineers).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

UPSCALE_LIMIT = 2.0   # a product drawn more than this many times its own size looks soft


@dataclass(frozen=True)
class QualityWarning:
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: {"code", "message", "details"}."""
        return {"code": self.code, "message": self.message, "details": dict(self.details)}


def product_background_busy() -> QualityWarning:
    return QualityWarning(
        "product_background_busy",
        "The product photo's background is too busy to remove, so the whole photo was used. "
        "Upload a PNG with transparency or a photo on a plain backdrop.")


def product_upscaled(scale: float, product_size: tuple[int, int]) -> QualityWarning | None:
    """A warning when the product (its opaque box, product_size = (width, height) px) is drawn
    at more than UPSCALE_LIMIT times its size, else None."""
    if scale <= UPSCALE_LIMIT:
        return None
    needed = [round(side * scale / UPSCALE_LIMIT) for side in product_size]
    return QualityWarning(
        "product_upscaled",
        f"The product image is enlarged {scale:.1f}× to fill its place, so it will look soft. "
        f"Upload a larger product image (the product itself at least {needed[0]}×{needed[1]} px).",
        {"scale": round(scale, 3), "product_px": list(product_size), "suggested_min_px": needed})
