"""``prepare --coco``: a COCO detection file plus one CSV row per image -> a cohort folder.

The flow, one function per step::

    read_coco + read_tabular (tabular.py) -> join each image to its row (by image id or file name)
      -> exclusions (first failing reason per image, in the order of EXCLUSION_REASONS)
      -> boxes (clipped to the image; crowd, zero-area and outside ones dropped)
      -> grouped split (split.py) -> schema (kinds from the CSV, categories from the train split) -> write

The folder has the MIMIC cohort's layout (``cohort.csv``, ``boxes.csv``, ``prepare_report.json`` / ``.md``)
plus ``schema.json``, so ``train``, ``evaluate``, ``predict`` and ``ablate`` read it unchanged. In
``cohort.csv`` ``reading_id`` is the COCO image id, ``dicom_id`` its file name, ``subject_id`` its group
(the image itself without a group column); ``study_id`` and ``stay_id`` are empty. COCO's categories,
in id order, become the classes (label ids 1..K).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mdfnet.data.images import is_dicom
from mdfnet.data.report import (BOXES_FILE, COHORT_FILE, REPORT_JSON, REPORT_MD, label_and_split_sections,
                                markdown_section)
from mdfnet.data.split import check_no_leakage, split_by_patient, split_summary
from mdfnet.data.tabular import Tabular, read_tabular
from mdfnet.errors import InputError
from mdfnet.feature_schema import SCHEMA_FILE, CohortSchema, Feature, count_column, write_schema
from mdfnet.schema import BOX_COLUMNS, COHORT_ID_COLUMNS

EXCLUSION_REASONS: tuple[str, ...] = (
    "duplicate_image",      # its file_name was listed by an earlier image of the COCO file
    "image_file_missing",   # no file at IMAGES/file_name
    "no_tabular_row",       # no CSV row has its id (or file name)
    "image_unreadable",     # the file exists but its header cannot be read
    "image_size_mismatch",  # the file's width x height is not the COCO record's
)
BOX_EXCLUSIONS: tuple[str, ...] = ("boxes_crowd", "boxes_zero_area", "boxes_outside_image")
JOIN_MODES = ("auto", "id", "file_name")


@dataclass(frozen=True)
class CocoFile:
    """A checked COCO detection file: ``images`` (id, file_name, width, height; None when absent),
    ``annotations`` (image_id, category_id, x, y, w, h, iscrowd) and ``categories`` ((id, name) by id)."""

    path: Path
    images: pd.DataFrame
    annotations: pd.DataFrame
    categories: tuple[tuple[int, str], ...]


def prepare_coco(out_dir: str | Path, annotations: str | Path, images: str | Path, tabular: str | Path, *,
                 id_column: str = "image_id", group_column: str | None = None, join_on: str = "auto",
                 numeric: tuple[str, ...] = (), categorical: tuple[str, ...] = (), drop: tuple[str, ...] = (),
                 split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0) -> dict:
    """Write the cohort folder to ``out_dir`` and return the report (also written as JSON + Markdown)."""
    if join_on not in JOIN_MODES:
        raise InputError(f"--join-on must be one of {', '.join(JOIN_MODES)}, got {join_on!r}")
    images_dir = Path(images).resolve()
    if not images_dir.is_dir():
        raise InputError(f"{images}: not a folder (--images is the folder the COCO file_names are relative to)")
    coco = read_coco(annotations)
    table = read_tabular(tabular, id_column, group_column, tuple(numeric), tuple(categorical), tuple(drop))
    classes = tuple(name for _, name in coco.categories)
    features = table.numeric + table.categorical
    reserved = set(COHORT_ID_COLUMNS) | {count_column(c) for c in classes} | {"image_id"}
    for name in features:
        if name in reserved:
            raise InputError(f"{table.path}: column '{name}' has the name of a cohort column; rename it or pass "
                             f"--drop {name}")
    joined_on = join_on
    if join_on == "auto":
        joined_on = "id" if table.rows.index.str.fullmatch(r"\d+").all() else "file_name"
    keys = _keys(coco.images, joined_on)
    rows = table.rows.copy()
    if joined_on == "id":
        bad = ~rows.index.str.fullmatch(r"\d+")
        if bad.any():
            raise InputError(f"{table.path}: line {int(rows['line'][bad].iloc[0])}, column '{id_column}': "
                             f"{rows.index[bad][0]!r} is not a COCO image id (an integer)")
        rows.index = rows.index.astype(np.int64).astype(str)  # "007" is image 7

    reason, sizes = exclusion_reasons(coco.images, keys, set(rows.index), images_dir)
    kept = coco.images[reason == ""].copy()
    kept["key"] = keys[reason == ""]
    kept["image_width"], kept["image_height"] = [s[0] for s in sizes[reason == ""]], [s[1] for s in sizes[reason == ""]]
    boxes, labels = collect_boxes(coco, kept, classes)
    cohort = build_cohort(kept, rows.loc[kept["key"]], boxes, classes, features, group_column, images_dir)
    counts = tuple(count_column(c) for c in classes)
    cohort["split"] = split_by_patient(cohort, split_fractions, seed, counts).to_numpy()
    check_no_leakage(cohort)
    labels["readings_without_finding"] = int((cohort[list(counts)].sum(axis=1) == 0).sum())
    schema = fit_schema(cohort, classes, table)

    result = {
        "format": "coco",
        "sources": {"annotations": str(annotations), "images": str(images), "tabular": str(tabular),
                    "id_column": id_column, "group_column": group_column, "joined_on": joined_on},
        "split_mode": "random", "split_fractions": list(split_fractions), "seed": seed,
        "readings": {"read": int(len(coco.images)), "kept": int(len(cohort))},
        "excluded": {r: int((reason == r).sum()) for r in EXCLUSION_REASONS},
        "tabular": {"rows": int(len(table.rows) + table.duplicate_rows), "duplicate_rows": table.duplicate_rows,
                    "rows_without_image": int((~rows.index.isin(keys)).sum())},
        "labels": labels,
        "splits": split_summary(cohort),
        "cohort": {"images": int(len(cohort)), "patients": int(cohort["subject_id"].nunique()),
                   "boxes": int(len(boxes))},
        "cohort_missing": {f: int(cohort[f].isna().sum()) for f in features},
        "schema": {"classes": list(classes), "numeric": list(schema.numeric),
                   "categorical": {f.name: len(f.categories) for f in schema.features if f.kind == "categorical"}},
    }
    write_coco_cohort(Path(out_dir), cohort, boxes, schema, result)
    return result


def read_coco(path: str | Path) -> CocoFile:
    """Read and check a COCO detection file; InputError names the file, the record and the key."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a COCO object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise InputError(f"{path}: missing list '{key}' (a COCO detection file has images, annotations and "
                             "categories)")
    categories = {}
    for i, item in enumerate(data["categories"]):
        cid, name = _integer(path, "categories", i, item, "id"), _get(path, "categories", i, item, "name")
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{path}: categories[{i}], key 'name': expected a non-empty name, got {name!r}")
        if cid in categories or name in categories.values():
            what = f"id {cid}" if cid in categories else f"name {name!r}"
            raise InputError(f"{path}: categories[{i}]: {what} appears twice")
        categories[cid] = name
    if not categories:
        raise InputError(f"{path}: 'categories' is empty; the classes come from it")
    images = []
    for i, item in enumerate(data["images"]):
        iid, name = _integer(path, "images", i, item, "id"), _get(path, "images", i, item, "file_name")
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{path}: images[{i}], key 'file_name': expected a file name, got {name!r}")
        size = [_integer(path, "images", i, item, k, positive=True) if item.get(k) is not None else None
                for k in ("width", "height")]
        images.append((iid, name, *size))
    frame = pd.DataFrame(images, columns=["id", "file_name", "width", "height"])
    repeated = frame["id"].duplicated()
    if repeated.any():
        i = int(np.flatnonzero(repeated)[0])
        raise InputError(f"{path}: images[{i}], key 'id': {frame['id'].iat[i]} appears twice")
    known = set(frame["id"])
    annotations = []
    for i, item in enumerate(data["annotations"]):
        where = f"{path}: annotations[{i}]" + (f" (id {item['id']})" if isinstance(item, dict) and "id" in item else "")
        image_id = _integer(path, "annotations", i, item, "image_id")
        if image_id not in known:
            raise InputError(f"{where}, key 'image_id': {image_id} is not the id of an image of the file")
        category_id = _integer(path, "annotations", i, item, "category_id")
        if category_id not in categories:
            raise InputError(f"{where}, key 'category_id': {category_id} is not one of the categories' ids "
                             f"({', '.join(str(c) for c in sorted(categories))})")
        bbox = _get(path, "annotations", i, item, "bbox")
        if (not isinstance(bbox, list) or len(bbox) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bbox)):
            raise InputError(f"{where}, key 'bbox': expected [x, y, width, height] (four numbers), got {bbox!r}")
        annotations.append((image_id, category_id, *map(float, bbox), bool(item.get("iscrowd", 0))))
    columns = ["image_id", "category_id", "x", "y", "w", "h", "iscrowd"]
    return CocoFile(path, frame, pd.DataFrame(annotations, columns=columns), tuple(sorted(categories.items())))


def exclusion_reasons(images: pd.DataFrame, keys: np.ndarray, rows: set[str],
                      images_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per COCO image: the first failing reason ("" = kept), and its (width, height) from the file header."""
    reason = np.full(len(images), "", dtype=object)
    sizes = np.empty(len(images), dtype=object)
    seen: set[str] = set()
    for i, (name, width, height) in enumerate(zip(images["file_name"], images["width"], images["height"])):
        path = images_dir / name
        if name in seen:
            reason[i] = "duplicate_image"
        elif not os.path.isfile(path):
            reason[i] = "image_file_missing"
        elif keys[i] not in rows:
            reason[i] = "no_tabular_row"
        else:
            sizes[i] = _header_size(path)
            if sizes[i] is None:
                reason[i] = "image_unreadable"
            elif any(pd.notna(given) and given != found for given, found in zip((width, height), sizes[i])):
                reason[i] = "image_size_mismatch"
        seen.add(name)
    return reason, sizes


def collect_boxes(coco: CocoFile, kept: pd.DataFrame, classes: tuple[str, ...]) -> tuple[pd.DataFrame, dict]:
    """``boxes.csv`` rows of the kept images (xyxy clipped to the image) and the ``labels`` report section."""
    name_of = dict(coco.categories)
    size_of = dict(zip(kept["id"], zip(kept["image_width"], kept["image_height"])))
    reading_of = dict(zip(kept["id"], kept["id"].astype(str)))
    counts = {"boxes_by_class": {c: 0 for c in classes}, "boxes_read": 0, "boxes_clipped": 0,
              **{k: 0 for k in BOX_EXCLUSIONS}}
    rows = []
    for ann in coco.annotations[coco.annotations["image_id"].isin(size_of)].itertuples(index=False):
        counts["boxes_read"] += 1
        width, height = size_of[ann.image_id]
        x0, y0, x1, y1 = ann.x, ann.y, ann.x + ann.w, ann.y + ann.h
        cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))
        if ann.iscrowd:
            counts["boxes_crowd"] += 1
        elif ann.w <= 0 or ann.h <= 0:
            counts["boxes_zero_area"] += 1
        elif cx1 <= cx0 or cy1 <= cy0:
            counts["boxes_outside_image"] += 1
        else:
            counts["boxes_clipped"] += int((cx0, cy0, cx1, cy1) != (x0, y0, x1, y1))
            counts["boxes_by_class"][name_of[ann.category_id]] += 1
            rows.append((reading_of[ann.image_id], name_of[ann.category_id], cx0, cy0, cx1, cy1, np.nan))
    return pd.DataFrame(rows, columns=list(BOX_COLUMNS)), counts


def build_cohort(kept: pd.DataFrame, rows: pd.DataFrame, boxes: pd.DataFrame, classes: tuple[str, ...],
                 features: tuple[str, ...], group_column: str | None, images_dir: Path) -> pd.DataFrame:
    """``cohort.csv`` rows (split still empty), in COCO image order."""
    reading = kept["id"].astype(str).to_numpy()
    cohort = pd.DataFrame({
        "reading_id": reading, "dicom_id": kept["file_name"].to_numpy(),
        "subject_id": rows[group_column].to_numpy() if group_column else reading,
        "study_id": pd.NA, "stay_id": pd.NA, "split": "",
        "image_path": [str(images_dir / name) for name in kept["file_name"]],
        "image_width": kept["image_width"].to_numpy(), "image_height": kept["image_height"].to_numpy()})
    for name in features:
        cohort[name] = rows[name].to_numpy()
    table = pd.crosstab(boxes["reading_id"], boxes["label"]) if len(boxes) else pd.DataFrame()
    for name in classes:
        per_image = table[name] if name in table else pd.Series(dtype="int64")
        cohort[count_column(name)] = cohort["reading_id"].map(per_image).fillna(0).astype("int64").to_numpy()
    return cohort


def fit_schema(cohort: pd.DataFrame, classes: tuple[str, ...], table: Tabular) -> CohortSchema:
    """The cohort's schema: the CSV's kinds; a categorical feature's categories are its train values, sorted."""
    train = cohort[cohort["split"] == "train"]
    features = [Feature(n, "numeric") for n in table.numeric]
    features += [Feature(n, "categorical", tuple(sorted(train[n].dropna().astype(str).unique())))
                 for n in table.categorical]
    return CohortSchema(classes, tuple(features))


def write_coco_cohort(out_dir: Path, cohort: pd.DataFrame, boxes: pd.DataFrame, schema: CohortSchema,
                      report: dict) -> None:
    """Write cohort.csv, boxes.csv, schema.json and the report (overwriting earlier ones) into ``out_dir``."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{out_dir}: cannot create the output folder ({err.strerror})") from None
    cohort[list(schema.cohort_columns)].to_csv(out_dir / COHORT_FILE, index=False)
    boxes.to_csv(out_dir / BOXES_FILE, index=False, float_format="%.3f")
    write_schema(schema, out_dir / SCHEMA_FILE)
    (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / REPORT_MD).write_text(summary_markdown(report))


def summary_markdown(report: dict) -> str:
    """The report as a short Markdown page: the funnel, tabular rows, boxes, splits and the schema."""
    src, read, kept = report["sources"], report["readings"]["read"], report["readings"]["kept"]
    lines = [
        "# mdfnet prepare --coco: cohort report", "",
        f"COCO file `{src['annotations']}`, images in `{src['images']}`, tabular data `{src['tabular']}` "
        f"(joined on {'image id' if src['joined_on'] == 'id' else 'file name'}, column `{src['id_column']}`; "
        f"groups: {('`' + src['group_column'] + '`') if src['group_column'] else 'one per image'}). "
        f"Split random (seed {report['seed']}).", "",
        f"COCO images read: **{read}**; kept: **{kept}** ({report['cohort']['patients']} groups, "
        f"{report['cohort']['boxes']} boxes).",
    ]
    lines += markdown_section("Exclusions (each image counted once, first failing reason)", ("reason", "images"),
                              report["excluded"].items())
    lines += markdown_section("Tabular rows", ("rows", "values"), report["tabular"].items())
    lines += label_and_split_sections(report, "Boxes", "Splits (grouped)", ("images", "groups"))
    schema = report["schema"]

    def kind(name: str) -> str:
        return "numeric" if name in schema["numeric"] else \
            f"categorical ({schema['categorical'][name]} values in train)"

    lines += markdown_section("Features and missing values", ("feature", "kind", "missing"),
                              ((name, kind(name), n) for name, n in report["cohort_missing"].items()))
    return "\n".join(lines) + "\n"


def _keys(images: pd.DataFrame, joined_on: str) -> np.ndarray:
    """Each image's join key: its id as text, or its file name."""
    column = images["id"].astype(str) if joined_on == "id" else images["file_name"]
    return column.to_numpy(dtype=object)


def _get(path: Path, key: str, i: int, item: object, field: str) -> object:
    if not isinstance(item, dict):
        raise InputError(f"{path}: {key}[{i}]: expected an object, got {type(item).__name__}")
    if field not in item:
        raise InputError(f"{path}: {key}[{i}]: missing key '{field}'")
    return item[field]


def _integer(path: Path, key: str, i: int, item: object, field: str, positive: bool = False) -> int:
    value = _get(path, key, i, item, field)
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value != int(value) or (positive and value <= 0)):
        raise InputError(f"{path}: {key}[{i}], key '{field}': expected a{' positive' if positive else 'n'} integer, "
                         f"got {value!r}")
    return int(value)


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header, None when it cannot be read."""
    try:
        if is_dicom(path):
            import pydicom

            ds = pydicom.dcmread(path, stop_before_pixels=True)
            return int(ds.Columns), int(ds.Rows)
        from PIL import Image

        with Image.open(path) as image:
            return image.size if image.size[0] > 0 and image.size[1] > 0 else None
    except Exception:  # any failure means unreadable; prepare counts it
        return None
