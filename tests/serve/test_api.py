"""The JSON API on a real server: the same numbers as Predictor, every bad input a 4xx with one clear line,
uploads cleaned, and 8 concurrent requests each answered with its own result."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

httpx = pytest.importorskip("httpx")


def post(served, path, values=None, name=None, content=None, **options):
    files = {"image": (name or path.name, content if content is not None else path.read_bytes())}
    data = {**(values or {}), **options}
    return httpx.post(f"{served.url}/api/predict", files=files, data=data, timeout=120)


def test_info_describes_the_model_and_the_form(served):
    info = httpx.get(f"{served.url}/api/info").json()
    assert info["variant"] == "mdf" and info["image_size"] == 64 and info["max_upload_mb"] == 50
    assert info["medians_stored"] is True
    o2sat = next(f for f in info["features"] if f["name"] == "o2sat")
    assert o2sat == {"name": "o2sat", "label": "O2 saturation", "used": True, "unit": "%", "min": 50.0,
                     "max": 100.0, "median": 97.0}
    assert [c["name"] for c in info["classes"]][:2] == ["Enlarged cardiac silhouette", "Atelectasis"]
    page = httpx.get(served.url + "/")
    assert page.status_code == 200 and "<title>mdfnet" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing referenced outside this server
    assert httpx.get(served.url + "/docs").status_code == 404  # FastAPI's docs would load a CDN


def test_a_dicom_with_some_values_gives_predictors_numbers(served, chest_dicom):
    values = {"age": "71", "temperature": "101.3", "o2sat": "91", "gender": "M"}
    answer = post(served, chest_dicom, values)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    expected = served.predictor.predict(chest_dicom, values, explain=True)
    assert got["image"] == "RG1_UNCR.dcm" and (got["width"], got["height"]) == (1841, 1955)
    assert got["detections"] == expected["detections"] and len(got["detections"]) == 10
    assert got["missing"] == ["heartrate", "resprate", "sbp", "dbp", "pain", "acuity"]
    assert set(got["detections"][0]["effects"]["missing"]) == {"age", "temperature", "o2sat", "gender"}
    assert set(got["timing_ms"]) == {"read", "model", "total", "cpu"} and "preview" not in got
    plain = post(served, chest_dicom, values, explain="false", preview="true").json()
    assert "effects" not in plain["detections"][0]
    assert plain["preview"].startswith("data:image/jpeg;base64,")


TRUNCATED = "RG1_half.dcm"


@pytest.mark.parametrize(("case", "status", "message"), [
    ("text file", 400, "notes.txt: not a readable image (UnidentifiedImageError) (expected a DICOM, JPEG or PNG "
                       "radiograph)"),
    ("truncated DICOM", 400, f"{TRUNCATED}: unreadable DICOM"),
    ("empty file", 400, "empty.png: the file is empty"),
    ("text in a number", 400, "RG1_UNCR.dcm: heartrate='fast' is not a number"),
    ("out of range", 400, "RG1_UNCR.dcm: o2sat=120 is outside the physiological range; expected 50 to 100 (%)"),
    ("bad gender", 400, "RG1_UNCR.dcm: gender='X'; expected F or M"),
    ("unknown field", 400, "unknown field(s) ['temp']"),
    ("bad flag", 400, "explain='maybe'; expected true or false"),
    ("no file", 400, "no image: send the radiograph as the multipart file field 'image'"),
])
def test_bad_input_is_a_4xx_with_one_line_and_the_server_goes_on(served, chest_dicom, case, status, message):
    dicom = chest_dicom.read_bytes()
    if case == "text file":
        answer = post(served, chest_dicom, name="notes.txt", content=b"age,temperature\n71,101.3\n")
    elif case == "truncated DICOM":
        answer = post(served, chest_dicom, name=TRUNCATED, content=dicom[: len(dicom) // 2])
    elif case == "empty file":
        answer = post(served, chest_dicom, name="empty.png", content=b"")
    elif case == "text in a number":
        answer = post(served, chest_dicom, {"age": "71", "heartrate": "fast"})
    elif case == "out of range":
        answer = post(served, chest_dicom, {"o2sat": "120"})
    elif case == "bad gender":
        answer = post(served, chest_dicom, {"gender": "X"})
    elif case == "unknown field":
        answer = post(served, chest_dicom, {"temp": "101"})
    elif case == "bad flag":
        answer = post(served, chest_dicom, explain="maybe")
    else:
        answer = httpx.post(f"{served.url}/api/predict", data={"age": "71"}, timeout=60)
    assert answer.status_code == status
    assert message in answer.json()["error"] and "\n" not in answer.json()["error"]
    assert str(served.app.state.upload_root) not in answer.text  # errors name the upload, not our temp file
    assert list(served.app.state.upload_root.iterdir()) == []
    assert post(served, chest_dicom, {"age": "60"}, explain="false").status_code == 200


def test_a_file_over_the_limit_is_413_declared_or_streamed(served, chest_dicom):
    answer = post(served, chest_dicom, name="huge.dcm", content=b"\0" * (50 * 2**20 + 1))  # one byte over
    assert answer.status_code == 413
    assert answer.json() == {"error": "huge.dcm: file is larger than the limit of 50 MB"}
    answer = post(served, chest_dicom, name="huge.dcm", content=b"\0" * (52 * 2**20))  # refused before parsing
    assert answer.status_code == 413
    assert answer.json() == {"error": "the upload is larger than the limit of 50 MB"}

    def chunks():  # no Content-Length: counted while it arrives
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="image"; filename="huge.dcm"\r\n\r\n'
        for _ in range(52):
            yield b"\0" * 2**20
        yield b"\r\n--xyz--\r\n"

    streamed = httpx.post(f"{served.url}/api/predict", content=chunks(), timeout=60,
                          headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert streamed.status_code == 413
    assert streamed.json() == {"error": "the upload is larger than the limit of 50 MB"}
    assert list(served.app.state.upload_root.iterdir()) == []
    assert post(served, chest_dicom, explain="false").status_code == 200


def test_eight_concurrent_requests_each_get_their_own_result(served, chest_dicom, chest_jpeg):
    requests = [(chest_dicom if i % 2 else chest_jpeg, {"age": str(30 + 7 * i), "sbp": str(100 + 5 * i)})
                for i in range(8)]
    expected = [served.predictor.predict(path, values, explain=True) for path, values in requests]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda r: post(served, *r), requests))
    assert [a.status_code for a in answers] == [200] * 8
    for (path, values), answer, mine in zip(requests, answers, expected):
        got = answer.json()
        assert got["image"] == path.name
        assert got["explanation"]["values"] == {"age": float(values["age"]), "sbp": float(values["sbp"])}
        assert json.dumps(got["detections"]) == json.dumps(mine["detections"])
    assert list(served.app.state.upload_root.iterdir()) == []
