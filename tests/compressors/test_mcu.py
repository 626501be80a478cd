"""Microcontroller figures of .tflite files: the greedy arena plan against a plan computed
by hand on a tiny converted model, against LiteRT's own placement, and against TFLite
Micro's recording allocator itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgebench.compressors.mcu import (
    DEFAULT_BUDGETS,
    Buffer,
    arena_peak,
    fit_text,
    fits,
    footprint,
    greedy_plan,
    litert_arena_span,
    plan_tflite,
)
from tests.conftest import require_real


@pytest.fixture(scope="module")
def pad_concat_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """x [1,4] -> a = pad(x) [1,32], b = pad(x) [1,16], c = concat(a, b) [1,48],
    d = c[:, :40] [1,40]: four ops TFLite Micro has, activations of distinct sizes."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
    def f(x):  # type: ignore[no-untyped-def]
        a = tf.pad(x, [[0, 0], [0, 28]])
        b = tf.pad(x, [[0, 0], [0, 12]])
        c = tf.concat([a, b], axis=1)
        return c[:, :40]

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    path = tmp_path_factory.mktemp("mcu") / "pad_concat.tflite"
    path.write_bytes(conv.convert())
    return path


def test_arena_matches_the_plan_computed_by_hand(pad_concat_tflite: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    ops = Interpreter(model_path=str(pad_concat_tflite))._get_ops_details()  # noqa: SLF001
    assert [o["op_name"] for o in ops] == ["PAD", "PAD", "CONCATENATION", "STRIDED_SLICE"]
    x = int(ops[0]["inputs"][0])
    a, b, c, d = (int(o["outputs"][0]) for o in ops)
    plan = plan_tflite(pad_concat_tflite)
    by_tensor = {buf["tensor"]: buf for buf in plan["buffers"]}
    # sizes (float32, 16-byte aligned) and lifetimes (op indices, inclusive)
    assert {t: (by_tensor[t]["size_bytes"], by_tensor[t]["first_op"], by_tensor[t]["last_op"])
            for t in (x, a, b, c, d)} == {
        x: (16, 0, 1),    # model input: from the start to its last reader (op 1)
        a: (128, 0, 2), b: (64, 1, 2), c: (192, 2, 3),
        d: (160, 3, 3),   # model output: to the end
    }
    # By hand, largest first: c at 0; d overlaps c in time -> 192; a overlaps c only ->
    # 192 (d is not alive with it); b overlaps c and a -> after a, 320; x overlaps a and b
    # but not c -> the gap below a at 0.  Peak = b's end = 384 (sum without reuse: 560).
    assert {t: by_tensor[t]["offset"] for t in (x, a, b, c, d)} == {c: 0, d: 192, a: 192,
                                                                    b: 320, x: 0}
    assert plan["arena_bytes"] == 384 and plan["activations_sum_bytes"] == 560
    assert plan["weights_bytes"] == 2 * 16 + 3 * 8  # two int32 [2,2] paddings, three int32 [2] slice args
    assert plan["flash_bytes"] == pad_concat_tflite.stat().st_size
    assert set(by_tensor) == {x, a, b, c, d}  # constants are not planned


def test_litert_places_the_same_tensors_in_more_bytes(pad_concat_tflite: Path) -> None:
    """LiteRT's interpreter (no delegates) aligns to 64 bytes and plans differently: its
    span for these five tensors, measured from their data pointers, is 448 bytes against
    the 16-byte TFLM plan's 384; never below the estimate."""
    span = litert_arena_span(pad_concat_tflite)
    assert span == {"span_bytes": 448, "tensors": 5}


def test_tflite_micro_arena_head_equals_the_estimate(pad_concat_tflite: Path) -> None:
    """TFLite Micro's RecordingMicroAllocator reports the planned (head) section of the
    arena: it must equal the estimate byte for byte."""
    require_real("tflite_micro")
    script = ("import sys, numpy as np\n"
              "from tflite_micro.python.tflite_micro import runtime\n"
              "it = runtime.Interpreter.from_file(sys.argv[1], arena_size=1 << 20)\n"
              "it.set_input(np.ones((1, 4), np.float32), 0)\n"
              "it.invoke()\n"
              "it.print_allocations()\n")
    out = subprocess.run([sys.executable, "-c", script, str(pad_concat_tflite)],
                         capture_output=True, text=True, timeout=120, check=True)
    lines = [ln for ln in (out.stderr + out.stdout).splitlines() if "allocation head" in ln]
    assert lines and lines[0].split()[-2] == str(plan_tflite(pad_concat_tflite)["arena_bytes"])


def test_greedy_reuses_gaps_and_breaks_ties_by_tensor_index() -> None:
    bufs = [Buffer(0, 64, 0, 0), Buffer(1, 64, 0, 1), Buffer(2, 32, 1, 2),
            Buffer(3, 64, 2, 3), Buffer(4, 16, 3, 3)]
    # Order: the three 64-byte buffers by index (0, 1, 3), then 2, then 4.  0 at 0; 1 is
    # alive with 0 -> 64; 3 (ops 2-3) is alive with neither -> 0; 2 (ops 1-2) is alive with
    # 1 and 3, no 32-byte gap below 128 -> 128; 4 (op 3) is alive with 3 only -> 64.
    offsets = greedy_plan(bufs)
    assert offsets == {0: 0, 1: 64, 3: 0, 2: 128, 4: 64}
    assert arena_peak(bufs, offsets) == 160


def test_fits_against_budgets() -> None:
    fp = {"flash_bytes": 300_000, "arena_bytes": 12_800}
    verdict = fits(fp, DEFAULT_BUDGETS)
    assert verdict["cortex-m4"] == {"flash_bytes": 262144, "ram_bytes": 65536,
                                    "fits_flash": False, "fits_ram": True, "fits": False}
    assert verdict["cortex-m7"]["fits"] is True
    assert fit_text(verdict) == "cortex-m4: no (flash), cortex-m7: yes"
    assert fit_text(fits({"flash_bytes": 1, "arena_bytes": 10**6}, {"tiny": {
        "flash_bytes": 1, "ram_bytes": 1}})) == "tiny: no (RAM)"


def test_footprint_of_a_model_file(pad_concat_tflite: Path) -> None:
    fp = footprint(pad_concat_tflite)
    assert (fp["arena_bytes"], fp["weights_bytes"], fp["alignment_bytes"]) == (384, 56, 16)
    assert "warning" not in fp and "GreedyMemoryPlanner" in fp["method"]
