"""``distill``: train a smaller student on the teacher's soft targets (Hinton et al. 2015).

The student is the teacher's built-in architecture at ``width`` (every hidden layer's
channels/units multiplied), or the built-in named by ``student``.  Loss:
``alpha * CE(labels) + (1 - alpha) * KL(softmax(t/T) || softmax(s/T)) * T^2`` with
defaults T = 4, alpha = 0.5; without labels only the KL term is used (alpha = 0).  The
teacher is the model as it stands before this step (so ``prune -> distill`` distills the
pruned model).  The report carries teacher and student parameters and accuracy.
"""

from __future__ import annotations

from typing import Any

from edgebench.compressors.params import DistillParams
from edgebench.compressors.prune import count_weights, framework_accuracy
from edgebench.errors import CompressionError


def distill(state: Any, params: dict[str, Any], ctx: Any) -> Any:
    from edgebench.compressors.stepbase import validate_params
    from edgebench.models import get_builtin, train

    p = validate_params(DistillParams, params, "distill")
    fw = state.kind
    if p.student:
        student_model = get_builtin(p.student)
        if tuple(student_model.input_shape) != tuple(ctx.input_shape):
            raise CompressionError(f"student {p.student!r} takes input {student_model.input_shape}, "
                                   f"the teacher takes {ctx.input_shape}")
        width = 1.0
    elif ctx.builtin is not None:
        student_model, width = ctx.builtin, p.width
    else:
        raise CompressionError("distill needs a built-in teacher (to shrink by 'width') or "
                               "'student: <built-in name>'")
    factory = student_model.torch_factory if fw == "torch" else student_model.keras_factory
    student = factory(width)
    x, y = ctx.x("train"), ctx.y("train")
    if x is None:
        raise CompressionError("distillation needs data: give the model 'data:'")
    teacher = state.obj
    task = "classification" if ctx.task == "classification" else "regression"
    fit = train.torch_fit if fw == "torch" else train.keras_fit
    fit(student, x, y, epochs=p.epochs, lr=p.lr, teacher=teacher, alpha=p.alpha,
        temperature=p.temperature, task=task)
    t_params, s_params = count_weights(teacher, fw)[0], count_weights(student, fw)[0]
    report = {"step": "distill", "params": p.model_dump(), "framework": fw,
              "student": p.student or f"{student_model.name} x{width}",
              "teacher_params": t_params, "student_params": s_params,
              "teacher_accuracy": framework_accuracy(teacher, fw, ctx),
              "student_accuracy": framework_accuracy(student, fw, ctx),
              "labels_used": y is not None and p.alpha > 0}
    if s_params >= t_params:
        state.noop_reasons.append(f"distill: student has {s_params} params, not fewer than "
                                  f"the teacher's {t_params}")
    state.reports.append(report)
    state.obj = student
    return state
