"""``edgebench tune`` and ``edgebench.tune()``: search the recipe space on the devices
themselves (docs/tune.md).

space.py (what to try, the quality budget), strategy.py (successive halving, pure),
session.py (candidates built and judged; the fleet pass that measures a stage),
tuner.py (``tune()``, the API), output.py / report.py (winners, Pareto front, synergy,
the tuned suite, tune.md / tune.json).  The package is ``tuning``, not ``tune``, so
that the API function ``edgebench.tune`` is never shadowed by a submodule import.
Nothing is imported here: ``edgebench.config`` reads ``search:`` from
:mod:`edgebench.suite_settings`, not from this package.
"""
