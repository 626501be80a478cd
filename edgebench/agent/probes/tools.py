"""Energy sources that run device tools: the Pi 5 PMIC, a user's meter, and tegrastats.

Pulled tools (``vcgencmd``, the user command) run once per sample; tegrastats is
started once and streams a line per interval, each line one sample stamped on arrival.
"""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Callable, Optional, Sequence

from .parsers import RailPower, parse_pmic_read_adc, parse_tegrastats_line, parse_watts
from .sources import EnergySource, PowerReading
from .sysfs import ProbeUnavailable, run_command, which


class CommandPower(EnergySource):
    """Power from a command run on every sample (Pi 5 PMIC, or the user's own meter)."""

    def __init__(self, name: str, argv: Sequence[str], parse: Callable[[str], RailPower]) -> None:
        super().__init__(" ".join(argv))
        self.name = name
        self.argv = list(argv)
        self.parse = parse

    def read(self) -> PowerReading:
        start = time.perf_counter()
        text = run_command(self.argv)
        power = self.parse(text)
        return PowerReading((start + time.perf_counter()) / 2.0, power.total_w, power.rails_w)


def open_rpi5_pmic() -> CommandPower:
    if which("vcgencmd") is None:
        raise ProbeUnavailable("vcgencmd not found on PATH (not a Raspberry Pi)")
    source = CommandPower("rpi5-pmic", ["vcgencmd", "pmic_read_adc"], parse_pmic_read_adc)
    try:
        source.read()
    except (ProbeUnavailable, ValueError) as exc:
        raise ProbeUnavailable(f"vcgencmd pmic_read_adc unusable (Pi 5 only): {exc}") from exc
    return source


def open_command(argv: Sequence[str]) -> CommandPower:
    if not argv:
        raise ProbeUnavailable("energy 'command' needs energy_command, a list of argv strings")
    source = CommandPower("command", argv, lambda text: RailPower(parse_watts(text), {}, "command"))
    try:
        source.read()
    except (ProbeUnavailable, ValueError) as exc:
        raise ProbeUnavailable(f"energy_command unusable: {exc}") from exc
    return source


class Tegrastats(EnergySource):
    """``tegrastats --interval MS`` kept running; each printed line is one sample."""

    name = "tegrastats"
    streaming = True

    def __init__(self, exe: str, interval_ms: int) -> None:
        super().__init__(f"{exe} --interval {interval_ms}")
        self.argv = [exe, "--interval", str(interval_ms)]
        self.interval_s = interval_ms / 1000.0
        self._proc: Optional[subprocess.Popen] = None
        self._thread: Optional[threading.Thread] = None
        self._stopping = False

    def start_stream(self, on_sample: Callable[[PowerReading], None],
                     on_error: Callable[[str], None]) -> None:
        self._proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      stdin=subprocess.DEVNULL, universal_newlines=True, bufsize=1)
        self._thread = threading.Thread(target=self._pump, args=(on_sample, on_error),
                                        name="edgebench-tegrastats", daemon=True)
        self._thread.start()

    def _pump(self, on_sample: Callable[[PowerReading], None], on_error: Callable[[str], None]) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        seen_power = False
        for line in iter(proc.stdout.readline, ""):
            stamp = time.perf_counter()
            power = parse_tegrastats_line(line)
            if power is None:
                continue
            seen_power = True
            on_sample(PowerReading(stamp, power.total_w, power.rails_w))
        if not self._stopping:
            status = proc.wait()
            why = "printed no power rails" if not seen_power else "stopped"
            on_error(f"tegrastats {why} (exit status {status})")

    def close(self) -> None:
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._proc = None


def open_tegrastats(sample_hz: float) -> Tegrastats:
    exe = which("tegrastats")
    if exe is None:
        raise ProbeUnavailable("tegrastats not found on PATH (not a Jetson)")
    return Tegrastats(exe, max(10, int(round(1000.0 / sample_hz))))
