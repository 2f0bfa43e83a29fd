#!/usr/bin/python3
"""Make the tiny nn.MultiheadAttention fixtures under test-models/models/mha/ (issue 9).

Run (from anywhere):  /usr/bin/python3 test-models/scripts/make_mha_models.py

All UNTRAINED (fixed seeds), d 16, 4 heads, for the planner and the permuted-copy tests; the
forms of torch's nn.MultiheadAttention export that make_vit_models.py's encoder_op17.onnx
(batch_first=True self-attention) does not cover. Input `input` [batch,1,28,28] (dynamic `batch`),
output `logits` [batch,10], opset 17, unless said otherwise:
- encoder_tokens_first_op17.onnx: 28 row tokens, Linear(28, 16), transposed tokens first
  ([T, N, D]), nn.TransformerEncoder of 2 nn.TransformerEncoderLayer(batch_first=False,
  norm_first, feed-forward 32, ReLU, dropout 0), mean over the tokens (axis 0), Linear(16, 10);
- cross_op17.onnx: two token streams of the same image: 28 row tokens, Linear(28, 16) (the
  queries) and 14 tokens of two rows each, Linear(56, 16) (keys = values); one block
  q + MHA(LN(q), LN(kv), LN(kv)) with nn.MultiheadAttention(batch_first=True), then
  q + fc2(GELU(fc1(LN(q)))), mean over the tokens, Linear(16, 10); torch exports the query's
  and the key/value's projections as two MatMuls of slices of in_proj_weight;
- cross_tokens_first_op17.onnx: the same block with batch_first=False on streams transposed
  tokens first ([T, N, D]), mean over axis 0;
- cross_separate_kv_op17.onnx: as cross_op17.onnx, but the values from their own Linear(56, 16) of
  the 14 tokens (key is not value: torch projects q, k, v with three thirds of in_proj_weight and
  reads the keys' and the values' token counts each from its own projection);
- cross_separate_kv_tokens_first_op17.onnx: the same with batch_first=False on the three streams
  transposed tokens first ([T, N, D]), mean over axis 0;
- encoder_causal_op17.onnx: 28 row tokens, Linear(28, 16), nn.TransformerEncoder of one
  nn.TransformerEncoderLayer(batch_first=True, norm_first, feed-forward 32, dropout 0) called with
  a causal float mask (a buffer, -inf above the diagonal: torch adds it to the scores), mean over
  the tokens, Linear(16, 10);
- tokens_first_input_op17.onnx: the model's own input is tokens first, `input` [28, batch, 28]
  (batch on axis 1), Linear(28, 16), one nn.MultiheadAttention(batch_first=False) self-attention
  with a residual, mean over axis 0, Linear(16, 10): a form the planner refuses (its batch is not
  on axis 0 of the input);
- key_padding_mask_op17.onnx: two inputs, `input` [batch,1,28,28] and `mask` [batch,28] (bool,
  True = a padded row token, torch's key_padding_mask); 28 row tokens, Linear(28, 16), one block
  t + MHA(LN(t), LN(t), LN(t), key_padding_mask=mask) with nn.MultiheadAttention(batch_first=True),
  mean over the tokens, Linear(16, 10). torch turns the mask into an additive -inf mask on the
  scores (Reshape to [N, 1, 1, S], Expand over the heads, Reshape to [N * H, 1, S], Where) computed
  from the mask input alone. Verified with the last (i mod 10) rows of test image i padded;
- int64_attention_mask_op17.onnx: two inputs, `input` [batch,1,28,28] and `attention_mask`
  [batch,28] int64 (1 = a row token to keep, 0 = a padded one), as HuggingFace exports feed it;
  28 row tokens, Linear(28, 16), nn.TransformerEncoder of one nn.TransformerEncoderLayer(batch_first
  =True, norm_first, feed-forward 32, ReLU, dropout 0) called with src_key_padding_mask =
  (attention_mask == 0), mean over the tokens, Linear(16, 10). The graph turns the int64 input into
  torch's bool mask by Equal with a constant 0, then as above. Verified like key_padding_mask_op17.onnx
  (attention_mask 0 on the last i mod 10 rows of image i);
- int64_additive_mask_op17.onnx: the same model and inputs, but the mask made additive as
  HuggingFace's encoders do: src_key_padding_mask = (1 - attention_mask.float()) * -1e4, a float
  key_padding_mask that torch adds to the scores as it is (Cast, Sub, Mul in the graph, no Where);
- int64_masked_mean_op17.onnx: the inputs and encoder of int64_attention_mask_op17.onnx (bool key
  padding mask attention_mask == 0), but the tokens pooled with the mask before the head as
  HuggingFace / sentence-transformers encoders pool them, (h * attention_mask[..., None]).sum(1) /
  attention_mask.sum(1, keepdim=True).clamp(min=1e-9), then Linear(16, 10): in the graph Unsqueeze and
  Cast of the mask, Mul, ReduceSum over the tokens; ReduceSum of the int64 mask, Clip (torch writes the
  bound as int64 0), Cast, Div. Padded tokens change neither the attention nor the mean;
- int64_masked_mean_expand_op17.onnx: the same, pooled as sentence-transformers' own mean pooling
  writes it, m = attention_mask.unsqueeze(-1).expand(h.size()).float(); (h * m).sum(1) /
  m.sum(1).clamp(min=1e-9): the mask expanded to [batch, 28, 16] (Expand to Shape of h), as wide as
  the neurons but the same along them.

Reuses make_vit_models.py's spread_untrained (no two parameters equal, so the exporter shares no
initializer and a permutation shows in every weight) and make_test_models.py's export and
verification (check_model, then onnx_torch_eval.py against torch on 256 test images; max abs diff
< 1e-4). Writes only models/mha/*.onnx and the MHA section of test-models/README.md (between its
own markers). Deterministic: fixed seeds, 1 torch thread, deterministic algorithms.
"""
import os
import sys
from collections import Counter

import onnx
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_test_models as mtm  # noqa: E402
import make_vit_models as mvm  # noqa: E402

MHA_DIR = os.path.join(mtm.TM_DIR, "models", "mha")
README_BEGIN = "<!-- BEGIN GENERATED MHA TABLE (make_mha_models.py) -->"
README_END = "<!-- END GENERATED MHA TABLE -->"
OPSET = 17
D, HEADS, FF = 16, 4, 32
SEEDS = {"encoder_tokens_first_op17.onnx": 18000, "cross_op17.onnx": 18100,
         "cross_tokens_first_op17.onnx": 18200, "tokens_first_input_op17.onnx": 18300,
         "cross_separate_kv_op17.onnx": 18400, "encoder_causal_op17.onnx": 18500,
         "cross_separate_kv_tokens_first_op17.onnx": 18600, "key_padding_mask_op17.onnx": 18700,
         "int64_attention_mask_op17.onnx": 18800, "int64_additive_mask_op17.onnx": 18900,
         "int64_masked_mean_op17.onnx": 19000, "int64_masked_mean_expand_op17.onnx": 19100}


class TokensFirstEncoder(nn.Module):
    """Row tokens moved tokens first, nn.TransformerEncoder(batch_first=False), mean over axis 0."""
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(28, D)
        layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, batch_first=False, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(D, 10)

    def forward(self, x):
        t = self.embed(x.view(x.shape[0], 28, 28)).transpose(0, 1)
        return self.head(self.enc(t).mean(dim=0))


class Cross(nn.Module):
    """Queries from 28 row tokens, keys = values from 14 tokens of two rows; one cross-attention
    block and an MLP block on the query stream. batch_first=False moves both streams tokens first."""
    def __init__(self, batch_first, separate_values=False):
        super().__init__()
        self.batch_first = batch_first
        self.embed_q, self.embed_kv = nn.Linear(28, D), nn.Linear(56, D)
        self.embed_v = nn.Linear(56, D) if separate_values else None
        self.ln_q, self.ln_kv = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn = nn.MultiheadAttention(D, HEADS, batch_first=batch_first)
        self.ln_mlp, self.fc1, self.act, self.fc2 = nn.LayerNorm(D), nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D)
        self.head = nn.Linear(D, 10)

    def forward(self, x):
        q = self.embed_q(x.view(x.shape[0], 28, 28))
        kv = self.embed_kv(x.view(x.shape[0], 14, 56))
        if not self.batch_first:
            q, kv = q.transpose(0, 1), kv.transpose(0, 1)
        k = self.ln_kv(kv)
        v = k
        if self.embed_v is not None:
            v = self.embed_v(x.view(x.shape[0], 14, 56))
            v = v if self.batch_first else v.transpose(0, 1)
        q = q + self.attn(self.ln_q(q), k, v, need_weights=False)[0]
        q = q + self.fc2(self.act(self.fc1(self.ln_mlp(q))))
        return self.head(q.mean(dim=1 if self.batch_first else 0))


class CausalEncoder(nn.Module):
    """Row tokens, one batch-first nn.TransformerEncoderLayer with a causal -inf mask, mean over the tokens."""
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(28, D)
        layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.register_buffer("mask", torch.triu(torch.full((28, 28), float("-inf")), diagonal=1))
        self.head = nn.Linear(D, 10)

    def forward(self, x):
        t = self.embed(x.view(x.shape[0], 28, 28))
        return self.head(self.enc(t, mask=self.mask).mean(dim=1))


class TokensFirstInput(nn.Module):
    """Input [T, N, 28] (batch on axis 1): Linear, self-attention with a residual, mean over axis 0."""
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(28, D)
        self.attn = nn.MultiheadAttention(D, HEADS, batch_first=False)
        self.head = nn.Linear(D, 10)

    def forward(self, x):
        t = self.embed(x)
        return self.head((t + self.attn(t, t, t, need_weights=False)[0]).mean(dim=0))


class KeyPaddingMask(nn.Module):
    """Row tokens, one pre-LN self-attention block whose keys are masked by the `mask` input, mean over the tokens."""
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(28, D)
        self.ln = nn.LayerNorm(D)
        self.attn = nn.MultiheadAttention(D, HEADS, batch_first=True)
        self.head = nn.Linear(D, 10)

    def forward(self, x, mask):
        t = self.embed(x.view(x.shape[0], 28, 28))
        u = self.ln(t)
        t = t + self.attn(u, u, u, key_padding_mask=mask, need_weights=False)[0]
        return self.head(t.mean(dim=1))


class Int64AttentionMask(nn.Module):
    """Row tokens, one pre-LN nn.TransformerEncoderLayer whose keys are masked where the int64
    `attention_mask` input is 0 (HuggingFace's convention: 1 = keep), by a bool mask or (additive) by
    -1e4 added to their scores; mean over the tokens."""
    def __init__(self, additive=False):
        super().__init__()
        self.additive = additive
        self.embed = nn.Linear(28, D)
        layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(D, 10)

    def forward(self, x, attention_mask):
        t = self.embed(x.view(x.shape[0], 28, 28))
        # additive: a float mask, 0 where kept and -1e4 where padded, that torch adds to the scores
        mask = (1.0 - attention_mask.float()) * -1e4 if self.additive else attention_mask == 0
        return self.head(self.enc(t, src_key_padding_mask=mask).mean(dim=1))


class MaskedMeanPool(Int64AttentionMask):
    """The encoder of Int64AttentionMask (bool key padding mask), the tokens pooled by a mean over the
    kept ones (attention_mask 1) before the head, as HuggingFace / sentence-transformers encoders pool."""
    def forward(self, x, attention_mask):
        h = self.enc(self.embed(x.view(x.shape[0], 28, 28)), src_key_padding_mask=attention_mask == 0)
        pooled = (h * attention_mask[..., None]).sum(1) / attention_mask.sum(1, keepdim=True).clamp(min=1e-9)
        return self.head(pooled)


class MaskedMeanExpand(Int64AttentionMask):
    """MaskedMeanPool as sentence-transformers' own mean pooling writes it: the mask expanded to the
    hidden states' size (as wide as the neurons) before the product and the count."""
    def forward(self, x, attention_mask):
        h = self.enc(self.embed(x.view(x.shape[0], 28, 28)), src_key_padding_mask=attention_mask == 0)
        m = attention_mask.unsqueeze(-1).expand(h.size()).float()
        return self.head((h * m).sum(1) / m.sum(1).clamp(min=1e-9))


def padding(n):
    """[n, 28] bool: sample i has its last (i mod 10) row tokens padded."""
    rows = torch.arange(28).unsqueeze(0)
    return rows >= 28 - (torch.arange(n) % 10).unsqueeze(1)


@torch.no_grad()
def redraw(model):
    """nn.TransformerEncoder deep-copies its layer: re-draw every matrix of the attention parts
    (xavier, as nn.MultiheadAttention does) so that layers differ, then mvm.spread_untrained."""
    for name, p in model.named_parameters():
        if p.dim() > 1 and ("enc" in name or "attn" in name):
            nn.init.xavier_uniform_(p)
    mvm.spread_untrained(model)
    return model.eval()


def verify_inputs(path, model, inputs, name):
    """mtm.verify for a model of several inputs (a dict by input name): check_model, then the graph run by
    onnx_torch_eval against the module; the largest abs difference, refused above 1e-4 of the logits' scale."""
    m = onnx.load(path)
    onnx.checker.check_model(m)
    with torch.no_grad():
        ref = model(*inputs.values())
        got = mtm.onnx_torch_eval.run_all(m, inputs)[0]
    err = (ref - got).abs().max().item()
    if not err <= 1e-4 * max(1.0, ref.abs().max().item()):
        raise RuntimeError("%s: ONNX output differs from torch by %g" % (name, err))
    return err


def graph_ops(path):
    m = onnx.load(path)
    ops = Counter(n.op_type for n in m.graph.node)
    return len(m.graph.node), ", ".join("%s %d" % kv for kv in sorted(ops.items()))


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(MHA_DIR, exist_ok=True)
    x_test, _ = mtm.load_test(os.path.join(mtm.TM_DIR, "data"))
    x_check = x_test[:256]
    rows = []
    for fname, make in (("encoder_tokens_first_op17.onnx", TokensFirstEncoder),
                        ("cross_op17.onnx", lambda: Cross(True)),
                        ("cross_tokens_first_op17.onnx", lambda: Cross(False)),
                        ("tokens_first_input_op17.onnx", TokensFirstInput),
                        ("cross_separate_kv_op17.onnx", lambda: Cross(True, separate_values=True)),
                        ("encoder_causal_op17.onnx", CausalEncoder),
                        ("cross_separate_kv_tokens_first_op17.onnx", lambda: Cross(False, separate_values=True)),
                        ("key_padding_mask_op17.onnx", KeyPaddingMask),
                        ("int64_attention_mask_op17.onnx", Int64AttentionMask),
                        ("int64_additive_mask_op17.onnx", lambda: Int64AttentionMask(additive=True)),
                        ("int64_masked_mean_op17.onnx", MaskedMeanPool),
                        ("int64_masked_mean_expand_op17.onnx", MaskedMeanExpand)):
        torch.manual_seed(SEEDS[fname])
        model = redraw(make())
        path = os.path.join(MHA_DIR, fname)
        if fname.startswith("tokens_first_input"):
            # the input is [T, N, 28]: the image's rows, tokens first
            x = x_check.view(-1, 28, 28).transpose(0, 1).contiguous()
            torch.onnx.export(model, x[:, :2], path, opset_version=OPSET, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {1: "batch"},
                                                                     "logits": {0: "batch"}})
            m, err, _ = mtm.verify(path, model, x, fname)
        elif fname.startswith("key_padding_mask"):
            mask = padding(2)
            torch.onnx.export(model, (x_check[:2], mask), path, opset_version=OPSET,
                              input_names=["input", "mask"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "mask": {0: "batch"}, "logits": {0: "batch"}})
            err = verify_inputs(path, model, {"input": x_check, "mask": padding(len(x_check))}, fname)
        elif fname.startswith("int64_"):
            keep = (~padding(2)).long()
            torch.onnx.export(model, (x_check[:2], keep), path, opset_version=OPSET,
                              input_names=["input", "attention_mask"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "attention_mask": {0: "batch"},
                                            "logits": {0: "batch"}})
            err = verify_inputs(path, model, {"input": x_check,
                                              "attention_mask": (~padding(len(x_check))).long()}, fname)
        else:
            mtm.export(model, path, {"opset_version": OPSET})
            m, err, _ = mtm.verify(path, model, x_check, fname)
        if not err < mvm.MAX_ERR:
            raise RuntimeError("%s: ONNX output differs from torch by %g" % (fname, err))
        nodes, ops = graph_ops(path)
        params = sum(p.numel() for p in model.parameters())
        rows.append((fname, params, os.path.getsize(path), nodes, ops, err))
        print("  %-32s %6d params %7d B  %3d nodes  onnx err %.2g" % (fname, params, os.path.getsize(path),
                                                                        nodes, err))
    table = ["| file | params | bytes | nodes | ops |", "|---|---|---|---|---|"]
    table += ["| `models/mha/%s` | %d | %d | %d | %s |" % r[:5] for r in rows]
    mtm.update_readme("\n".join(table) + "\n", README_BEGIN, README_END)


if __name__ == "__main__":
    main()
