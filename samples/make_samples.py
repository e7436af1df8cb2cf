"""Generate the demo's sample images (deterministic): scene.jpg and product.png.

scene.jpg   1280x960 RGB: a red bottle with a label standing on a wooden table in front of a
            plaster wall lit from the upper left. Its box is printed (XYXY px, x2/y2 exclusive).
product.png 1000x1000 RGBA: a teal cosmetics jar with a gold lid on a transparent background.

Run: python3 samples/make_samples.py
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

HERE = Path(__file__).parent
WIDTH, HEIGHT = 1280, 960
TABLE_ROW = 700
BOTTLE_BOX = (540, 250, 740, 712)   # x1, y1, x2, y2 of the bottle's silhouette
SUPERSAMPLE = 4


def smooth_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-spread float32 noise blurred to features about `sigma` px across."""
    noise = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma)
    return noise / max(float(noise.std()), 1e-6)


def wall_and_table(rng: np.random.Generator) -> np.ndarray:
    """HxWx3 float32 0..255: warm plaster wall with soft light from the upper left; oak table."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    light = 1.12 - 0.5 * np.hypot((xs - 250) / WIDTH, (ys - 100) / HEIGHT)
    plaster = 4 * smooth_noise((HEIGHT, WIDTH), 18, rng) + 3 * smooth_noise((HEIGHT, WIDTH), 2, rng)
    wall = np.float32([218, 206, 188]) * light[..., None] + plaster[..., None]
    depth = (ys - TABLE_ROW) / (HEIGHT - TABLE_ROW)
    grain = (10 * np.sin(ys * 0.9 + 6 * smooth_noise((HEIGHT, WIDTH), 30, rng))
             + 5 * smooth_noise((HEIGHT, WIDTH), 1.5, rng))
    table = np.float32([156, 108, 68]) * (light * (0.8 + 0.25 * depth))[..., None] + grain[..., None]
    image = np.where((ys >= TABLE_ROW)[..., None], table, wall)
    image[TABLE_ROW:TABLE_ROW + 3] += 40                       # lit front edge of the table top
    image[TABLE_ROW - 30:TABLE_ROW] *= np.linspace(1.0, 0.86, 30, dtype=np.float32)[:, None, None]
    return image


def coverage(draw, size: tuple[int, int]) -> np.ndarray:
    """float32 HxW anti-aliased coverage of the shapes `draw(canvas, s)` paints at s x scale."""
    w, h = size
    canvas = np.zeros((h * SUPERSAMPLE, w * SUPERSAMPLE), np.uint8)
    draw(canvas, SUPERSAMPLE)
    return cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def draw_bottle(canvas: np.ndarray, s: int) -> None:
    x1, y1, x2, y2 = BOTTLE_BOX
    cx, neck = (x1 + x2) / 2, 0.17 * (x2 - x1)
    shoulder = y1 + 0.32 * (y2 - y1)
    outline = [(x1, y2 - 12), (x1, shoulder + 60), (cx - neck, shoulder - 10), (cx - neck, y1),
               (cx + neck, y1), (cx + neck, shoulder - 10), (x2, shoulder + 60), (x2, y2 - 12)]
    cv2.fillPoly(canvas, [np.round(np.array(outline) * s).astype(np.int32)], 255)
    cv2.ellipse(canvas, (round(cx * s), round((y2 - 12) * s)), (round((x2 - x1) / 2 * s), 12 * s),
                0, 0, 180, 255, -1)


def cylinder_light(columns: np.ndarray, x1: float, x2: float) -> np.ndarray:
    """Brightness across a cylinder lit from the left, with a narrow specular band."""
    u = np.clip((columns - x1) / (x2 - x1), 0, 1)
    diffuse = 0.55 + 0.55 * np.cos((u - 0.3) * np.pi * 0.9)
    specular = 0.55 * np.exp(-((u - 0.24) / 0.035) ** 2)
    return diffuse, specular


def add_bottle(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x1, y1, x2, y2 = BOTTLE_BOX
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    shadow = np.zeros((HEIGHT, WIDTH), np.float32)
    cv2.ellipse(shadow, ((x1 + x2) // 2 + 30, y2 - 4), ((x2 - x1) // 2 + 60, 16), 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 10)
    image = image * (1 - 0.45 * shadow)[..., None]
    diffuse, specular = cylinder_light(xs, x1, x2)
    body = np.float32([178, 24, 36]) * diffuse[..., None] + 255 * specular[..., None]
    label = (ys > y1 + 0.5 * (y2 - y1)) & (ys < y1 + 0.75 * (y2 - y1))
    body = np.where(label[..., None], np.float32([236, 226, 200]) * (0.25 + 0.75 * diffuse)[..., None]
                    + 160 * specular[..., None], body)
    stripe = label & (np.abs(ys - (y1 + 0.625 * (y2 - y1))) < 9)
    body = np.where(stripe[..., None], np.float32([30, 50, 110]) * diffuse[..., None], body)
    cap = ys < y1 + 40
    body = np.where(cap[..., None], np.float32([40, 40, 44]) * diffuse[..., None] + 120 * specular[..., None], body)
    body += 1.5 * rng.standard_normal((HEIGHT, WIDTH)).astype(np.float32)[..., None]
    cover = coverage(draw_bottle, (WIDTH, HEIGHT))[..., None]
    return image * (1 - cover) + body * cover


def bottle_mask() -> np.ndarray:
    """HxW bool: the pixels the bottle covers at least half of (its ideal segmentation)."""
    return coverage(draw_bottle, (WIDTH, HEIGHT)) >= 0.5


def make_scene() -> np.ndarray:
    rng = np.random.default_rng(2024)
    image = add_bottle(wall_and_table(rng), rng)
    image += rng.normal(0, 2.0, image.shape).astype(np.float32)    # sensor grain
    return np.clip(image, 0, 255).astype(np.uint8)


def draw_jar(canvas: np.ndarray, s: int) -> None:
    def rounded(box, r):
        x1, y1, x2, y2 = (round(v * s) for v in box)
        r = round(r * s)
        cv2.rectangle(canvas, (x1 + r, y1), (x2 - r, y2), 255, -1)
        cv2.rectangle(canvas, (x1, y1 + r), (x2, y2 - r), 255, -1)
        for cx in (x1 + r, x2 - r):
            for cy in (y1 + r, y2 - r):
                cv2.circle(canvas, (cx, cy), r, 255, -1)
    rounded(JAR_BODY, 70)
    rounded(JAR_LID, 24)


JAR_BODY = (150, 380, 850, 930)
JAR_LID = (190, 190, 810, 400)


def make_product() -> np.ndarray:
    size = 1000
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    diffuse, specular = cylinder_light(xs, JAR_BODY[0], JAR_BODY[2])
    teal = np.float32([30, 150, 150]) * diffuse[..., None] + 200 * specular[..., None]
    gold = np.float32([214, 172, 80]) * (0.35 + 0.75 * diffuse)[..., None] + 255 * specular[..., None]
    lid_band = (ys >= JAR_LID[1]) & (ys < JAR_LID[3])
    rgb = np.where(lid_band[..., None], gold, teal)
    label = (ys > 560) & (ys < 760) & (xs > 260) & (xs < 740)
    rgb = np.where(label[..., None], np.float32([245, 242, 232]) * (0.45 + 0.55 * diffuse)[..., None], rgb)
    band = label & (np.abs(ys - 660) < 14)
    rgb = np.where(band[..., None], np.float32([200, 120, 40]) * diffuse[..., None], rgb)
    bottom_shade = np.clip((ys - 820) / 110, 0, 1) * 0.35        # the base turns away from the light
    rgb = rgb * (1 - bottom_shade)[..., None]
    alpha = coverage(draw_jar, (size, size)) * 255
    return np.dstack([np.clip(rgb, 0, 255), alpha]).round().astype(np.uint8)


def on_white(rgba: np.ndarray) -> np.ndarray:
    """The product photographed on a plain white backdrop: no transparency to rely on."""
    alpha = rgba[..., 3:].astype(np.float32) / 255
    return (rgba[..., :3] * alpha + 250 * (1 - alpha)).round().astype(np.uint8)


def main() -> None:
    Image.fromarray(make_scene()).save(HERE / "scene.jpg", quality=88, optimize=True)
    product = make_product()
    Image.fromarray(product, "RGBA").save(HERE / "product.png", optimize=True)
    Image.fromarray(on_white(product)).save(HERE / "product_on_white.jpg", quality=90, optimize=True)
    ys, xs = np.nonzero(bottle_mask())
    box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    print(f"scene.jpg product box (XYXY, x2/y2 exclusive): {box}")


if __name__ == "__main__":
    main()
