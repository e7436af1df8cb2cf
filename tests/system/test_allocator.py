"""The allocator's scoped setting for work made of many mid-sized blocks (the networks' and the
compositing's row bands), which every heavy job runs in.

Run in a fresh interpreter each: the settings are process-wide.
"""
from __future__ import annotations

import json
import subprocess
import sys

from support.paths import REPO

CODE = """
import json, resource, numpy as np
from handler.platform import allocator
configured = allocator.configure_allocator() if {configure} else False

def faults_of_churn():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(200):
        block = np.empty(512 * 1024, np.uint8)   # above the 256 KB mmap threshold
        block[::4096] = 1                        # touch every page
        del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

outside = faults_of_churn()
with allocator.heap_for_small_blocks():
    faults_of_churn()                      # the heap grows once
    inside = faults_of_churn()
after = faults_of_churn()
from handler.platform.admission import Admission
with Admission(1, 0, 1.0).job():
    faults_of_churn()
    in_job = faults_of_churn()
print(json.dumps({{"configured": configured, "outside": outside, "inside": inside, "after": after,
                   "in_job": in_job}}))
"""


def _run(configure: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", CODE.format(configure=configure)], cwd=REPO, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def test_blocks_stay_on_the_heap_inside_the_scope_and_are_mmapped_again_after_it():
    faults = _run(configure=True)
    assert faults["configured"]
    # 200 blocks of 128 pages each: every one mapped and faulted in, outside the scope
    assert faults["outside"] > 200 * 100
    assert faults["inside"] < faults["outside"] / 20
    assert faults["after"] > 200 * 100


def test_the_scope_changes_nothing_unless_the_allocator_was_configured():
    faults = _run(configure=False)
    assert not faults["configured"]
    # glibc's adaptive threshold already reuses such blocks: few faults anywhere
    assert faults["outside"] < 200 * 100 and faults["inside"] < 200 * 100


def test_a_heavy_job_runs_with_its_blocks_on_the_heap():
    faults = _run(configure=True)
    assert faults["in_job"] < faults["outside"] / 20
