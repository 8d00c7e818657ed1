"""``prefect-image-edit demo``: the whole pack on the embedded default, no keys, no cloud.

It starts the vendor emulators, saves credential blocks pointing at them and a local archive
block, then runs the real flows: ``erase`` on every provider, a small ``batch-erase`` (with one
broken file, to show that a bad item never stops a batch) and a ``try-on``; it prints where
every result went and what the emulated vendors billed.

Unless ``PREFECT_API_URL`` points at a server of yours (then the runs and artifacts are there
to browse), Prefect runs on a private ephemeral API under the output directory.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

__all__ = ["make_samples", "run_demo"]


def _scene(size: tuple[int, int], hue: int) -> Image.Image:
    """A synthetic photo: sky, ground, a tree and a red ball to erase."""
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / height
        sky = (int(90 + 80 * t), int(150 + 60 * t), 230)
        ground = (60 + hue % 60, int(130 - 40 * t), 50)
        draw.line([(0, y), (width, y)], fill=sky if t < 0.6 else ground)
    draw.rectangle((width * 0.12, height * 0.3, width * 0.16, height * 0.62), fill=(90, 60, 30))
    draw.ellipse((width * 0.04, height * 0.12, width * 0.24, height * 0.36), fill=(30, 110, 40))
    return image.filter(ImageFilter.GaussianBlur(1))


def _ball_box(size: tuple[int, int]) -> tuple[int, int, int, int]:
    width, height = size
    return (int(width * 0.55), int(height * 0.55), int(width * 0.72), int(height * 0.78))


def make_samples(folder: Path) -> dict[str, Path]:
    """Write the demo's inputs: scenes with masks, a broken file, a person and a garment."""
    folder.mkdir(parents=True, exist_ok=True)
    batch, masks = folder / "batch", folder / "batch-masks"
    batch.mkdir(exist_ok=True)
    masks.mkdir(exist_ok=True)
    paths: dict[str, Path] = {}
    for index, size in enumerate([(640, 480), (800, 600), (480, 640), (720, 540)]):
        scene = _scene(size, hue=index * 37)
        box = _ball_box(size)
        ImageDraw.Draw(scene).ellipse(box, fill=(220, 30, 30))
        mask = Image.new("L", size, 0)
        ImageDraw.Draw(mask).ellipse(box, fill=255)
        scene.save(batch / f"scene-{index}.jpg", quality=92)
        mask.save(masks / f"scene-{index}.png")
        if index == 0:
            scene.save(folder / "photo.jpg", quality=92)
            mask.save(folder / "photo-mask.png")
    (batch / "broken.jpg").write_bytes(b"this is not an image")
    shutil.copy(masks / "scene-0.png", masks / "broken.png")
    person = Image.new("RGB", (360, 720), (236, 230, 222))
    draw = ImageDraw.Draw(person)
    draw.ellipse((140, 40, 220, 130), fill=(224, 180, 150))
    draw.rectangle((120, 140, 240, 400), fill=(200, 200, 200))
    draw.rectangle((130, 400, 230, 680), fill=(60, 60, 90))
    person.save(folder / "person.jpg", quality=92)
    garment = Image.new("RGB", (400, 400), (250, 250, 250))
    ImageDraw.Draw(garment).polygon(
        [(80, 90), (160, 60), (240, 60), (320, 90), (300, 340), (100, 340)], fill=(30, 90, 200)
    )
    garment.save(folder / "top.jpg", quality=92)
    paths.update(
        photo=folder / "photo.jpg",
        mask=folder / "photo-mask.png",
        batch=batch,
        masks=masks,
        person=folder / "person.jpg",
        top=folder / "top.jpg",
    )
    return paths


async def _save_blocks(emu, archive_dir: Path) -> None:
    """The same blocks as ``prefect-image-edit ui``: ``emulator`` credentials per vendor and
    the local archive ``image-edit-local-archive/local``."""
    from prefect_image_edit.ui import save_emulator_blocks

    await save_emulator_blocks(emu, archive_dir)


async def _run(samples: dict[str, Path], out: Path, emu) -> None:
    from prefect_image_edit.flows.batch import batch_erase
    from prefect_image_edit.flows.erase import erase
    from prefect_image_edit.flows.models import Connections, OutputOptions
    from prefect_image_edit.flows.try_on import try_on
    from prefect_image_edit.tasks.batch_items import BatchSource
    from prefect_image_edit.tasks.models import MaskOptions
    from prefect_image_edit.ui import ARCHIVE_BLOCK, CREDENTIALS_BLOCK
    from prefect_image_edit.vendors import registry
    from prefect_image_edit.vendors.registry import erase_providers

    await _save_blocks(emu, out / "archive")
    connections = Connections(
        **{
            name: CREDENTIALS_BLOCK for name in registry.names() if name in Connections.model_fields
        },
        archive=ARCHIVE_BLOCK,
    )
    mask = MaskOptions(mask=str(samples["mask"]))
    print("\n== erase, one image, every provider")
    for provider in erase_providers():
        outcome = await erase(
            str(samples["photo"]),
            mask,
            provider,
            output=OutputOptions(path=str(out / f"photo-erased-{provider}.png")),
            connections=connections,
        )
        variant = outcome.variants[0]
        print(f"  {provider:<11} -> {variant.final.written_to}")
        print(f"  {'':<11}    archived {variant.final.archived.uri}")
        print(f"  {'':<11}    vendor result {variant.erased.archived.uri}")

    print("\n== batch-erase: a folder, masks paired by name, one broken file, on Tencent")
    state = await batch_erase(
        BatchSource(images=str(samples["batch"]), masks=str(samples["masks"])),
        provider="tencent",
        fallback=["volcengine"],
        connections=connections,
        return_state=True,
    )
    summary = await state.aresult(raise_on_failure=False)
    print(f"  {state.name}: {state.message}")
    for row in summary.rows:
        where = row.archived if row.status == "done" else row.error
        print(f"  {row.status:<6} {Path(row.item).name:<14} {where}")
    print(f"  results manifest: {summary.manifest_uri}")

    print("\n== try-on: Try on Clothes Pro, then the Refiner")
    result = await try_on(
        str(samples["person"]), str(samples["top"]), "man", connections=connections
    )
    print(f"  coarse  -> {result.coarse.uri}")
    print(f"  refined -> {result.refined.uri}")


def run_demo(output: str | os.PathLike[str] = "demo-output", *, fresh: bool = True) -> int:
    """Run the demo, writing inputs, outputs and the archive under ``output``."""
    out = Path(output).resolve()
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("PREFECT_API_URL"):
        os.environ["PREFECT_HOME"] = str(out / "prefect-home")
    os.environ.setdefault("PREFECT_IMAGE_EDIT_HOME", str(out / "state"))
    os.environ.setdefault("PREFECT_IMAGE_EDIT_POLL_INTERVAL", "0.5")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # A fresh ephemeral API migrates its SQLite database first: 7-13 s here, more when busy.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # The demo prints its own report; the engine logs (failed tasks of the broken batch item
    # included) are in the Prefect UI when PREFECT_API_URL points at a server.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")

    from prefect_image_edit.emulators import run_emulators
    from prefect_image_edit.ledger import Ledger
    from prefect_image_edit.tasks.settings import get_settings
    from prefect_image_edit.vendors import registry

    samples = make_samples(out / "inputs")
    print(f"inputs in {out / 'inputs'}")
    with run_emulators(
        ailabtools={"task_queued_seconds": 0.5, "task_processing_seconds": 1.0}
    ) as emu:
        print(
            "vendor emulators on "
            + ", ".join(f"{name} {getattr(emu, name).base_url}" for name in registry.names())
        )
        asyncio.run(_run(samples, out, emu))
        billed = {v: emu.counters.billable(v) for v in registry.names()}
    ledger = Ledger(get_settings().ledger_dir).summary()
    print("\n== what it cost")
    print(
        "  billable calls at the emulated vendors: "
        + ", ".join(f"{k} {v}" for k, v in billed.items())
    )
    print(f"  ledger of paid calls: {ledger}")
    print(f"\nedited images in {out}; archive in {out / 'archive'}")
    return 0
