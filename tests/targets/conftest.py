"""Make the device-lab fixtures available to tests/targets.

Once the top-level ``tests/conftest.py`` has ``pytest_plugins = ["tests.lab.plugin"]``
this import is redundant but harmless.  The sys.path line lets plain ``pytest`` (not only
``python -m pytest``) import the ``tests`` package.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.lab.plugin import (  # noqa: E402,F401
    fake_agent,
    lab_envs,
    pytest_terminal_summary,
    scratch_device,
    ssh_lab,
)
