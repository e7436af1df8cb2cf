"""Image I/O: uploaded bytes to pixels, pixels to response bytes.

Arrays are numpy uint8, rows first: a scene is (H, W, 3) RGB in sRGB, a product is
(H, W, 4) RGBA with straight (not premultiplied) alpha, a mask is (H, W) bool.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageOps

from ..errors import InvalidField, InvalidImage, PayloadTooLarge

log = logging.getLogger(__name__)

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP")
OUTPUT_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_ROTATING_ORIENTATIONS = (5, 6, 7, 8)
_EXIF_ORIENTATION = 0x0112
# Pillow refuses absurd sizes as it opens a file; our MAX_PIXELS check follows, before decoding.
Image.MAX_IMAGE_PIXELS = 200_000_000
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@dataclass(frozen=True)
class DecodedImage:
    """pixels: (H, W, 3) RGB or (H, W, 4) RGBA uint8 after orientation and downscaling.
    original_size: (width, height) of the upload after EXIF orientation, before downscaling.
    """

    pixels: np.ndarray
    original_size: tuple[int, int]


def decode_upload(data: bytes, *, kind: str, max_side: int, max_pixels: int) -> DecodedImage:
    """Decode an uploaded image for `kind` "scene" (RGB) or "product" (RGBA).

    Refuses non-images and images declaring more than max_pixels before decoding any pixel;
    large JPEGs are decoded at reduced scale. Animated GIF/WebP and multi-page TIFF are
    accepted: only the first frame (page) is used. CMYK, 16-bit, grayscale, palette and
    LA images are converted to 8-bit sRGB; an EXIF orientation is applied.
    """
    if not data:
        raise InvalidImage("the upload is empty: send an image file", code="empty_upload")
    image = _open(data, max_pixels)
    width, height = image.size
    if width * height > max_pixels:
        raise _too_many_pixels(f"the image declares {width}x{height} pixels", max_pixels)
    if width < 1 or height < 1:
        raise InvalidImage("the image has no pixels: send a real picture", code="corrupt_image")
    original_size = _oriented_size(image)
    try:
        _decode_at_reduced_scale(image, max_side)
        image.load()
        image = _shrink_by_whole_factor(image, max_side)
        image = _upright(image)
        image = _to_srgb(image, with_alpha=kind == "product")
        pixels = _to_uint8_array(image)
    except MemoryError:
        raise _too_many_pixels("the image is too large to decode", max_pixels) from None
    # Decoders meet hostile bytes here; whatever they raise (struct.error, IndexError, ...)
    # means the file cannot be read, never that the server is broken.
    except Exception as error:
        log.info("refused an unreadable image", extra={"fields": {"error": _describe(error)}})
        raise InvalidImage("the image is truncated or corrupt: export it again and retry",
                           code="corrupt_image") from None
    return DecodedImage(pixels=downscale_to_fit(pixels, max_side), original_size=original_size)


def downscale_to_fit(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the longer side is at most max_side (INTER_AREA); smaller images pass through."""
    height, width = pixels.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return pixels
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def encode_image(pixels: np.ndarray, fmt: str, quality: int = 90) -> bytes:
    """Encode (H, W), (H, W, 3) RGB or (H, W, 4) RGBA uint8 pixels as png, jpeg or webp."""
    if pixels.ndim == 3:
        conversion = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
        pixels = cv2.cvtColor(pixels, conversion)
    parameters = {
        "png": [cv2.IMWRITE_PNG_COMPRESSION, 3],
        "jpeg": [cv2.IMWRITE_JPEG_QUALITY, quality],
        "webp": [cv2.IMWRITE_WEBP_QUALITY, quality],
    }[fmt]
    ok, encoded = cv2.imencode(f".{fmt}", pixels, parameters)
    if not ok:
        raise InvalidField(f"the result could not be encoded as {fmt}")
    return encoded.tobytes()


def encode_lossless(pixels: np.ndarray) -> bytes:
    """(H, W, 3) RGB or (H, W, 4) RGBA uint8 as a quickly made PNG (for storage, not display)."""
    conversion = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(pixels, conversion), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("pixels could not be encoded")
    return encoded.tobytes()


def decode_lossless(data: bytes) -> np.ndarray | None:
    """The pixels encode_lossless stored, or None when the bytes are not a readable PNG."""
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.ndim != 3:
        return None
    conversion = cv2.COLOR_BGRA2RGBA if decoded.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(decoded, conversion)


def encode_mask_png(mask: np.ndarray) -> bytes:
    """A bool (H, W) mask as a grayscale PNG with 0 and 255."""
    return encode_image(mask.astype(np.uint8) * 255, "png")


def _shrink_by_whole_factor(image: Image.Image, max_side: int) -> Image.Image:
    """Box-average by the largest whole factor that keeps the longer side at least max_side.

    Done first, so that colour conversion and the copy into numpy work on a small image: a
    25 MP PNG would otherwise exist three times over (about 240 MB). INTER_AREA then makes the
    exact size.
    """
    factor = max(image.size) // max_side
    if factor < 2:
        return image
    try:
        return image.reduce(factor)
    except ValueError:  # a mode reduce() does not take (palette, bilevel): convert at full size
        return image


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """The image with only its header read: format, size and mode are known, no pixel is."""
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:
        raise _too_many_pixels("the image declares a huge size", max_pixels) from None
    # As in decode_upload: any failure to parse untrusted bytes means "not an image we read".
    except Exception:
        raise InvalidImage("this is not an image Drishya can read: send a JPEG, PNG, WebP, GIF, TIFF "
                           "or BMP file", code="unsupported_image") from None


def _describe(error: Exception) -> str:
    """One short line for the log: the decoder's complaint, not its traceback."""
    return f"{type(error).__name__}: {str(error)[:200]}"


def _too_many_pixels(what: str, max_pixels: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"{what}, more than the {max_pixels / 1e6:g} megapixels this service accepts: "
                           "send a smaller image", code="image_too_large", details={"max_pixels": max_pixels})


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says; a broken EXIF block only loses the turn."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        log.info("ignored an unreadable EXIF orientation")
        return image


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # a broken EXIF block only loses the orientation
        orientation = None
    return (height, width) if orientation in _ROTATING_ORIENTATIONS else (width, height)


def _decode_at_reduced_scale(image: Image.Image, max_side: int) -> None:
    # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: a 24 MP photo never exists at full size.
    if image.format in ("JPEG", "MPO") and max(image.size) > max_side:
        scale = max_side / max(image.size)
        image.draft(image.mode, (int(image.size[0] * scale) + 1, int(image.size[1] * scale) + 1))


def _to_srgb(image: Image.Image, *, with_alpha: bool) -> Image.Image:
    image = _to_8bit(image)
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            mode = "RGBA" if image.mode == "RGBA" else "RGB"
            image = ImageCms.profileToProfile(image, source, _SRGB, outputMode=mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            log.info("ignored an unreadable ICC profile")
    if with_alpha:
        return image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    # Pillow's convert() clips 16-bit values instead of scaling them.
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float32)
        return Image.fromarray(np.clip(values / 257.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "F":
        return Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8), "L")
    return image


def _to_uint8_array(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
