"""Test photos for the bench: unique 640x480 JPEGs with an object to erase, and its mask.

Every call mints new pixels (a random salt), so no batch ever meets another's cached or
archived results: a "first run" is always a first run.
"""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

__all__ = ["PhotoSet", "make_photos"]

SIZE = (640, 480)
BOX = (240, 160, 400, 320)


class PhotoSet:
    """A folder of photos and a folder of masks paired by file stem (what batch-erase lists)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.images = root / "images"
        self.masks = root / "masks"

    def image_paths(self) -> list[Path]:
        return sorted(self.images.glob("*.jpg"))

    def __len__(self) -> int:
        return len(self.image_paths())


def _texture(rng: random.Random) -> Image.Image:
    """A photo-like background: noise blurred into soft blotches, tinted at random."""
    noise = Image.effect_noise((SIZE[0] // 8, SIZE[1] // 8), 64).resize(SIZE, Image.BICUBIC)
    tint = Image.new("RGB", SIZE, tuple(rng.randrange(40, 200) for _ in range(3)))
    grain = Image.effect_noise(SIZE, 24).convert("RGB")
    base = Image.blend(tint, noise.convert("RGB"), 0.35)
    return Image.blend(base, grain, 0.08).filter(ImageFilter.SMOOTH)


def make_photos(root: Path, count: int, seed: int | None = None) -> PhotoSet:
    """Write ``count`` photos (``photo-0000.jpg``...) and their masks (``photo-0000.png``)."""
    rng = random.Random(seed)
    photos = PhotoSet(root)
    photos.images.mkdir(parents=True, exist_ok=True)
    photos.masks.mkdir(parents=True, exist_ok=True)
    background = _texture(rng)
    mask = Image.new("L", SIZE, 0)
    ImageDraw.Draw(mask).rectangle(BOX, fill=255)
    for index in range(count):
        image = background.copy()
        draw = ImageDraw.Draw(image)
        # a unique stripe makes every photo's bytes (and so its cache keys) new
        draw.line(
            [(0, index % SIZE[1]), (SIZE[0], rng.randrange(SIZE[1]))],
            fill=tuple(rng.randrange(256) for _ in range(3)),
            width=3,
        )
        draw.ellipse(BOX, fill=(220, 30, 30))
        name = f"photo-{index:04d}"
        image.save(photos.images / f"{name}.jpg", quality=90)
        mask.save(photos.masks / f"{name}.png")
    return photos
