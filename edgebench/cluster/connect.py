"""Reaching the cluster: the address, the Ray import, and which nodes serve which lab."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Iterable

from ..errors import UsageError

#: The exact line that makes a lab host serve lab NAME (docs/scaling.md).
RAY_START_HINT = ("on a lab host of {lab}: ray start --address HEAD:6379 "
                  "--resources '{{\"lab:{lab}\": 1000}}'")
RAY_PIN = "ray[client]==2.60.0"


def resolve_address(address: str) -> str:
    """``auto`` means ``$RAY_ADDRESS``; anything else is ``ray://HOST:PORT`` (a client of a
    remote cluster: the driver need not be a Ray node) or ``HOST:PORT`` (a node's GCS)."""
    given = address.strip()
    if given == "auto":
        given = os.environ.get("RAY_ADDRESS", "").strip()
        if not given:
            raise UsageError("--cluster auto: RAY_ADDRESS is not set",
                             hint="export RAY_ADDRESS=ray://HEAD:10001, or give --cluster ray://HEAD:10001")
    rest = given[len("ray://"):] if given.startswith("ray://") else given
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--cluster {address!r} is not a Ray address",
                         hint="use ray://HEAD:10001 (the head's client port), HEAD:6379, or auto")
    return given


def check_labs(devices: Iterable[Any]) -> None:
    """Every device of a cluster run must say which lab's nodes can reach it."""
    missing = [d.name for d in devices if not getattr(d, "lab", None)]
    if missing:
        raise UsageError(f"--cluster: device(s) {', '.join(missing)} have no lab",
                         hint="add 'lab: NAME' to each in devices.yaml (the lab host's Ray node "
                              "advertises the resource lab:NAME; docs/scaling.md)")


def check_cluster(address: str, devices: Iterable[Any]) -> str:
    """What run, nightly and tune check before anything starts with ``--cluster``: every
    device has a lab and the address is one; the resolved address (no Ray imported)."""
    check_labs(devices)
    return resolve_address(address)


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError("--cluster needs Ray, which is not installed",
                         hint=f"pip install '{RAY_PIN}' (scripts/setup.sh installs it)") from None
    return ray


@contextmanager
def connected(address: str) -> Iterator[Any]:
    """Ray, connected to the cluster for the duration; an API caller that already called
    ``ray.init`` keeps its connection (and its shutdown)."""
    ray = import_ray()
    owned = not ray.is_initialized()
    if owned:
        where = resolve_address(address)
        _init(ray, where)
    try:
        yield ray
    finally:
        if owned:
            ray.shutdown()


def _init(ray: Any, where: str, tries: int = 4) -> None:
    """``ray.init``, tried again: a Ray client's first connect now and then fails with
    "Initialization failure from server" (the head's proxy losing the server it starts
    for the client); the next attempt gets a fresh one."""
    import logging
    import time

    for attempt in range(1, tries + 1):
        try:
            ray.init(address=where, namespace="edgebench", log_to_driver=False,
                     logging_level="WARNING")
            return
        except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, grpc errors
            logging.getLogger(__name__).warning("ray.init(%s) attempt %d: %r", where, attempt, exc)
            ray.shutdown()  # a half-made client connection must not outlive the attempt
            if attempt == tries:
                raise UsageError(f"cannot connect to the Ray cluster at {where}: {first_line(exc)}",
                                 hint="start its head with 'ray start --head' (docs/scaling.md)") from None
            time.sleep(1.0)


def lab_nodes(ray: Any, lab: str, exclude: "set[str] | None" = None) -> list[str]:
    """Ids of the live nodes that advertise ``lab:LAB``, sorted (placement is deterministic)."""
    key = f"lab:{lab}"
    return sorted(n["NodeID"] for n in ray.nodes()
                  if n.get("Alive") and (n.get("Resources") or {}).get(key, 0) > 0
                  and n["NodeID"] not in (exclude or set()))


def first_line(exc: BaseException) -> str:
    """A Ray error's text is a multi-line report; its first non-empty line says what."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0][:300]}" if lines else type(exc).__name__
