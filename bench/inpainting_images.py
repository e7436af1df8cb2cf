"""The README's removal images: the old product's place filled by the classical fill and by MI-GAN.

Run: python3 bench/inpainting_images.py [--checkpoint PATH] [--before DIR] [--write]
  --checkpoint: an MI-GAN 512 state dict (default: INPAINT_MODEL_PATH, else the function's
      default path under MODEL_CACHE_DIR). Only the published weights
      (`python3 local_invoke.py fetch-model --only migan`) give a meaningful picture: a
      random-weights checkpoint paints noise. Without a checkpoint the MI-GAN column is left
      out and says so.
  --before DIR: a checkout of an earlier version (e.g. `git worktree add /tmp/before main`),
      whose classical fill is shown too, as "previous classical fill".
  --write: save the images to docs/ (inpaint_<photo>_compare.jpg); without it they go to a
      temporary folder that is printed.
Scenes: scikit-image's photos with a blue bottle pasted in (tests/support/real_scenes.py),
replaced by a green bottle at scale 0.7, so that a band of the old bottle's place must be
filled. Each comparison shows the product's region at 100 %: the ad | [previous classical]
| classical fill | MI-GAN | the photo without the bottle (the truth).
Also prints, per fill, how far the filled pixels are from the truth: the mean absolute RGB
difference after a Gaussian blur of sigma 2 px (shapes and colours; ghosts and smears count,
grain does not), and the grain ratio (the median-absolute-deviation spread of the 5x5-Gaussian
detail, fill over truth: 1 = the photo's grain, below 1 = smooth, above = noisy).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
COMPARE_WIDTH = 1100
JPEG_QUALITY = 90
SCALE = 0.7
# photo -> crop XYXY shown at 100 %
CROPS = {"astronaut": (250, 40, 420, 280), "rocket": (160, 150, 330, 427), "cat": (690, 220, 902, 600),
         "coffee": (1000, 330, 1280, 840)}


def render(code: Path, out: Path, checkpoint: Path | None) -> None:
    """This checkout's classical fill (and MI-GAN's, with a checkpoint) as PNGs in `out`."""
    sys.path.insert(0, str(code))
    sys.path.insert(1, str(REPO))    # tests/ is a namespace package: the scenes come from here
    import numpy as np
    from PIL import Image

    from handler.compositing import CompositeSettings, replace_product
    from tests.support import real_scenes

    fills = {"classic": None}
    if checkpoint is not None:
        import torch

        from handler.compositing.removal import fill_hole
        from handler.inpainting.fill import LearnedFill
        from handler.inpainting.migan import load_migan

        torch.set_num_threads(1)
        network = load_migan(checkpoint)
        fills["migan"] = lambda: LearnedFill(network, fallback=fill_hole)
    product = real_scenes.green_bottle().rgba
    for photo in CROPS:
        scene = real_scenes.pasted_scene(photo)
        Image.fromarray(scene.image).save(out / f"{photo}_ad.png")
        Image.fromarray(scene.photo).save(out / f"{photo}_truth.png")
        Image.fromarray(scene.mask.astype(np.uint8) * 255).save(out / f"{photo}_mask.png")
        for name, make in fills.items():
            extra = {"fill": make()} if make else {}   # an earlier version has no fill argument
            result = replace_product(scene.image, scene.mask, product, CompositeSettings(scale=SCALE), **extra)
            Image.fromarray(result.image).save(out / f"{photo}_{name}.png")
            Image.fromarray(_fill_only(scene, make, out, photo, name)).save(out / f"{photo}_{name}_fill.png")


def _fill_only(scene, make, out: Path, photo: str, name: str):
    """The fill alone over the whole grown mask (no new product): what the error is measured on."""
    import numpy as np

    from handler.compositing.removal import fill_hole, hole_for

    hole = hole_for(scene.mask, 6)
    fill = make() if make else fill_hole
    return fill(scene.image, hole, np.zeros_like(hole))


def measure(folder: Path, name: str) -> dict:
    import cv2
    import numpy as np

    rows = {}
    for photo in CROPS:
        truth = _load(folder / f"{photo}_truth.png").astype(np.float32)
        filled = _load(folder / f"{photo}_{name}_fill.png").astype(np.float32)
        mask = _load(folder / f"{photo}_mask.png")[..., 0] > 0
        hole = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))) > 0
        blur = lambda x: cv2.GaussianBlur(x, (0, 0), 2)  # noqa: E731
        error = float(np.abs(blur(truth) - blur(filled)).mean(axis=2)[hole].mean())

        rows[photo] = (error, _grain(filled, hole) / max(_grain(truth, hole), 1e-3))
    return rows


def _grain(pixels, where):
    """Spread (median absolute deviation x 1.4826) of the 5x5-Gaussian detail of the grey image at `where`."""
    import cv2
    import numpy as np

    grey = pixels.mean(axis=2)
    detail = (grey - cv2.GaussianBlur(grey, (5, 5), 0))[where]
    return 1.4826 * float(np.median(np.abs(detail - np.median(detail))))


def compose(folders: dict[str, Path], target: Path) -> list[Path]:
    import cv2
    import numpy as np
    from PIL import Image

    labels = {"previous": "previous classical fill", "classic": "classical fill (offline)", "migan": "MI-GAN"}
    written = []
    for photo, (x0, y0, x1, y1) in CROPS.items():
        now = folders["now"]
        panels, captions = [_load(now / f"{photo}_ad.png")], ["the ad"]
        if "previous" in folders:
            panels.append(_load(folders["previous"] / f"{photo}_classic.png"))
            captions.append(labels["previous"])
        for name in ("classic", "migan"):
            if (now / f"{photo}_{name}.png").is_file():
                panels.append(_load(now / f"{photo}_{name}.png"))
                captions.append(labels[name])
        panels.append(_load(now / f"{photo}_truth.png"))
        captions.append("the photo (truth)")
        crops = [panel[y0:y1, x0:x1] for panel in panels]
        image = _side_by_side(crops, captions, cv2, np)
        path = target / f"inpaint_{photo}_compare.jpg"
        Image.fromarray(image).save(path, quality=JPEG_QUALITY, optimize=True)
        written.append(path)
    return written


def _side_by_side(panels, labels, cv2, np):
    width = sum(panel.shape[1] for panel in panels) + 6 * (len(panels) - 1)
    if width > COMPARE_WIDTH:
        factor = COMPARE_WIDTH / width
        panels = [cv2.resize(p, (round(p.shape[1] * factor), round(p.shape[0] * factor)),
                             interpolation=cv2.INTER_AREA) for p in panels]
    gap = np.full((panels[0].shape[0] + 28, 6, 3), 255, np.uint8)
    columns = []
    for panel, label in zip(panels, labels, strict=True):
        caption = np.full((28, panel.shape[1], 3), 255, np.uint8)
        text_width = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)[0][0]
        scale = min(0.5, 0.5 * panel.shape[1] / max(1, text_width + 8))
        cv2.putText(caption, label, (4, 19), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), 1, cv2.LINE_AA)
        columns += [np.vstack([caption, panel]), gap]
    return np.hstack(columns[:-1])


def _load(path: Path):
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def _default_checkpoint() -> Path | None:
    sys.path.insert(0, str(REPO))
    from handler.platform.config import Config

    path = Config.from_env().inpaint_checkpoint_path
    return path if path.is_file() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="MI-GAN 512 state dict (default: INPAINT_MODEL_PATH)")
    parser.add_argument("--before", type=Path, help="a checkout of an earlier version")
    parser.add_argument("--write", action="store_true", help="save the images to docs/")
    parser.add_argument("--render", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render:
        render(args.code, args.render, args.checkpoint)
        return
    checkpoint = args.checkpoint or _default_checkpoint()
    scratch = Path(tempfile.mkdtemp(prefix="drishya-inpaint-images-"))
    folders = {"now": scratch / "now"}
    if args.before:
        folders["previous"] = scratch / "previous"
    for name, folder in folders.items():
        folder.mkdir()
        command = [sys.executable, __file__, "--render", str(folder), "--code",
                   str(args.before if name == "previous" else REPO)]
        if name == "now" and checkpoint is not None:
            command += ["--checkpoint", str(checkpoint)]
        subprocess.run(command, check=True)
    print(f"MI-GAN checkpoint: {checkpoint or 'none (the MI-GAN column is left out)'}")
    print("\n| fill | " + " | ".join(CROPS) + " |")
    print("|---|" + "---|" * len(CROPS))
    fills = [("previous", folders.get("previous"), "classic"), ("classic", folders["now"], "classic"),
             ("migan", folders["now"], "migan")]
    for label, folder, name in fills:
        if folder is None or not (folder / f"astronaut_{name}_fill.png").is_file():
            continue
        rows = measure(folder, name)
        cells = [f"{error:.1f} / {grain:.2f}" for error, grain in rows.values()]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\n(blurred error vs the true photo, RGB levels / grain ratio, over the mask grown by 6 px)")
    written = compose(folders, DOCS if args.write else scratch)
    print(json.dumps([str(path) for path in written], indent=1))


if __name__ == "__main__":
    main()
