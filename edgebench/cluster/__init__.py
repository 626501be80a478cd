"""The fleet on a Ray cluster: ``edgebench run|nightly|tune SUITE --cluster ADDRESS`` (docs/scaling.md).

One controller drives every device from one machine; a lab whose boards sit in several
rooms, each reachable only from its own lab host, needs the work to run *there*.  Ray
places it: every lab host runs a Ray node advertising the resource ``lab:NAME``, every
device names its lab (``lab: NAME`` in devices.yaml), and a :class:`~.host.LabHost` actor on
a node of that lab holds the device's SSH connection and runs its jobs one at a time.
Records come back to the driver, which alone writes the journal and the store, in the
order jobs finish -- so ``--resume``, ``nightly`` and the reports are unchanged.

The variants not yet cached are built as Ray tasks on any node with a free CPU
(:mod:`.build`), into the cache every node sees.

Nothing here imports Ray at module level: without ``--cluster`` Ray is never loaded.
"""

from __future__ import annotations

from .connect import check_cluster, check_labs, resolve_address
from .session import ClusterSession, run_fleet_on_cluster, warmed_session

__all__ = ["ClusterSession", "check_cluster", "check_labs", "resolve_address", "run_fleet_on_cluster",
           "warmed_session"]
