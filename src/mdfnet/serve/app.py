"""The web page and JSON API of ``mdfnet serve``: one FastAPI app around one :class:`Predictor`.

Routes::

    GET  /               the page (static HTML, JS and CSS from ``static/``; nothing is fetched from elsewhere)
    GET  /api/info       the model, the form (features with units and ranges) and the classes with their colours
    POST /api/predict    multipart: file ``image`` (DICOM, JPEG or PNG) and optional fields ``age`` ... ``acuity``,
                         ``gender`` (F/M), ``explain`` (default true), ``preview`` (default false) -> JSON:
                         the result of :meth:`Predictor.predict` (``detections`` with ``effects``, ``missing``,
                         ``notes``, ``explanation``), ``timing_ms`` and, with ``preview``, a JPEG data URL

Bad input is answered ``{"error": "<one line>"}`` with status 400 (not an image, unreadable DICOM, text in a
number field, a value outside ``prepare``'s range, an unknown field) or 413 (file over the size limit), and
the server goes on serving. Each upload is written to its own folder inside one temporary folder of the
server's, deleted when the request ends; the whole folder goes when the server stops. The model is loaded
once; requests are read in parallel and run through the model one at a time (:class:`Predictor`).
FastAPI's interactive docs are off: they load their scripts from a CDN.
"""

from __future__ import annotations

import base64
import io
import shutil
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from mdfnet.data.clean import UNITS, plausible_range
from mdfnet.engine.predict import Predictor
from mdfnet.errors import InputError
from mdfnet.model.build import VARIANTS
from mdfnet.schema import CLASSES, CLINICAL_FEATURES, NUMERIC_FEATURES

STATIC = Path(__file__).parent / "static"
DEFAULT_MAX_UPLOAD_MB = 50
FORM_OVERHEAD = 1 << 20          # bytes a request may carry beyond the file: boundaries and value fields
PREVIEW_MAX_SIDE = 1024          # the page's copy of the radiograph (boxes are drawn on it in the browser)
IMAGE_SUFFIXES = (".dcm", ".dicom", ".jpg", ".jpeg", ".png")
OPTION_FIELDS = ("explain", "preview")
# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), one per class id 1..5.
CLASS_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7")
FEATURE_LABELS = {
    "age": "Age", "temperature": "Temperature", "heartrate": "Heart rate", "resprate": "Respiratory rate",
    "o2sat": "O2 saturation", "sbp": "Systolic BP", "dbp": "Diastolic BP", "pain": "Pain", "acuity": "Acuity",
    "gender": "Gender",
}


class UploadTooLarge(Exception):
    """The request body passed the size limit while it was being read."""


def create_app(predictor: Predictor, *, checkpoint: str | Path = "", max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
               ) -> FastAPI:
    """The app serving ``predictor``; ``checkpoint`` is only shown. ``app.state.upload_root`` is the
    temporary folder uploads go to (empty between requests, removed at shutdown)."""
    max_bytes = int(max_upload_mb * (1 << 20))
    upload_root = Path(tempfile.mkdtemp(prefix="mdfnet-serve-"))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        shutil.rmtree(upload_root, ignore_errors=True)

    app = FastAPI(title="mdfnet serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.upload_root = upload_root
    app.add_middleware(BodyLimit, max_bytes=max_bytes + FORM_OVERHEAD, max_upload_mb=max_upload_mb)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    info = model_info(predictor, str(checkpoint), max_upload_mb)

    @app.exception_handler(UploadTooLarge)
    async def too_large(request: Request, err: UploadTooLarge) -> JSONResponse:
        return error(413, str(err))

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/info")
    async def api_info() -> dict:
        return info

    @app.post("/api/predict")
    async def api_predict(request: Request) -> JSONResponse:
        try:
            form = await request.form(max_files=1, max_fields=len(CLINICAL_FEATURES) + len(OPTION_FIELDS))
        except MultiPartException as err:
            return error(400, f"expected a multipart form with the file field 'image': {err}")
        try:
            upload = form.get("image")
            if not isinstance(upload, UploadFile):
                return error(400, "no image: send the radiograph as the multipart file field 'image'")
            unknown = sorted(set(form) - {"image", *CLINICAL_FEATURES, *OPTION_FIELDS})
            if unknown:
                return error(400, f"unknown field(s) {unknown}; expected image, {', '.join(CLINICAL_FEATURES)}, "
                                  f"{', '.join(OPTION_FIELDS)}")
            values = {name: form[name] for name in CLINICAL_FEATURES if isinstance(form.get(name), str)}
            explain, preview = flag(form, "explain", True), flag(form, "preview", False)
            name = Path(upload.filename or "upload").name
            with tempfile.TemporaryDirectory(dir=upload_root) as folder:
                suffix = Path(name).suffix.lower()
                path = Path(folder) / f"upload{suffix if suffix in IMAGE_SUFFIXES else ''}"
                await save_upload(upload, path, max_bytes, max_upload_mb, name)
                return JSONResponse(await run_in_threadpool(
                    predict_file, predictor, path, name, values, explain, preview))
        except InputError as err:
            return error(400, str(err))
        finally:
            await form.close()

    return app


def predict_file(predictor: Predictor, path: Path, name: str, values: dict[str, str], explain: bool,
                 preview: bool) -> dict:
    """Read the saved upload and run the model; errors name the uploaded file, not the temporary one.

    ``timing_ms``: wall time of reading the file and of the model, and ``cpu``, the CPU time this request's
    thread spent on both (which other work on the machine does not inflate)."""
    tic, cpu = time.perf_counter(), time.thread_time()
    try:
        radiograph = predictor.read(path)
    except InputError as err:
        raise InputError(f"{str(err).replace(str(path), name)} (expected a DICOM, JPEG or PNG radiograph)") from None
    except Image.DecompressionBombError as err:
        raise InputError(f"{name}: {err}") from None
    read = time.perf_counter()
    result = predictor.predict_radiograph(radiograph, values, explain=explain, source=name, strict=True)
    done = time.perf_counter()
    result["image"] = name
    if preview:
        result["preview"] = preview_jpeg(path)
    result["timing_ms"] = {"read": round(1000 * (read - tic), 1), "model": round(1000 * (done - read), 1),
                           "total": round(1000 * (time.perf_counter() - tic), 1),
                           "cpu": round(1000 * (time.thread_time() - cpu), 1)}
    return result


async def save_upload(upload: UploadFile, path: Path, max_bytes: int, max_upload_mb: float, name: str) -> int:
    """Copy the uploaded file to ``path`` in 1 MiB blocks; over ``max_bytes`` is :class:`UploadTooLarge`."""
    size = 0
    with path.open("wb") as handle:
        while block := await upload.read(1 << 20):
            size += len(block)
            if size > max_bytes:
                raise UploadTooLarge(f"{name}: file is larger than the limit of {max_upload_mb:g} MB")
            handle.write(block)
    if size == 0:
        raise InputError(f"{name}: the file is empty")
    return size


def preview_jpeg(path: Path) -> str:
    """The radiograph as an 8-bit grey JPEG data URL, at most ``PREVIEW_MAX_SIDE`` pixels on a side
    (for looking at: JPEG encodes a radiograph several times faster than PNG)."""
    from mdfnet.data.images import read_image

    pixels = read_image(path)
    image = Image.fromarray((pixels * 255).round().astype("uint8"))
    image.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE), Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def flag(form, name: str, default: bool) -> bool:
    value = form.get(name)
    if value is None or str(value).strip() == "":
        return default
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InputError(f"{name}={value!r}; expected true or false")


def model_info(predictor: Predictor, checkpoint: str, max_upload_mb: float) -> dict:
    """What the page needs to build its form and legend."""
    medians = predictor.medians.tolist() if predictor.medians is not None else [None] * len(NUMERIC_FEATURES)
    features = []
    for name in CLINICAL_FEATURES:
        entry = {"name": name, "label": FEATURE_LABELS[name], "used": name in predictor.features}
        if name in NUMERIC_FEATURES:
            low, high = plausible_range(name)
            median = medians[NUMERIC_FEATURES.index(name)]
            entry.update(unit=UNITS[name], min=low, max=high,
                         median=None if median is None or median != median else round(median, 2))
        else:
            entry.update(unit="F or M", choices=["F", "M"])
        features.append(entry)
    variant = predictor.config.model.variant
    return {"checkpoint": checkpoint, "variant": variant, "model": VARIANTS[variant].label,
            "spatialiser": predictor.config.model.spatialiser, "image_size": predictor.size,
            "max_upload_mb": max_upload_mb, "medians_stored": predictor.medians is not None,
            "features": features,
            "classes": [{"id": i + 1, "name": c, "colour": CLASS_COLOURS[i]} for i, c in enumerate(CLASSES)]}


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` is answered 413 without being stored.

    A declared ``Content-Length`` over the limit is answered at once (the body is read and dropped first, so
    that the client, still sending, receives the answer); a chunked body that grows past it stops the read
    with :class:`UploadTooLarge`.
    """

    def __init__(self, app, max_bytes: int, max_upload_mb: float) -> None:
        self.app, self.max_bytes, self.max_upload_mb = app, max_bytes, max_upload_mb

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        message = f"the upload is larger than the limit of {self.max_upload_mb:g} MB"
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            while (await receive()).get("more_body"):
                pass
            await error(413, message)(scope, receive, send)
            return
        received = 0

        async def counted():
            nonlocal received
            event = await receive()
            received += len(event.get("body", b""))
            if received > self.max_bytes:
                raise UploadTooLarge(message)
            return event

        await self.app(scope, counted, send)
