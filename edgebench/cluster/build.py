"""Variant builds as Ray tasks: ``--cluster`` fans the uncached (model, format) groups out
over the cluster's CPUs (docs/scaling.md).

The driver checks the variant cache as always (:func:`edgebench.variants.build_variants`);
each (model, format) with uncached variants becomes one Ray task (one CPU, Ray's default
placement: any node with a free one) that runs :func:`edgebench.variants.build_group` --
the very code a local build runs, the build itself in a child process of the task, so a
quantizer that segfaults still fails only its variant.  The task writes into the same
content-addressed cache folder, which must therefore be the same path on every node
(shared storage), and returns its :class:`~edgebench.variants.Artifact` objects, a few
kB each, with the progress lines it said and the id of the node it ran on (``built_on``
in each artifact's manifest, so in every job's record).  A task whose node dies is run
again once (``max_retries=1``); if that fails too, its variants fail with the reason, and
the other groups are unaffected.

Nothing here imports Ray at module level: it is loaded only with ``--cluster``.
"""

from __future__ import annotations

from typing import Any, Callable

from ..variants import Artifact, GroupBuilder, GroupTask, _failed
from .connect import connected, first_line

#: How long the driver waits for a finished task before it looks again (a stopped run
#: must not wait on a long build).
WAIT_S = 1.0


def cluster_builder(address: str) -> GroupBuilder:
    """A ``build_groups`` for :func:`edgebench.variants.build_variants` that connects to the
    cluster at ``address`` while it builds -- only when some group is not cached, and with
    its own connection: the build runs in the run's build child process, the fleet in the
    controller."""
    def build(tasks: list[GroupTask], say: Callable[[str], None]) -> list[dict[str, Artifact]]:
        with connected(address) as ray:
            remote = ray.remote(num_cpus=1, max_retries=1)(_build_remote)
            return build_on_cluster(ray, remote, tasks, say)

    return build


def build_on_cluster(ray: Any, remote: Any, tasks: list[GroupTask],
                     say: Callable[[str], None]) -> list[dict[str, Artifact]]:
    """Every task at once; results in the tasks' order, progress as each one finishes."""
    refs = [remote.remote(task) for task in tasks]
    index = {ref: i for i, ref in enumerate(refs)}
    for task in tasks:
        say(f"{task.model} [{task.fmt}]: {len(task.todo)} variant(s) to build, as a Ray task")
    results: list[dict[str, Artifact]] = [{} for _ in tasks]
    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=WAIT_S)
            for ref in ready:
                task = tasks[index[ref]]
                results[index[ref]] = _collect(ray, ref, task, say)
    except BaseException:  # stopped (Ctrl-C, the run's stop): no build goes on for nobody
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    return results


def _collect(ray: Any, ref: Any, task: GroupTask, say: Callable[[str], None]) -> dict[str, Artifact]:
    """A finished task's artifacts, each marked with the node that built it; a task that
    failed (its node lost twice, a worker crash) fails its variants with Ray's reason."""
    try:
        built, said, node = ray.get(ref)
    except Exception as exc:  # noqa: BLE001 - RayTaskError, WorkerCrashedError, NodeDiedError, ...
        why = f"build task failed on the Ray cluster: {_reason(exc)}"
        say(f"{task.model} [{task.fmt}]: {why}")
        return {name: _failed(task.model, name, task.fmt, why) for name, _ in task.todo}
    for line in said:
        say(line)
    for art in built.values():
        art.manifest = dict(art.manifest, built_on=node)  # not in the cached file: any run reads it
    return built


def _reason(exc: BaseException) -> str:
    """What went wrong, in one line without terminal colours: for an exception raised in
    the task, that exception (Ray's own first line only names the task and its pid)."""
    import re

    cause = getattr(exc, "cause", None)
    text = first_line(cause if isinstance(cause, BaseException) else exc)
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _build_remote(task: GroupTask) -> tuple[dict[str, Artifact], list[str], str]:
    """The Ray task: build the group on this node; (artifacts, progress lines, node id)."""
    import ray

    from ..variants import build_group

    said: list[str] = []
    built = build_group(task, said.append)
    return built, said, ray.get_runtime_context().get_node_id()
