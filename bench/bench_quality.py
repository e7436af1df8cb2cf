"""How faithfully replace_product shows the product on real photos (issue 12), before and after.

Run: python3 bench/bench_quality.py [--before DIR] [--images DIR]
  --before DIR   also measure the compositing code of another checkout (e.g. a temporary
                 `git worktree add /tmp/before 65e9ca7`) and print both tables
  --images DIR   write each case's output as PNG (and the scene before it)

Cases: scikit-image's bundled photos (tests/real_scenes.py) with a blue bottle pasted at a
known alpha, replaced by procedural products with known alpha; measures from tests/support/quality.py
over the product's interior (opaque pixels eroded by 4 % of its shorter side), at the box
the compositor reports. Also times the default path on the 1280x960 coffee photo at one
OpenCV thread (median of RUNS after a warm-up), and runs the GrabCut segmenter on objects
in the photos (score, whether the mask answer would warn, median time of GRABCUT_RUNS).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS = 15
GRABCUT_RUNS = 3

# name -> (scikit-image loader, box XYXY, include points or None)
GRABCUT_CASES = {
    "espresso cup": ("coffee", (160, 10, 420, 310), None),
    "espresso cup + 1 point on it": ("coffee", (160, 10, 420, 310), [[290, 240]]),
    "cup and saucer": ("coffee", (70, 10, 485, 390), None),
    "helmet": ("astronaut", (270, 335, 512, 512), None),
    "shuttle model": ("astronaut", (350, 0, 475, 295), None),
    "flag": ("astronaut", (0, 0, 100, 512), None),
    "rocket": ("rocket", (295, 120, 345, 412), None),
    "motorcycle": ("stereo_motorcycle", (90, 90, 695, 460), None),
    "bottle on a shelf": ("stereo_motorcycle", (396, 50, 428, 96), None),
}

# (photo, product, settings, label)
CASES = [
    ("coffee", "teal_jar", {}, "defaults"),
    ("coffee", "teal_jar", {"blend_mode": "seamless"}, "seamless"),
    ("coffee", "teal_jar", {"blend_mode": "auto"}, "auto"),
    ("coffee", "teal_jar", {"blend_mode": "seamless", "shadow": 0.6}, "seamless + shadow 0.6"),
    ("cat", "red_can", {}, "defaults"),
    ("cat", "red_can", {"blend_mode": "seamless"}, "seamless"),
    ("cat", "red_can", {"blend_mode": "auto"}, "auto"),
    ("astronaut", "green_bottle", {}, "defaults"),
    ("astronaut", "green_bottle", {"blend_mode": "seamless"}, "seamless"),
    ("astronaut", "green_bottle", {"blend_mode": "auto"}, "auto"),
    ("rocket", "red_can", {}, "defaults"),
    ("rocket", "red_can", {"blend_mode": "seamless"}, "seamless"),
    ("rocket", "red_can", {"blend_mode": "auto"}, "auto"),
    ("rocket", "white_bottle", {}, "defaults"),
    ("rocket", "white_bottle", {"blend_mode": "auto"}, "auto"),
    ("coffee", "opaque_can_on_light_backdrop", {}, "defaults"),
    ("cat", "busy_photo_product", {}, "defaults"),
]


def measure(code_dir: Path, images: Path | None) -> dict:
    """Run every case against the compositing package found in code_dir: a JSON-ready dict."""
    sys.path.insert(0, str(code_dir))
    sys.path.insert(1, str(REPO))   # tests/ is a namespace package: helpers come from here
    import cv2
    from PIL import Image

    from handler.compositing import CompositeSettings, replace_product
    from tests.support import quality, real_scenes

    cv2.setNumThreads(1)
    rows = []
    for photo, product_name, settings, label in CASES:
        scene = real_scenes.pasted_scene(photo)
        product = getattr(real_scenes, product_name)()
        result = replace_product(scene.image, scene.mask, product.rgba, CompositeSettings.from_mapping(settings))
        box = getattr(result.placement, "box", result.placement)
        ref = quality.reference(product.truth, product.band, box, scene.mask.shape)
        warnings = getattr(result, "warnings", None)
        rows.append({
            "photo": photo, "product": product.name, "mode": label,
            "chroma_delta_e": quality.chroma_delta_e(result.image, ref),
            "lightness_shift": quality.lightness_shift(result.image, ref),
            "sharpness": quality.sharpness_ratio(result.image, ref),
            "band_kept": quality.band_kept(result.image, ref, scene.photo) if ref.band.any() else None,
            "cutout": result.cutout, "blend_mode": result.blend_mode,
            "warnings": None if warnings is None else [w.code for w in warnings],
        })
        if images is not None:
            name = f"{photo}_{product_name}_{label.replace(' ', '').replace('+', '_').replace('.', '')}"
            Image.fromarray(result.image).save(images / f"{name}.png")
            Image.fromarray(scene.image).save(images / f"{photo}_before.png")
    scene = real_scenes.pasted_scene("coffee")
    jar = real_scenes.teal_jar()
    settings = CompositeSettings()
    times = []
    replace_product(scene.image, scene.mask, jar.rgba, settings)
    for _ in range(RUNS):
        start = time.process_time()
        replace_product(scene.image, scene.mask, jar.rgba, settings)
        times.append((time.process_time() - start) * 1000)
    return {"rows": rows, "default_path_cpu_ms": statistics.median(times),
            "grabcut": grabcut_rows(), "load": os.getloadavg()[0]}


def grabcut_rows() -> list[dict]:
    """Score, mask share of the box and median wall time of GrabCut on each GRABCUT_CASES object."""
    import numpy as np
    from skimage import data

    from handler.segmentation.base import Prompt
    from handler.segmentation.grabcut import GrabCutSegmenter
    try:
        from handler.segmentation.quality import mask_warnings
    except ImportError:   # the previous version has no mask warnings
        mask_warnings = None

    segmenter = GrabCutSegmenter()
    rows = []
    for name, (loader, box, points) in GRABCUT_CASES.items():
        image = getattr(data, loader)()
        image = image[0] if isinstance(image, tuple) else image
        prompt = Prompt(box=tuple(float(v) for v in box)) if points is None else Prompt(
            box=tuple(float(v) for v in box), points=np.array(points, np.float32), labels=np.ones(len(points), int))
        times = []
        for _ in range(GRABCUT_RUNS):
            start = time.perf_counter()
            cut = segmenter.segment(image, prompt)
            times.append((time.perf_counter() - start) * 1000)
        x0, y0, x1, y1 = box
        warned = None if mask_warnings is None else bool(mask_warnings(cut.mask, box, cut.score))
        rows.append({"object": name, "score": cut.score, "share": float(cut.mask[y0:y1, x0:x1].mean()),
                     "warned": warned, "ms": statistics.median(times)})
    return rows


def measured_in_subprocess(code_dir: Path, images: Path | None) -> dict:
    command = [sys.executable, __file__, "--json", "--code", str(code_dir)]
    if images is not None:
        command += ["--images", str(images)]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def table(result: dict) -> str:
    def number(value, digits=1):
        return "—" if value is None else f"{value:.{digits}f}"

    lines = [("| photo | product | mode | ΔE a\\*b\\* median | L shift median | sharpness | white band kept "
              "| cut-out | blend used | warnings |"), "|---|---|---|---:|---:|---:|---:|---|---|---|"]
    for row in result["rows"]:
        kept = None if row["band_kept"] is None else 100 * row["band_kept"]
        warnings = "n/a" if row["warnings"] is None else (", ".join(row["warnings"]) or "none")
        lines.append(f"| {row['photo']} | {row['product']} | {row['mode']} | {number(row['chroma_delta_e'])} "
                     f"| {number(row['lightness_shift'], 1)} | {number(row['sharpness'], 2)} "
                     f"| {number(kept, 0)}{'' if kept is None else ' %'} | {row['cutout']} "
                     f"| {row['blend_mode']} | {warnings} |")
    lines.append(f"\nDefault path, coffee photo 1280x960, teal jar: median CPU "
                 f"{result['default_path_cpu_ms']:.1f} ms (1 OpenCV thread, {RUNS} runs; "
                 f"load average {result['load']:.2f})")
    lines += ["", "| GrabCut object | score | mask share of box | mask answer warns | median ms |",
              "|---|---:|---:|---|---:|"]
    for row in result["grabcut"]:
        warned = "n/a" if row["warned"] is None else ("yes" if row["warned"] else "no")
        lines.append(f"| {row['object']} | {row['score']:.2f} | {row['share']:.2f} | {warned} | {row['ms']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--images", type=Path, help="write the outputs here as PNG")
    parser.add_argument("--code", type=Path, default=REPO, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.code, args.images)))
        return
    if args.images:
        for part in ("before", "after"):
            (args.images / part).mkdir(parents=True, exist_ok=True)
    if args.before:
        before = measured_in_subprocess(args.before, args.images / "before" if args.images else None)
        print(f"Before ({args.before}):\n\n{table(before)}\n")
    after = measured_in_subprocess(REPO, args.images / "after" if args.images else None)
    print(f"After ({REPO}):\n\n{table(after)}")


if __name__ == "__main__":
    main()
