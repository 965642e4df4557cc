"""The suite's xdist lanes are in effect (pyproject.toml addopts, tests/conftest.py).

The Ray tests must run one after the other in their group's lane: two Ray sweeps at once on two cores
starve each other's start-up, and a lane's shared fixtures (the multi-node cluster, the `ray start`
head, the NB301 sidecar's model) are built again on every worker that runs one of its tests. Nothing fails
when the grouping silently stops (a pytest 9.2 node-id change did that to pytest-xdist 3.8; a group
mark added after xdist's own collection hook does it too): the suite only gets slower. This test
fails instead.
"""

from __future__ import annotations

import pytest
from conftest import LANES


def _group(item) -> str | None:
    marks = [m.args[0] if m.args else m.kwargs.get("name", "default") for m in item.iter_markers("xdist_group")]
    return "_".join(sorted(set(map(str, marks)))) or None


@pytest.mark.xdist_group("lanes_check")  # at least this test is grouped, when it runs alone too
def test_every_grouped_test_carries_its_lane_under_loadgroup(request):
    config = request.config
    if not hasattr(config, "workerinput") or not config.getvalue("loadgroup"):
        pytest.skip("only meaningful on a pytest-xdist worker with --dist loadgroup (the suite's default)")
    unmarked = [item.nodeid for item in request.session.items for marker, lane in LANES.items()
                if item.get_closest_marker(marker) and lane not in (_group(item) or "")]
    assert not unmarked, f"Ray test(s) outside their lane (the conftest hook did not mark them): {unmarked[:3]}"
    grouped = [(item.nodeid, _group(item)) for item in request.session.items if _group(item)]
    lost = [nodeid for nodeid, group in grouped if not nodeid.endswith(f"@{group}")]
    assert not lost, (f"{len(lost)} grouped test(s) would be spread over workers (e.g. {lost[0]}): pytest-xdist's "
                      "loadgroup does not see their group; check the pytest pin in pyproject.toml and that "
                      "tests/conftest.py marks the lanes in a tryfirst hook")
