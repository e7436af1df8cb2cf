"""Admission control: one heavy job at a time by default, a bounded wait, health never queued."""
import threading
from dataclasses import replace

import pytest

from handler.edge import create_handler
from handler.edge import function as function_module
from handler.errors import ServiceUnavailable
from handler.platform.admission import Admission

from support.function import AUTH, client_for, mask_request_in_background, upload_image
from support.images import PRODUCT_BOX


@pytest.fixture
def busy_process(monkeypatch):
    """A process action that holds its job slot until the test releases it."""
    entered, release = threading.Event(), threading.Event()
    real = function_module.process

    def holding(runtime, request):
        entered.set()
        assert release.wait(30)
        return real(runtime, request)

    monkeypatch.setattr(function_module, "process", holding)
    return entered, release


def test_a_second_job_past_the_queue_timeout_gets_503_with_retry_after(config, scene_pixels, busy_process):
    function = create_handler(replace(config, queue_timeout_s=0))
    client = client_for(function)
    entered, release = busy_process
    scene = upload_image(client, scene_pixels)["image_id"]
    with mask_request_in_background(function, scene):
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
    admission = Admission(max_jobs=2, max_waiting=4, queue_timeout_s=0)
    with admission.job(), admission.job():
        assert admission.running == 2
        with pytest.raises(ServiceUnavailable):
            with admission.job():
                pass
    assert admission.running == 0


def test_a_failing_job_releases_its_slot():
    admission = Admission(max_jobs=1, max_waiting=4, queue_timeout_s=0)
    with pytest.raises(RuntimeError):
        with admission.job():
            raise RuntimeError("boom")
    with admission.job():
        assert admission.running == 1


def test_jobs_beyond_the_waiting_room_are_turned_away_at_once():
    admission = Admission(max_jobs=1, max_waiting=0, queue_timeout_s=30)
    with admission.job():
        started = threading.Event()
        outcome = []

        def second_job():
            started.set()
            try:
                with admission.job():
                    outcome.append("ran")
            except ServiceUnavailable as error:
                outcome.append(error.code)

        worker = threading.Thread(target=second_job)
        worker.start()
        worker.join(5)
        assert started.is_set() and not worker.is_alive(), "it waited for the slot instead of leaving"
    assert outcome == ["busy"]
