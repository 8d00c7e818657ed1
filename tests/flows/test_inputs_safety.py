"""Bad batch inputs are refused before any paid call, and forms refuse what flows would.

Issue 9 (items 3 and 7, the input parts) and issue 12 (forms that refuse what the flow would
refuse). Flow cases run ``batch-erase`` against the emulators and count billed calls.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from prefect import flow
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools.validation import ValidationError as SchemaError
from prefect.utilities.schema_tools.validation import validate
from pydantic import BaseModel, ValidationError

from prefect_image_edit.errors import InputError
from prefect_image_edit.flows.batch import batch_erase
from prefect_image_edit.flows.models import (
    BatchConcurrency,
    Connections,
    OutputOptions,
    Variants,
    check_output_path,
)
from prefect_image_edit.imaging.masks import BoxMask, prepare_mask
from prefect_image_edit.imaging.shapes import draw_shapes
from prefect_image_edit.tasks.batch_items import (
    MAX_MANIFEST_BYTES,
    AmbiguousMaskError,
    BatchSource,
    ManifestError,
    decode_manifest,
    items_from_listing,
    items_from_manifest,
    load_items,
)
from prefect_image_edit.tasks.models import MAX_SEED, EraseSettings, MaskOptions

BUCKET = "image-edit-archive"


def _batch(source, connections, **kwargs):
    state = asyncio.run(batch_erase(source, connections=connections, return_state=True, **kwargs))
    return state, asyncio.run(state.aresult(raise_on_failure=False))


def _scenes_in_one_folder(make_scene, folder: Path, names_and_suffixes):
    folder.mkdir()
    for name, suffix in names_and_suffixes:
        image, mask = make_scene(name)
        image.rename(folder / image.name)
        mask.rename(folder / f"{name}{suffix}.png")


# --- issue 9 item 3: masks beside their photos --------------------------------------------


def test_masks_beside_their_photos_make_one_item_per_photo(emu, connections, make_scene, tmp_path):
    folder = tmp_path / "shoot"
    _scenes_in_one_folder(make_scene, folder, [("p0", "_mask"), ("p1", "-mask"), ("p2", "_mask")])
    state, summary = _batch(
        BatchSource(images=str(folder), masks=str(folder)), connections, provider="volcengine"
    )
    assert state.is_completed(), state.message
    assert [Path(r.item).name for r in summary.rows] == ["p0.jpg", "p1.jpg", "p2.jpg"]
    assert emu.counters.billable("volcengine") == 3


def test_ambiguous_masks_refuse_the_batch_before_any_paid_call(
    emu, connections, make_scene, tmp_path
):
    folder = tmp_path / "shoot"
    _scenes_in_one_folder(make_scene, folder, [("a", "_mask"), ("b", "_mask")])
    (folder / "a.png").write_bytes((folder / "a_mask.png").read_bytes())  # a second mask for a
    state, error = _batch(
        BatchSource(images=str(folder), masks=str(folder)), connections, provider="volcengine"
    )
    assert state.is_failed()
    assert isinstance(error, AmbiguousMaskError)
    assert "a.png" in str(error) and "a_mask.png" in str(error) and "a.jpg" in str(error)
    assert emu.counters.billable("volcengine") == 0


def test_pairing_rules_without_a_flow(tmp_path):
    d, m = str(tmp_path / "d"), str(tmp_path / "m")
    photos = [f"{d}/a.jpg", f"{d}/a_mask.png", f"{d}/b.jpg", f"{d}/b-mask.png", f"{d}/c.jpg"]
    items = items_from_listing(photos, photos, MaskOptions(boxes=[(0, 0, 4, 4)]))
    assert [(Path(i.image).name, i.mask.mask and Path(i.mask.mask).name) for i in items] == [
        ("a.jpg", "a_mask.png"),
        ("b.jpg", "b-mask.png"),
        ("c.jpg", None),  # the batch's default mask
    ]
    # no mask folder: files named as another's mask are still never items
    items = items_from_listing(photos, [], MaskOptions(boxes=[(0, 0, 4, 4)]))
    assert [Path(i.image).name for i in items] == ["a.jpg", "b.jpg", "c.jpg"]
    # masks in their own folder: the same stem is the mask (the README's `a.jpg` takes `a.png`)
    items = items_from_listing([f"{d}/a.jpg"], [f"{m}/a.png"], None)
    assert items[0].mask.mask == f"{m}/a.png"
    # two candidates for one photo
    with pytest.raises(AmbiguousMaskError, match=r"a\.jpg has 2 candidate masks"):
        items_from_listing([f"{d}/a.jpg"], [f"{m}/a.png", f"{m}/a_mask.png"], None)
    # one stem, two files in one folder: which is the photo?
    with pytest.raises(AmbiguousMaskError, match=r"a\.jpg, .*a\.png share the stem"):
        items_from_listing([f"{d}/a.jpg", f"{d}/a.png"], [f"{d}/a.jpg", f"{d}/a.png"], None)
    # the same folder spelled two ways is still the same folder
    (tmp_path / "d").mkdir()
    spelled = [f"{tmp_path}/./d/a.jpg", f"{tmp_path}/./d/a_mask.png"]
    assert len(items_from_listing([f"{d}/a.jpg", f"{d}/a_mask.png"], spelled, None)) == 1


def test_s3_prefix_shared_by_photos_and_masks(make_scene, s3, tmp_path):
    prefix = f"shared-{tmp_path.name}/"
    for name in ("p0", "p1"):
        image, mask = make_scene(name)
        s3.upload_file(str(image), BUCKET, f"{prefix}{name}.jpg")
        s3.upload_file(str(mask), BUCKET, f"{prefix}{name}_mask.png")
    root = f"s3://{BUCKET}/{prefix}"
    items = asyncio.run(load_items(BatchSource(images=root, masks=root), s3_client=s3))
    assert [(i.image, i.mask.mask) for i in items] == [
        (f"{root}p0.jpg", f"{root}p0_mask.png"),
        (f"{root}p1.jpg", f"{root}p1_mask.png"),
    ]
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}p0.png", Body=b"x")
    with pytest.raises(AmbiguousMaskError, match=r"p0\.png"):
        asyncio.run(load_items(BatchSource(images=root, masks=root), s3_client=s3))


# --- issue 9 item 7: manifests --------------------------------------------------------------


def test_manifest_rows_stay_under_the_manifests_folder(emu, connections, make_scene, tmp_path):
    inbox, elsewhere = tmp_path / "inbox", tmp_path / "elsewhere"
    inbox.mkdir()
    elsewhere.mkdir()
    image, mask = make_scene("inside")
    image.rename(inbox / "inside.jpg")
    mask.rename(inbox / "inside_mask.png")
    outside, outside_mask = make_scene("outside")
    outside.rename(elsewhere / "outside.jpg")
    outside_mask.rename(elsewhere / "outside_mask.png")
    manifest = inbox / "items.jsonl"
    rows = [
        {"image": "inside.jpg", "mask": "inside_mask.png"},  # relative to the manifest
        {"image": "/proc/self/environ", "mask": "inside_mask.png"},
        {"image": "../elsewhere/outside.jpg", "mask": "inside_mask.png"},
        {"image": "inside.jpg", "mask": str(elsewhere / "outside_mask.png")},
        {"image": f"s3://{BUCKET}/someone-else/x.jpg", "mask": "inside_mask.png"},
        {"image": "missing.jpg", "mask": "inside_mask.png"},
    ]
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    state, summary = _batch(BatchSource(manifest=str(manifest)), connections, provider="tencent")
    assert state.is_failed()
    assert [r.status for r in summary.rows] == ["done"] + ["failed"] * 5
    assert all("outside the manifest's folder" in r.error for r in summary.rows[1:5])
    assert "not found" in summary.rows[5].error
    assert emu.counters.billable("tencent") == 1

    # the flag lets rows reach further, explicitly
    source = BatchSource(manifest=str(manifest), allow_outside_root=True)
    items = asyncio.run(load_items(source))
    assert items[2].error is None
    assert Path(items[2].image).resolve() == (elsewhere / "outside.jpg").resolve()
    assert items[3].error is None


def test_links_and_uris_do_not_leave_the_manifests_folder(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "env.jpg").symlink_to("/proc/self/environ")
    (tmp_path / "secret.jpg").write_bytes(b"jpeg")
    (inbox / "ok.jpg").write_bytes(b"jpeg")
    rows = ["env.jpg", f"file://{tmp_path}/secret.jpg", "~/x.jpg", f"file://{inbox}/ok.jpg"]
    text = "image,boxes\n" + "".join(f'{r},"[[1,1,5,5]]"\n' for r in rows)
    items = items_from_manifest(text, str(inbox / "m.csv"), None)
    assert [bool(i.error and "outside" in i.error) for i in items] == [True, True, True, False]


def test_s3_manifest_rows_stay_under_its_prefix(s3, make_scene, tmp_path):
    prefix = f"manifests-{tmp_path.name}/"
    rows = [
        {"image": "a.jpg", "boxes": "[[1, 1, 5, 5]]"},
        {"image": f"s3://{BUCKET}/{prefix}b.jpg", "boxes": "[[1, 1, 5, 5]]"},
        {"image": f"s3://{BUCKET}/other/c.jpg", "boxes": "[[1, 1, 5, 5]]"},
        {"image": f"s3://other-bucket/{prefix}c.jpg", "boxes": "[[1, 1, 5, 5]]"},
        {"image": f"s3://{BUCKET}/{prefix}../c.jpg", "boxes": "[[1, 1, 5, 5]]"},
        {"image": str(tmp_path / "local.jpg"), "boxes": "[[1, 1, 5, 5]]"},
    ]
    body = "\n".join(json.dumps(r) for r in rows).encode()
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}items.jsonl", Body=body)
    source = BatchSource(manifest=f"s3://{BUCKET}/{prefix}items.jsonl")
    items = asyncio.run(load_items(source, s3_client=s3))
    assert items[0].image == f"s3://{BUCKET}/{prefix}a.jpg" and items[0].error is None
    assert items[1].error is None
    assert all("outside the manifest's folder" in i.error for i in items[2:])


def test_ten_thousand_missing_files_fail_fast_with_one_line_each(tmp_path):
    manifest = tmp_path / "items.csv"
    manifest.write_text(
        "image,boxes\n" + "".join(f"missing-{i}.jpg,[[1,1,5,5]]\n" for i in range(10_000))
    )
    started = time.monotonic()
    items = asyncio.run(load_items(BatchSource(manifest=str(manifest))))
    assert time.monotonic() - started < 10  # stat calls: no reads, no tasks, no tracebacks
    assert len(items) == 10_000
    assert all(i.error and "not found" in i.error and "\n" not in i.error for i in items)


def test_a_manifest_of_missing_files_pays_nothing(emu, connections, tmp_path):
    manifest = tmp_path / "items.csv"
    manifest.write_text(
        "image,boxes\n" + "".join(f"missing-{i}.jpg,[[1,1,5,5]]\n" for i in range(200))
    )
    state, summary = _batch(BatchSource(manifest=str(manifest)), connections, provider="tencent")
    assert state.is_failed()
    assert (summary.total, summary.failed) == (200, 200)
    assert {r.error_type for r in summary.rows} == {"InputError"}
    assert all("not found" in r.error for r in summary.rows)
    assert emu.counters.billable("tencent") == 0


def test_manifest_caps_and_binary_manifests_are_typed_errors(tmp_path):
    with pytest.raises(ManifestError, match="over 16777216 bytes"):
        decode_manifest(b"a" * (MAX_MANIFEST_BYTES + 1), "big.csv")
    with pytest.raises(ManifestError, match="not UTF-8"):
        decode_manifest(bytes(range(256)) * 4, "photo.csv")
    with pytest.raises(ManifestError, match="NUL"):
        decode_manifest(b"image\nx.jpg\x00\n", "nul.csv")
    text = "image\n" + "x.jpg\n" * 11
    with pytest.raises(ManifestError, match="more than 10 rows"):
        items_from_manifest(text, str(tmp_path / "m.csv"), None, max_rows=10)
    with pytest.raises(ManifestError, match="no image column"):
        items_from_manifest("photo,mask\nx.jpg,y.png\n", str(tmp_path / "m.csv"), None)

    # through the loader: a JPEG given as a manifest
    fake = tmp_path / "items.csv"
    fake.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    with pytest.raises(ManifestError) as caught:
        asyncio.run(load_items(BatchSource(manifest=str(fake))))
    assert isinstance(caught.value, InputError) and caught.value.source == str(fake)


def test_inverted_boxes_are_typed_errors_everywhere(tmp_path):
    with pytest.raises(ValidationError, match="inverted"):
        MaskOptions(boxes=[(40, 40, 10, 10)])
    with pytest.raises(InputError, match="left < right"):
        draw_shapes(BoxMask(((40, 40, 10, 10),)), (64, 64))
    with pytest.raises(InputError, match="left < right"):
        prepare_mask(BoxMask(((40, 10, 10, 30),)), image=(64, 64))
    with pytest.raises(InputError):
        prepare_mask([[(1, 1), (2, 2)]], image=(64, 64))
    (tmp_path / "a.jpg").write_bytes(b"")
    items = items_from_manifest(
        'image,boxes\na.jpg,"[[40, 40, 10, 10]]"\n', str(tmp_path / "m.csv"), None
    )
    assert "inverted" in items[0].error and "line 2" in items[0].error


# --- output paths ------------------------------------------------------------------------------


def test_output_paths_never_overwrite_the_input_or_climb_out(tmp_path):
    with pytest.raises(ValidationError, match="climbs out"):
        OutputOptions(path="a/../../x.png")
    with pytest.raises(ValidationError, match="climbs out"):
        OutputOptions(path=str(tmp_path / "out" / ".." / ".." / "x.png"))
    assert OutputOptions(path="../results/x.png").path == "../results/x.png"  # plainly a folder

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"jpeg")
    link = tmp_path / "link.jpg"
    link.symlink_to(photo)
    for same in (photo, link, tmp_path / "." / "photo.jpg"):
        with pytest.raises(InputError, match="input image itself"):
            check_output_path(same, str(photo))
    with pytest.raises(InputError, match="input image itself"):
        check_output_path(photo, f"file://{photo}")
    check_output_path(tmp_path / "photo-clean.png", str(photo))
    check_output_path(tmp_path / "photo.jpg", f"s3://{BUCKET}/photo.jpg")

    schema = OutputOptions.model_json_schema()["properties"]["path"]
    assert validate({"p": "a/../../x.png"}, _wrap(schema))
    assert not validate({"p": "out/x.png"}, _wrap(schema))


def _wrap(prop: dict) -> dict:
    return {"type": "object", "properties": {"p": prop}}


# --- issue 12: forms that refuse what the flow would refuse ------------------------------


@flow
def _form(
    mask: MaskOptions,
    variants: Variants = 1,
    settings: EraseSettings = EraseSettings(),  # noqa: B008 (frozen model)
    max_concurrency: BatchConcurrency = 4,
    output: OutputOptions = OutputOptions(),  # noqa: B008
) -> None:
    """A flow shaped like erase and batch-erase, for their form's schema."""


def _schema() -> dict:
    return parameter_schema(_form).model_dump_for_openapi()


def test_form_schema_carries_bounds():
    schema = _schema()
    props, defs = schema["properties"], schema["definitions"]
    assert (props["variants"]["minimum"], props["variants"]["maximum"]) == (1, 4)
    assert (props["max_concurrency"]["minimum"], props["max_concurrency"]["maximum"]) == (1, 64)
    seed = defs["EraseSettings"]["properties"]["seed"]
    assert (seed["minimum"], seed["maximum"]) == (-1, MAX_SEED)
    for name, low, high in (("steps", 1, 200), ("strength", 0.1, 1.0), ("scale", 1.0, 20.0)):
        field = defs["EraseSettings"]["properties"][name]
        assert (field["minimum"], field["maximum"]) == (low, high)
    assert "not" in defs["MaskOptions"]
    polygon = defs["MaskOptions"]["properties"]["polygons"]["items"]
    assert polygon["minItems"] == 3
    # the models' own schemas carry the same rules
    assert EraseSettings.model_json_schema()["properties"]["seed"]["maximum"] == MAX_SEED
    assert MaskOptions.model_json_schema()["not"] == defs["MaskOptions"]["not"]
    assert Connections.model_json_schema()["properties"]["requests_per_second"]["anyOf"][0] == {
        "exclusiveMinimum": 0,
        "maximum": 1000,
        "type": "number",
    }


@pytest.mark.parametrize(
    "params",
    [
        {"mask": {}},  # a mask-less erase
        {"mask": {"mask": None, "boxes": [], "polygons": [], "from_alpha": False}},
        {"mask": {"mask": ""}},
        {"mask": {"mask": "m.png"}, "variants": 0},
        {"mask": {"mask": "m.png"}, "variants": 5},
        {"mask": {"mask": "m.png"}, "settings": {"seed": MAX_SEED + 1}},
        {"mask": {"mask": "m.png"}, "settings": {"seed": -2}},
        {"mask": {"mask": "m.png"}, "settings": {"strength": 1.5}},
        {"mask": {"mask": "m.png"}, "max_concurrency": 0},
        {"mask": {"polygons": [[[0, 0], [4, 4]]]}},
        {"mask": {"mask": "m.png"}, "output": {"path": "a/../../x.png"}},
    ],
)
def test_the_server_refuses_what_the_flow_would(params):
    """Prefect validates a run's parameters against this schema before the run exists."""
    with pytest.raises(SchemaError):
        validate(params, _schema(), raise_on_error=True)


@pytest.mark.parametrize(
    "params",
    [
        {"mask": {"mask": "m.png"}},
        {"mask": {"boxes": [[1, 1, 5, 5]]}, "variants": 4},
        {"mask": {"from_alpha": True}, "settings": {"seed": -1}},
        {"mask": {"polygons": [[[0, 0], [4, 0], [4, 4]]]}, "max_concurrency": 64},
    ],
)
def test_the_server_accepts_what_the_flow_accepts(params):
    validate(params, _schema(), raise_on_error=True)


def test_models_refuse_the_same_values():
    with pytest.raises(ValidationError, match="got none"):
        MaskOptions()
    with pytest.raises(ValidationError):
        MaskOptions(polygons=[[(0, 0), (4, 4)]])
    with pytest.raises(ValidationError):
        EraseSettings(seed=MAX_SEED + 1)
    with pytest.raises(ValidationError):
        Connections(requests_per_second=0)
    with pytest.raises(ValidationError, match="exactly one"):
        BatchSource()
    assert EraseSettings(seed=MAX_SEED).seed + 3 == 2**31 - 1  # the 4th variant's seed fits


@pytest.mark.parametrize(
    "model", [MaskOptions, EraseSettings, OutputOptions, Connections, BatchSource]
)
def test_descriptions_survive_the_ui(model: type[BaseModel]):
    """The Prefect UI drops text between angle brackets; every field says what it means."""

    def descriptions(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "description" and isinstance(value, str):
                    yield value
                else:
                    yield from descriptions(value)
        elif isinstance(node, list):
            for value in node:
                yield from descriptions(value)

    texts = list(descriptions(model.model_json_schema()))
    assert texts and not [t for t in texts if "<" in t or ">" in t]
    assert all(field.description for field in model.model_fields.values())
