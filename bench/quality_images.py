"""The README's real-photo images: replacements and GrabCut masks, previous version and now.

Run: python3 bench/quality_images.py --before DIR
  DIR: a checkout of the previous version (e.g. `git worktree add /tmp/before 65e9ca7`).
Writes to docs/: real_<photo>_before.jpg (the ad), real_<case>_after.jpg (replaced with this
checkout), real_<case>_compare.jpg (the product's region at 100 %: ad | previous | now) and
grabcut_<object>.jpg (the mask preview: previous | now, with each score; shrunk to
COMPARE_WIDTH when wider).
Each version renders in its own subprocess (--render), importing its own `handler`.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
FULL_FRAME_WIDTH = 640   # the before/after frames are shrunk to this width
COMPARE_WIDTH = 960      # a side-by-side wider than this is shrunk to it
JPEG_QUALITY = 88

# case -> (photo, product, settings, crop XYXY shown at 100 % in the comparison)
REPLACEMENTS = {
    "coffee": ("coffee", "teal_jar", {}, (1000, 330, 1280, 840)),
    "cat": ("cat", "red_can", {}, (690, 220, 902, 600)),
    "astronaut": ("astronaut", "green_bottle", {}, (250, 40, 420, 280)),
    "rocket": ("rocket", "white_bottle", {"blend_mode": "auto"}, (160, 150, 330, 427)),
    "band": ("coffee", "opaque_can_on_light_backdrop", {}, (1000, 330, 1280, 840)),
}

# object -> (scikit-image loader, box XYXY, include points or None, crop XYXY of the preview)
SEGMENTATIONS = {
    "cup": ("coffee", (160, 10, 420, 310), None, (60, 0, 500, 400)),
    "cup_point": ("coffee", (160, 10, 420, 310), [[290, 240]], (60, 0, 500, 400)),
    "helmet": ("astronaut", (270, 335, 512, 512), None, (200, 280, 512, 512)),
    "shuttle": ("astronaut", (350, 0, 475, 295), None, (300, 0, 512, 320)),
    "rocket": ("rocket", (295, 120, 345, 412), None, (230, 90, 410, 427)),
    "motorcycle": ("stereo_motorcycle", (90, 90, 695, 460), None, (0, 0, 741, 500)),
}


def render(code: Path, out: Path) -> None:
    """Write this version's replacements and mask previews to `out` as PNG, scores as text."""
    sys.path.insert(0, str(code))
    sys.path.insert(1, str(REPO))   # tests/ is a namespace package: the scenes come from here
    import numpy as np
    from PIL import Image
    from skimage import data

    from handler.compositing import CompositeSettings, mask_preview, replace_product
    from handler.segmentation.base import Prompt
    from handler.segmentation.grabcut import GrabCutSegmenter
    from tests.support import real_scenes

    for case, (photo, product, settings, _) in REPLACEMENTS.items():
        scene = real_scenes.pasted_scene(photo)
        result = replace_product(scene.image, scene.mask, getattr(real_scenes, product)().rgba,
                                 CompositeSettings.from_mapping(settings))
        Image.fromarray(scene.image).save(out / f"{case}_ad.png")
        Image.fromarray(result.image).save(out / f"{case}_result.png")
    segmenter = GrabCutSegmenter()
    for name, (loader, box, points, _) in SEGMENTATIONS.items():
        image = getattr(data, loader)()
        image = image[0] if isinstance(image, tuple) else image
        prompt = Prompt(box=tuple(float(v) for v in box)) if points is None else Prompt(
            box=tuple(float(v) for v in box), points=np.array(points, np.float32), labels=np.ones(len(points), int))
        cut = segmenter.segment(image, prompt)
        preview = mask_preview(image, cut.mask)
        for x, y in points or []:
            preview[y - 4:y + 5, x - 4:x + 5] = (40, 220, 40)
        Image.fromarray(preview).save(out / f"mask_{name}.png")
        (out / f"mask_{name}.txt").write_text(f"{cut.score:.2f}")


def compose(before: Path, after: Path) -> None:
    import cv2
    import numpy as np
    from PIL import Image

    def load(path: Path) -> np.ndarray:
        return np.asarray(Image.open(path).convert("RGB"))

    def save(pixels: np.ndarray, name: str) -> None:
        Image.fromarray(pixels).save(DOCS / name, quality=JPEG_QUALITY, optimize=True)

    def shrunk(pixels: np.ndarray) -> np.ndarray:
        h, w = pixels.shape[:2]
        if w <= FULL_FRAME_WIDTH:
            return pixels
        return cv2.resize(pixels, (FULL_FRAME_WIDTH, round(h * FULL_FRAME_WIDTH / w)), interpolation=cv2.INTER_AREA)

    def side_by_side(panels: list[np.ndarray], labels: list[str]) -> np.ndarray:
        width = sum(panel.shape[1] for panel in panels) + 6 * (len(panels) - 1)
        if width > COMPARE_WIDTH:
            factor = COMPARE_WIDTH / width
            panels = [cv2.resize(panel, (round(panel.shape[1] * factor), round(panel.shape[0] * factor)),
                                 interpolation=cv2.INTER_AREA) for panel in panels]
        gap = np.full((panels[0].shape[0] + 28, 6, 3), 255, np.uint8)
        columns = []
        for panel, label in zip(panels, labels):
            caption = np.full((28, panel.shape[1], 3), 255, np.uint8)
            cv2.putText(caption, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (20, 20, 20), 1, cv2.LINE_AA)
            columns += [np.vstack([caption, panel]), gap]
        return np.hstack(columns[:-1])

    for case, (photo, *_, crop) in REPLACEMENTS.items():
        x0, y0, x1, y1 = crop
        ad, now = load(after / f"{case}_ad.png"), load(after / f"{case}_result.png")
        previous = load(before / f"{case}_result.png")
        save(shrunk(ad), f"real_{photo}_before.jpg")
        save(shrunk(now), f"real_{case}_after.jpg")
        panels = [image[y0:y1, x0:x1] for image in (ad, previous, now)]
        save(side_by_side(panels, ["ad", "previous version", "now"]), f"real_{case}_compare.jpg")
    for name, (*_, crop) in SEGMENTATIONS.items():
        x0, y0, x1, y1 = crop
        panels = [load(version / f"mask_{name}.png")[y0:y1, x0:x1] for version in (before, after)]
        scores = [(version / f"mask_{name}.txt").read_text() for version in (before, after)]
        save(side_by_side(panels, [f"previous: score {scores[0]}", f"now: score {scores[1]}"]),
             f"grabcut_{name}.jpg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a checkout of the previous version")
    parser.add_argument("--render", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render:
        render(args.code, args.render)
        return
    if args.before is None:
        parser.error("--before DIR is needed: the images compare the previous version with this one")
    with tempfile.TemporaryDirectory() as scratch:
        before, after = Path(scratch, "before"), Path(scratch, "after")
        for code, out in ((args.before, before), (REPO, after)):
            out.mkdir()
            subprocess.run([sys.executable, __file__, "--render", str(out), "--code", str(code)], check=True)
        compose(before, after)


if __name__ == "__main__":
    main()
