"""On-device energy, thermal and clock probes (standard library only, Python 3.9+).

The runner drives one :class:`ProbeSession` per job::

    with ProbeSession(spec.probes, n_threads_hint=spec.threads) as probes:
        probes.before_job()                 # cooldown, 'before' snapshot, idle baseline
        ... load, warm up ...
        probes.start_window()
        while not done or not probes.window_ready():
            run one inference
        probes.stop_window(n_inferences)
        probes.after_job()
    result["probes"] = probes.result()

See docs/probes.md for settings and the result's fields.
"""

from __future__ import annotations

from .avail import available_probes
from .session import ProbeSession
from .settings import ENERGY_PROBES, ProbeSettings, parse_settings

__all__ = ["ProbeSession", "available_probes", "ProbeSettings", "parse_settings", "ENERGY_PROBES"]
