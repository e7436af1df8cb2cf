"""Admission control: one heavy job at a time by default, a bounded wait, health never queued."""
import threading

import pytest
from conftest import AUTH, PRODUCT_BOX, mask_request_in_background

from handler import process as process_module
from handler.admission import Admission
from handler.errors import ServiceUnavailable
from handler.runtime import reset_runtime


@pytest.fixture
def busy_process(monkeypatch):
    """A process action that holds its job slot until the test releases it."""
    entered, release = threading.Event(), threading.Event()
    real = process_module.process

    def holding(runtime, payload, request):
        entered.set()
        assert release.wait(30)
        return real(runtime, payload, request)

    import handler.dispatch as dispatch

    monkeypatch.setitem(dispatch._ACTIONS, "process", holding)
    return entered, release


def test_a_second_job_past_the_queue_timeout_gets_503_with_retry_after(app, client, function_env, upload,
                                                                       scene_pixels, busy_process):
    function_env.setenv("QUEUE_TIMEOUT_S", "0")
    reset_runtime()
    entered, release = busy_process
    scene = upload(scene_pixels)["image_id"]
    with mask_request_in_background(app, scene):
        try:
            assert entered.wait(30)
            response = client.post("/process", json={"image_id": scene, "box": PRODUCT_BOX}, headers=AUTH)
            assert response.status_code == 503
            assert response.get_json()["error"]["code"] == "busy"
            assert int(response.headers["Retry-After"]) >= 1
            assert client.get("/health").status_code == 200, "health is never queued behind heavy work"
        finally:
            release.set()


def test_more_jobs_run_together_when_allowed():
    admission = Admission(max_jobs=2, queue_timeout_s=0)
    with admission.job(), admission.job():
        assert admission.running == 2
        with pytest.raises(ServiceUnavailable):
            with admission.job():
                pass
    assert admission.running == 0


def test_a_failing_job_releases_its_slot():
    admission = Admission(max_jobs=1, queue_timeout_s=0)
    with pytest.raises(RuntimeError):
        with admission.job():
            raise RuntimeError("boom")
    with admission.job():
        assert admission.running == 1
