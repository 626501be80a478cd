"""Typed parameters of every recipe step (``extra="forbid"``: a typo is an error, not a default).

One ``quantize`` vocabulary serves both formats because a variant is usually built in both:
``mode`` means the same thing everywhere (``static`` = full-integer int8 with calibration);
format-specific keys set to a non-default value on the other format are reported in the
manifest's warnings instead of being silently dropped.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Optional

from pydantic import Field

from edgebench.compressors.stepbase import StepParams


class QuantizeParams(StepParams):
    mode: Literal["dynamic", "static", "fp16", "int16x8"] = "dynamic"
    calibration: Literal["data", "random"] = "data"  # random only when asked: warned
    calibration_samples: int = Field(100, ge=1, le=10000)
    # ONNX (onnxruntime.quantization) only
    weight_type: Literal["int8", "uint8"] = "int8"
    activation_type: Literal["int8", "uint8"] = "uint8"
    # QOperator by default: QLinearConv/QGemm kernels run directly on onnxruntime's CPU EP
    # (no reliance on load-time QDQ fusion) and files are smaller (no per-op Q/DQ nodes and
    # bias scale/zero-point triples): int8 ResNet-8 0.26x fp32 vs 0.27x for QDQ.
    # Use qdq for execution providers that want QDQ graphs (XNNPACK, NNAPI, QNN).
    quant_format: Literal["qdq", "qoperator"] = "qoperator"
    calibrate_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    per_channel: bool = False  # onnxruntime default; true adds per-channel scales (+~4 % size here)
    reduce_range: bool = False
    preprocess: bool = True  # run quant_pre_process (shape inference + fusions) first
    op_types: Optional[list[str]] = None  # restrict which op types are quantized
    compact_names: bool = True  # shorten internal names of the quantized file (see export)
    # TFLite (converter) only
    io_type: Literal["float", "int8"] = "float"  # full-integer: int8 or float model I/O
    compat: Optional[Literal["tflite-runtime-2.14"]] = None

    ONNX_ONLY: ClassVar[tuple[str, ...]] = ("weight_type", "activation_type", "quant_format", "calibrate_method",
                 "per_channel", "reduce_range", "preprocess", "op_types", "compact_names")
    TFLITE_ONLY: ClassVar[tuple[str, ...]] = ("io_type", "compat")

    def foreign_keys(self, fmt: str) -> list[str]:
        """Keys set explicitly that the other format's quantizer owns."""
        foreign = self.TFLITE_ONLY if fmt == "onnx" else self.ONNX_ONLY
        return [k for k in foreign if k in self.model_fields_set]


class PruneParams(StepParams):
    kind: Literal["unstructured", "structured"] = "unstructured"
    sparsity: float = Field(0.5, gt=0.0, lt=1.0)  # fraction of weights / channels removed
    scope: Literal["global", "layer"] = "global"  # unstructured: one threshold or per layer
    finetune_epochs: int = Field(3, ge=0, le=200)  # 0: no fine-tuning
    lr: float = Field(1e-3, gt=0)


class DistillParams(StepParams):
    width: float = Field(0.5, gt=0.0, le=1.0)  # student = teacher architecture x width
    student: Optional[str] = None  # a built-in model name used as student instead
    temperature: float = Field(4.0, gt=0)
    alpha: float = Field(0.5, ge=0.0, le=1.0)  # weight of CE on labels; 1 - alpha on KL
    epochs: int = Field(10, ge=1, le=500)
    lr: float = Field(5e-3, gt=0)


class ClusterParams(StepParams):
    clusters: int = Field(16, ge=2, le=256)
    init: Literal["linear", "kmeans++", "random"] = "linear"
    finetune_epochs: int = Field(2, ge=0, le=200)
    lr: float = Field(1e-4, gt=0)


def _export_params() -> type:
    from edgebench.compressors.export import ExportParams

    return ExportParams


class _Lazy(dict):
    """STEP_PARAMS['export'] imports export.py (pydantic only) on first use."""

    def __missing__(self, key: str) -> type:
        if key == "export":
            self[key] = _export_params()
            return self[key]
        from edgebench.compressors import test_steps

        if key in test_steps.NAMES and test_steps.enabled():
            return test_steps.PARAMS[key]
        raise KeyError(key)


#: Every recipe step: recipes.py validates a variant's step names against this table, the
#: pipeline dispatches on it, STEP_PARAMS types each one's parameters.
STEP_NAMES = ("quantize", "prune", "distill", "cluster", "export")
#: Steps that retrain a framework model, so they do not apply to a model file.
TRAINING_STEPS = ("prune", "distill", "cluster")

STEP_PARAMS: dict[str, type] = _Lazy(quantize=QuantizeParams, prune=PruneParams,
                                     distill=DistillParams, cluster=ClusterParams)
