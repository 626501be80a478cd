"""What every recipe step shares and nothing else: the parameter base class and its
validation.  A leaf: the steps, the pipeline that runs them, the parameter models and the
test-only steps all import it, it imports none of them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from edgebench.errors import CompressionError


class StepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def validate_params(model_cls: Any, params: dict[str, Any], step: str) -> Any:
    """Typed step parameters: unknown keys and bad values are per-variant errors."""
    from pydantic import ValidationError

    try:
        return model_cls(**params)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or step}: {e['msg']}"
                             for e in exc.errors())
        raise CompressionError(f"bad '{step}' parameters: {problems}") from exc
