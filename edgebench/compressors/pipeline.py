"""Run one recipe (an ordered list of steps) on one source model for one output format.

The model travels through four states: ``torch`` (nn.Module) and ``keras`` (tf_keras model)
accept training steps (prune, distill, cluster); ``onnx``, ``tflite`` and ``pte`` (files)
accept only post-training steps.  PyTorch feeds ONNX and ExecuTorch (``pte``) outputs, Keras
feeds TFLite outputs; a source that
is already a file stays in its format.  Quantizing a trainable state exports it first
(ONNX) or converts it with the quantization options (TFLite).  Every step appends a report
(its validated parameters with defaults filled in, what it changed, warnings) to the
manifest, and may declare itself a no-op with a reason.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from edgebench.compressors.params import TRAINING_STEPS
from edgebench.compressors.stepbase import validate_params
from edgebench.datasets import Dataset, split_in_layout
from edgebench.errors import CompressionError

TRAINABLE = ("torch", "keras")


@dataclass
class Context:
    """What every step may need to know about the model it works on."""

    model_name: str
    fmt: str  # 'onnx' | 'tflite' | 'pte'
    input_shape: tuple[int, ...]  # canonical (channels-first), without batch
    task: str  # 'classification' | 'regression' | 'embedding' | 'presence'
    data: Optional[Dataset]
    work_dir: Path
    builtin: Any = None  # BuiltinModel, for width-multiplied students
    teacher: Any = None  # the fp32 framework model, for distillation / fine-tuning
    input_dtype: str = "float32"
    output: Optional[str] = None  # output judged by quality figures (None: the first)
    # model files: per-input shapes and values from the suite (edgebench.compressors.feeds)
    input_shapes: dict[str, list[int]] = field(default_factory=dict)  # model-level: strict
    suite_shapes: dict[str, list[int]] = field(default_factory=dict)  # benchmark.input_shapes
    input_values: dict[str, Any] = field(default_factory=dict)  # 'inputs:' on the model
    single_shape: Optional[list[int]] = None  # model-level 'input_shape' of a one-input file
    on_step: Optional[Callable[[str], None]] = None  # told each step's name before it runs

    def feeds(self, split: str, path: Path, n_random: int,
              use_data: bool = True) -> tuple[Any, list[Any], list[str]]:
        """(samples by input name, input plans, warnings) for ``split`` of the model file
        ``path``: the suite's shapes and values, the data, else seeded inputs -- the same
        resolution for calibration, fidelity and the device (:mod:`feeds`)."""
        from edgebench.compressors import feeds
        from edgebench.errors import ModelError

        inputs = feeds.model_inputs(path, self.fmt)
        names = [i["name"] for i in inputs]
        shapes = {k: v for k, v in self.suite_shapes.items() if k in names}
        if self.single_shape is not None:
            if len(inputs) != 1:
                raise ModelError(f"'input_shape' applies to one-input models; this one has "
                                 f"{', '.join(names)}: use 'input_shapes: {{NAME: [...]}}'")
            shapes[names[0]] = list(self.single_shape)
        shapes.update(self.input_shapes)
        data = feeds.named_data(self.x(split) if use_data else None, inputs,
                                self.data.name if self.data else "data")
        plans = feeds.resolve(inputs, shapes=shapes, values=self.input_values, data=data)
        samples = feeds.build(plans, data, n_random)
        return samples, plans, feeds.random_warnings(plans, data is not None)

    def step(self, name: str) -> None:
        if self.on_step is not None:
            self.on_step(name)

    def x(self, split: str) -> Any:
        """A data split in this format's layout (None without data)."""
        if self.data is None:
            return None
        return split_in_layout(self.data, split, self.fmt)

    def y(self, split: str) -> Any:
        return None if self.data is None else getattr(self.data, f"y_{split}")


@dataclass
class State:
    kind: str  # 'torch' | 'keras' | 'onnx' | 'tflite'
    obj: Any  # nn.Module, keras.Model, or Path
    reports: list[dict[str, Any]] = field(default_factory=list)
    noop_reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    float_stats: Optional[dict[str, Any]] = None  # stats of the float file before quantizing


def run_recipe(state: State, steps: list[dict[str, Any]], ctx: Context, out_path: Path) -> State:
    """Apply ``steps`` in order, then make sure the result is a file at ``out_path``."""
    for index, step in enumerate(steps):
        (name, params), = step.items()
        params = dict(params or {})
        ctx.step(name)
        try:
            state = _apply(name, params, state, ctx, index)
        except CompressionError as exc:
            raise CompressionError(f"step {index + 1} ({name}): {exc.message}") from exc
    return finish(state, ctx, out_path)


def _apply(name: str, params: dict[str, Any], state: State, ctx: Context, index: int) -> State:
    if name in TRAINING_STEPS:
        if state.kind not in TRAINABLE:
            raise CompressionError(
                f"'{name}' needs a trainable model (built-in, PyTorch or Keras source) but this "
                f"one is already a .{state.kind} file; only 'quantize' (and 'export') apply to it"
            )
        if name == "prune":
            from edgebench.compressors.prune import prune
            return prune(state, params, ctx)
        if name == "distill":
            from edgebench.compressors.distill import distill
            return distill(state, params, ctx)
        from edgebench.compressors.cluster import cluster
        return cluster(state, params, ctx)
    if name == "export":
        from edgebench.compressors.export import ExportParams
        p = validate_params(ExportParams, params, "export")
        if state.kind in TRAINABLE:
            state = to_file(state, ctx, ctx.work_dir / f"step{index}-export.{ctx.fmt}", p)
        state.reports.append({"step": "export", "params": p.model_dump()})
        return state
    if name == "quantize":
        if ctx.fmt == "pte":
            from edgebench.compressors.pte import quantize_pte
            return quantize_pte(state, params, ctx, ctx.work_dir / f"step{index}-quant.pte")
        if ctx.fmt == "onnx":
            from edgebench.compressors.quantize_onnx import quantize_onnx
            if state.kind == "torch":
                state = to_file(state, ctx, ctx.work_dir / f"step{index}-float.onnx")
            return quantize_onnx(state, params, ctx, ctx.work_dir / f"step{index}-quant.onnx")
        from edgebench.compressors.quantize_tflite import quantize_tflite
        return quantize_tflite(state, params, ctx, ctx.work_dir / f"step{index}-quant.tflite")
    from edgebench.compressors import test_steps

    if name in test_steps.NAMES and test_steps.enabled():
        return test_steps.apply(name, params, state)
    raise CompressionError(f"unknown step {name!r}")


def to_file(state: State, ctx: Context, path: Path, export_params: Any = None) -> State:
    """Export a trainable state to this format's file (fp32), keeping reports."""
    from edgebench.compressors import export

    if state.kind == "torch":
        if ctx.fmt == "pte":
            from edgebench.compressors.pte import torch_to_pte

            state.reports.append({"step": "export", "format": "pte",
                                  **torch_to_pte(state.obj, ctx.input_shape, path, ctx.input_dtype)})
        elif ctx.fmt != "onnx":
            raise CompressionError("a PyTorch model can only be exported to ONNX or pte here "
                                   "(TFLite variants are built from the Keras definition)")
        else:
            export.torch_to_onnx(state.obj, ctx.input_shape, path, export_params, ctx.input_dtype)
    elif state.kind == "keras":
        if ctx.fmt != "tflite":
            raise CompressionError("a Keras model can only be converted to TFLite here "
                                   "(tf2onnx is not part of edgebench's toolchain)")
        export.keras_to_tflite(state.obj, path)
    else:
        return state
    state.kind, state.obj = ctx.fmt, path
    return state


def finish(state: State, ctx: Context, out_path: Path) -> State:
    """The final file, at ``out_path`` (exported if the last step left a trainable model)."""
    if state.kind in TRAINABLE:
        ctx.step("export")
        state = to_file(state, ctx, ctx.work_dir / f"final.{ctx.fmt}")
    if state.kind != ctx.fmt:
        raise CompressionError(f"recipe produced a .{state.kind} file for a {ctx.fmt} variant")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    if ctx.fmt == "onnx" and _has_external_data(Path(state.obj)):
        _inline_external_data(Path(state.obj), tmp)
        state.warnings.append("external data inlined: the variant is a single .onnx file")
    else:
        shutil.copyfile(state.obj, tmp)
    tmp.replace(out_path)
    state.obj = out_path
    return state


def _has_external_data(path: Path) -> bool:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)


def _inline_external_data(src: Path, dst: Path) -> None:
    """One file to push to a device: tensors from side files are stored inside the model."""
    import onnx

    model = onnx.load(str(src))
    if model.ByteSize() > 2 * 1024**3 - 1:
        raise CompressionError("model with external data is over 2 GB: cannot be made one file")
    onnx.save(model, str(dst), save_as_external_data=False)
