"""The Ray cluster fixture: a head and two worker nodes on loopback, ended whatever happens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.raycluster import RayCluster


def require_ray() -> None:
    import importlib.util
    import os

    if importlib.util.find_spec("ray") is None:
        reason = "needs ray (bash scripts/setup.sh --cluster)"
        if os.environ.get("EDGEBENCH_REQUIRE_REAL") == "1":
            pytest.fail(f"EDGEBENCH_REQUIRE_REAL=1 but {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    """Head (no CPUs, no dashboard) + ``w0`` serving lab room-a + ``w1`` serving room-a and room-b.

    One per test module (a cluster takes ~8 s to start): a test that kills a node must be
    the module's last."""
    require_ray()
    cluster = RayCluster()
    try:
        cluster.start_head()
        cluster.add_worker("w0", ["room-a"])
        cluster.add_worker("w1", ["room-a", "room-b"])
        yield cluster
    finally:
        cluster.close()
