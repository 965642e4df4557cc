"""Shared test set-up.

Real data is read from `$HARNESS_DATA` (CI sets it to ../shared/data); when unset, the
`shared/data` folder beside this checkout is used, so a developer's plain `pytest` behaves like CI.
Converted tables go to a per-session temporary cache, never to the user's ~/.cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# One intra-op thread: tests run tiny networks, and on a busy 2-core machine torch's spinning OpenMP
# threads made a tiny DARTS supernet's forward+backward take 38.6 s instead of 0.98 s (measured).
import torch  # noqa: E402

torch.set_num_threads(1)

if not os.environ.get("HARNESS_DATA"):
    os.environ["HARNESS_DATA"] = str(SHARED_DATA)


LANES = {"cluster": "ray_cluster", "slow": "ray"}  # marker -> xdist group; the first marker a test has wins


# tryfirst: pytest-xdist's worker reads the `xdist_group` marks in its own collection_modifyitems hook
# (it turns them into the node-id suffix its loadgroup scheduler groups by); marks added after it runs
# are ignored, and the Ray tests were then spread over both workers (tests/test_xdist_lanes.py).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Two xdist groups of Ray tests, each run one test after the other on one worker: `cluster` (a
    multi-node `ray.cluster_utils.Cluster` or a `ray start --head` of their own ports, temp folder and
    HOME) and `slow` (embedded-Ray sweeps, each its own instance; long conversions). The two groups
    run side by side: they never share a Ray instance, and most of their time is waiting on process
    start-up, which two lanes overlap. The other tests fill both workers."""
    for item in items:
        lane = next((group for marker, group in LANES.items() if item.get_closest_marker(marker)), None)
        if lane:
            item.add_marker(pytest.mark.xdist_group(lane))


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = Path(os.environ["HARNESS_DATA"])
    if not (root / "cifar10").is_dir():
        raise RuntimeError(f"real test data missing at {root}; set HARNESS_DATA to the shared data folder")
    return root


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("harness-cache")
    os.environ["HARNESS_CACHE"] = str(cache)
    return cache
