"""Uploaded pictures: checked for size and type before they are decoded, then shaped like the model's inputs.

An upload is untrusted bytes. They are refused before Pillow decodes a pixel when they are too many bytes
(:data:`MAX_UPLOAD_BYTES`), when the declared type is not an image type, when Pillow's own sniffing of the first
bytes does not find one of :data:`FORMATS` (the declared type is never trusted alone), or when the header promises
more than :data:`MAX_PIXELS` pixels (a decompression bomb: a few kB of PNG can declare gigapixels; Pillow's own
limit is made an error here rather than a warning). Nothing is unpickled or executed.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import ShadowplayError

MAX_UPLOAD_BYTES = 4 * 1024 * 1024
MAX_PIXELS = 4096 * 4096
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
CONTENT_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp", "image/x-ms-bmp")


class UploadError(ShadowplayError):
    """An upload was refused; ``status`` is the HTTP status that says why (400, 413, 415)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def check_content_type(content_type: str | None) -> None:
    """Refuse a request whose declared type is not one of the image types taken (415)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in CONTENT_TYPES:
        raise UploadError(f"upload an image ({', '.join(f.lower() for f in FORMATS)}); got content type "
                          f"{kind or 'none'!r}", 415)


def open_image(data: bytes) -> Image.Image:
    """Decode ``data`` into a PIL image (first frame of an animation), refusing anything unsafe or unknown."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(f"the upload is {len(data)} bytes; the limit is {MAX_UPLOAD_BYTES}", 413)
    if not data:
        raise UploadError("the upload is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=FORMATS)
            if img.width * img.height > MAX_PIXELS:  # decided from the header, before any pixel is decoded
                raise UploadError(f"the image is {img.width}×{img.height} pixels; the limit is {MAX_PIXELS} pixels",
                                  413)
            img.seek(0)
            img.load()
        except UnidentifiedImageError:
            raise UploadError(f"the upload is not a readable image ({', '.join(FORMATS)})", 415) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise UploadError("the image declares too many pixels (decompression bomb guard)", 413) from None
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            if isinstance(e, UploadError):
                raise
            raise UploadError(f"the image is truncated or corrupt ({type(e).__name__})") from None
    return img


def to_input(img: Image.Image, shape: tuple[int, ...]) -> torch.Tensor:
    """``(1, C, H, W)`` float32 in ``[0, 1]``: ``img`` converted to grey (C = 1) or RGB (C = 3) and resized to
    H × W. Transparent pixels become black, the background of the built-in image sets (ink/objects are bright)."""
    c, h, w = shape
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        back = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(back, rgba)
    img = img.convert("L" if c == 1 else "RGB")
    if img.size != (w, h):
        # a box filter averages every source pixel into the small target, like the downsampling of the data sets
        img = img.resize((w, h), Image.BOX if img.width >= w and img.height >= h else Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = arr[None] if c == 1 else arr.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr))[None]


def decode_upload(data: bytes, content_type: str | None, shape: tuple[int, ...]) -> torch.Tensor:
    """Check and decode an upload into one model input ``(1, *shape)``; raises :class:`UploadError`."""
    if not (len(shape) == 3 and shape[0] in (1, 3)):
        raise UploadError(f"this model takes rows of {int(np.prod(shape))} values, not images; uploads are "
                          "for image models")
    check_content_type(content_type)
    return to_input(open_image(data), shape)
