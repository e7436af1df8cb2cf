"""`local_invoke.py batch`: one product into a folder of ads, through two instances of the function
behind one URL (a round-robin proxy, as a platform spreads requests) sharing one Redis; a corrupt
scene is reported and the others done; a second run skips what is done."""
from __future__ import annotations

import contextlib
import json
import subprocess
import sys

import pytest
from PIL import Image

import local_invoke
from bench.balancer import RoundRobin

from support.function import PASSWORD
from support.paths import REPO, SAMPLES
from support.redis_server import redis_server, requires_redis
from support.servers import function_env, running_function

SAMPLE = json.loads((SAMPLES / "samples.json").read_text())


def make_ads(folder) -> dict[str, tuple[int, int]]:
    """Five ads made from the sample scene, at other sizes, mirrored and in other formats, and
    one corrupt file; writes boxes.csv beside them. Returns the good ones' sizes."""
    folder.mkdir(parents=True)
    scene = Image.open(SAMPLES / SAMPLE["scene"]).convert("RGB")
    x0, y0, x1, y1 = SAMPLE["box"]
    width = scene.width
    ads = {
        "ad1.jpg": (scene, 1.0, False),
        "ad2.png": (scene.resize((1600, 1200)), 1.25, False),
        "ad3.jpg": (scene.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 1.0, True),
        "ad4.webp": (scene.resize((960, 720)), 0.75, False),
    }
    rows = ["file,x0,y0,x1,y1"]
    for name, (image, scale, mirrored) in ads.items():
        image.save(folder / name, quality=92)
        box = (width - x1, y0, width - x0, y1) if mirrored else (x0, y0, x1, y1)
        rows.append(",".join([name, *(f"{value * scale:g}" for value in box)]))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG any more" * 50)
    rows.append("broken.jpg,10,10,200,200")
    (folder.parent / "boxes.csv").write_text("\n".join(rows) + "\n")
    return {name: image.size for name, (image, _, _) in ads.items()}


# ---- the plan, without a function --------------------------------------------------------------------

def test_boxes_csv_with_a_header_comments_and_blank_lines(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text("file, x0, y0, x1, y1\n# old ones\n\nad 1.jpg, 1, 2, 30.5, 40\nad2.png,5,6,7,8\n")
    assert local_invoke.read_boxes(path) == {"ad 1.jpg": [1, 2, 30.5, 40], "ad2.png": [5, 6, 7, 8]}


def test_a_malformed_box_line_names_its_line(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text("ad1.jpg,1,2,3,4\nad2.jpg,1,2,three,4\n")
    with pytest.raises(local_invoke.InvokeError, match="line 2"):
        local_invoke.read_boxes(path)


def test_the_plan_keeps_names_skips_done_ones_and_fails_scenes_without_a_box(tmp_path):
    scenes, out = tmp_path / "ads", tmp_path / "out"
    scenes.mkdir()
    out.mkdir()
    for name in ("a.jpg", "b.png", "c.tif", "d.jpg", "notes.txt"):
        (scenes / name).write_bytes(b"x")
    (out / "a.jpg").write_bytes(b"done before")
    boxes = {name: [1, 2, 3, 4] for name in ("a.jpg", "b.png", "c.tif")}
    plan = {item.scene.name: item for item in local_invoke.plan_batch(scenes, boxes, out, force=False)}
    assert set(plan) == {"a.jpg", "b.png", "c.tif", "d.jpg"}
    assert (plan["a.jpg"].status, plan["b.png"].status, plan["d.jpg"].status) == ("skipped", "pending", "failed")
    assert plan["b.png"].output == out / "b.png" and plan["c.tif"].output == out / "c.png"
    assert "no box" in plan["d.jpg"].reason
    forced = local_invoke.plan_batch(scenes, boxes, out, force=True)
    assert [item.status for item in forced if item.scene.name == "a.jpg"] == ["pending"]


# ---- through two instances -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """Two instances sharing one Redis behind one URL: (the URL, the balancer)."""
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(redis_server(tmp_path_factory.mktemp("redis")))
        urls = []
        for name in ("a", "b"):
            workdir = tmp_path_factory.mktemp(name)
            env = function_env(workdir, STORE_URL=redis.url, MAX_CONCURRENT_JOBS="1")
            urls.append(stack.enter_context(running_function(env, workdir)).url)
        yield stack.enter_context(RoundRobin(urls))


def run_batch_command(url: str, scenes, out) -> list[str]:
    return [sys.executable, str(REPO / "local_invoke.py"), "--url", url, "--password", PASSWORD, "batch",
            "--product", str(SAMPLES / SAMPLE["product"]), "--scenes", str(scenes),
            "--boxes", str(scenes.parent / "boxes.csv"), "-o", str(out)]


def run_batch(url: str, scenes, out) -> subprocess.CompletedProcess:
    return subprocess.run([*run_batch_command(url, scenes, out), "--jobs", "2"], capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
@requires_redis
def test_batch_through_two_instances_reports_the_corrupt_scene_and_resumes(deployment, tmp_path):
    scenes, out = tmp_path / "ads", tmp_path / "out"
    sizes = make_ads(scenes)
    first = run_batch(deployment.url, scenes, out)
    assert first.returncode == 1, first.stderr  # one scene failed
    for name, size in sizes.items():
        result = Image.open(out / name)
        assert result.size == size, f"{name}: the photo's own size"
        assert result.format == {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[name.rsplit(".", 1)[1]]
    assert not (out / "broken.jpg").exists()
    assert "| broken.jpg | failed |" in first.stdout and "unsupported_image" in first.stdout
    assert "done 4, failed 1, skipped 0 of 5" in first.stdout
    assert all(count > 0 for count in deployment.counts), f"both instances served: {deployment.counts}"
    assert "done ad1.jpg" in first.stderr, "progress, a line per scene when not on a terminal"

    before = sum(deployment.counts)
    second = run_batch(deployment.url, scenes, out)
    assert "done 0, failed 1, skipped 4 of 5" in second.stdout, second.stdout
    assert sum(deployment.counts) - before == 1, "only the corrupt scene was tried again"


@pytest.mark.slow
def test_busy_answers_are_waited_out(tmp_path):
    scenes, out = tmp_path / "ads", tmp_path / "out"
    sizes = make_ads(scenes)
    env = function_env(tmp_path, MAX_CONCURRENT_JOBS="1", MAX_QUEUED_JOBS="0", QUEUE_TIMEOUT_S="1")
    with running_function(env, tmp_path) as server:
        completed = subprocess.run([*run_batch_command(server.url, scenes, out), "--jobs", "3"],
                                   capture_output=True, text=True, timeout=600)
        log = server.log()
    assert "done 4, failed 1, skipped 0 of 5" in completed.stdout, completed.stdout + completed.stderr
    assert all((out / name).exists() for name in sizes)
    assert '"status": 503' in log, "some calls found the one job slot taken, and were retried"


@pytest.mark.slow
@requires_redis
def test_a_batch_job_keeps_to_one_instance_under_session_affinity(tmp_path):
    scenes, out = tmp_path / "ads", tmp_path / "out"
    make_ads(scenes)
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(redis_server(tmp_path / "redis"))
        urls = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            env = function_env(tmp_path / name, STORE_URL=redis.url)
            urls.append(stack.enter_context(running_function(env, tmp_path / name)).url)
        proxy = stack.enter_context(RoundRobin(urls, sticky=True))
        completed = subprocess.run([*run_batch_command(proxy.url, scenes, out), "--jobs", "1"],
                                   capture_output=True, text=True, timeout=600)
    assert "done 4, failed 1" in completed.stdout, completed.stdout + completed.stderr
    # Every upload and replace of the one job on one instance; the other got at most the closing
    # delete of the product, which the main thread sends.
    assert sorted(proxy.counts)[0] <= 1, f"one job, one instance: {proxy.counts}"
