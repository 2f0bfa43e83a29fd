#!/usr/bin/python3
"""Make the tiny Vision-Transformer fixtures under test-models/models/vit/ (issue 9).

Run (from anywhere):  /usr/bin/python3 test-models/scripts/make_vit_models.py [--mnist DIR]

Three kinds of file, all with input `input` [batch,1,28,28], output `logits` [batch,10] and a
dynamic batch axis `batch`:
- vit_op13.onnx / vit_op17.onnx: one UNTRAINED ViT (dim 32, 4 heads, 2 blocks, MLP 64), exported
  at opset 13 (LayerNorm decomposed by the exporter) and 17 (LayerNormalization op), for the
  planner and the permutation tests;
- vitk2_p{0,1}.onnx (opset 17) and vitk2op13_p{0,1}.onnx (opset 13, same weights): K = 2 non-IID
  parents (dim 64, 4 heads, 2 blocks, MLP 128) trained with AdamW on the two parts of the
  `parents_k2` split of make_test_models.py;
- vit_bias_op17.onnx: the untrained ViT's architecture with a relative-position bias per head and
  a local -inf mask added to the attention scores (BiasedAttention);
- encoder_op17.onnx: an UNTRAINED torch.nn.TransformerEncoder classifier (28 row tokens), to
  record what the exporter writes for nn.MultiheadAttention (fused in-projection, batch and heads
  merged into one axis).

The ViT: patch embedding Conv 7x7 stride 7 (16 tokens), a class token concatenated in front, a
learned position embedding; pre-LayerNorm blocks x + Attn(LN(x)), x + fc2(GELU(fc1(LN(x)))) with
exact (Erf) GELU; attention with separate q, k, v Linears, reshape(B,T,H,dh).transpose(1,2),
(q @ k^T) * dh^-0.5, softmax(-1), (a @ v).transpose(1,2).reshape(B,T,D), output Linear; final
LayerNorm, the class token's features, head Linear.

Reuses make_test_models.py's data split, Dirichlet split, normalisation, export settings and
verification (check_model, then onnx_torch_eval.py against torch on 256 test images; here also
max abs diff < 1e-4); its own training loop is mtm.train's batch order with AdamW, a cosine
schedule and random 2-pixel shifts of the training images (a ViT this small overfits 1,750
images without them).
Writes only models/vit/*.onnx, models/vit/accuracies.json and the ViT section of
test-models/README.md (between its own markers). Deterministic: fixed seeds, 1 torch thread,
deterministic algorithms. See test-models/README.md.
"""
import argparse
import json
import math
import os
import sys
import time
from collections import Counter

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_test_models as mtm  # noqa: E402
import onnx_torch_eval  # noqa: E402

VIT_DIR = os.path.join(mtm.TM_DIR, "models", "vit")
README_BEGIN = "<!-- BEGIN GENERATED VIT TABLE (make_vit_models.py) -->"
README_END = "<!-- END GENERATED VIT TABLE -->"
K = 2
THREADS = 1          # as make_dag_models.py: part of the recipe (another count changes last bits)
MAX_ERR = 1e-4       # ONNX (onnx_torch_eval) vs torch, max abs diff on 256 test images

# untrained fixtures
FIXTURE_SEED = 16000
FIXTURE_CFG = dict(dim=32, heads=4, depth=2, hidden=64)
ENCODER_SEED = 16100
PACKED_SEED = 16200
TIMM_SEED = 16300
BIASED_SEED = 16400
# trained parents: seed PARENT_SEED + k for the init and the batch order
PARENT_SEED = 17000
PARENT_CFG = dict(dim=64, heads=4, depth=2, hidden=128)
STEPS = 3000         # AdamW steps per parent, batch 64
LR = 1e-3            # peak lr: linear warm-up over WARMUP steps, then cosine decay to 0
WARMUP = 200
WEIGHT_DECAY = 0.05  # on the matrices only (not biases, LayerNorm, class token, position)
SHIFT = 2            # random translation of each training image by up to 2 px per axis; without
                     # it (same steps) parent 0 reached 0.661 test acc instead of 0.847


# -------------------------------------------------------------------------------- models

class Attention(nn.Module):
    """Multi-head self-attention with separate q, k, v Linears (with bias) and an output Linear."""
    def __init__(self, dim, heads):
        super().__init__()
        self.h, self.dh = heads, dim // heads
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)

    def forward(self, x):
        B, T, D = x.shape
        q = self.q(x).reshape(B, T, self.h, self.dh).transpose(1, 2)
        k = self.k(x).reshape(B, T, self.h, self.dh).transpose(1, 2)
        v = self.v(x).reshape(B, T, self.h, self.dh).transpose(1, 2)
        a = (q @ k.transpose(-2, -1)) * self.dh ** -0.5
        a = a.softmax(dim=-1)
        return self.o((a @ v).transpose(1, 2).reshape(B, T, D))


class PackedAttention(nn.Module):
    """The same attention with one packed projection cut into q, k, v: qkv(x).chunk(3, dim=-1)
    (exported as one MatMul + Add and three Slices whose bounds come from the output's shape)."""
    def __init__(self, dim, heads):
        super().__init__()
        self.h, self.dh = heads, dim // heads
        self.qkv, self.o = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        B, T, D = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q = q.reshape(B, T, self.h, self.dh).transpose(1, 2)
        k = k.reshape(B, T, self.h, self.dh).transpose(1, 2)
        v = v.reshape(B, T, self.h, self.dh).transpose(1, 2)
        a = ((q @ k.transpose(-2, -1)) * self.dh ** -0.5).softmax(dim=-1)
        return self.o((a @ v).transpose(1, 2).reshape(B, T, D))


class TimmAttention(PackedAttention):
    """timm's form of the packed projection: qkv(x).reshape(B, T, 3, H, d).permute(2, 0, 3, 1, 4)
    .unbind(0), q scaled before the scores (exported as one MatMul + Add, a Reshape, a Transpose,
    Split and three Squeezes)."""
    def forward(self, x):
        B, T, D = x.shape
        q, k, v = self.qkv(x).reshape(B, T, 3, self.h, self.dh).permute(2, 0, 3, 1, 4).unbind(0)
        a = ((q * self.dh ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.o((a @ v).transpose(1, 2).reshape(B, T, D))


class BiasedAttention(Attention):
    """Attention with two constants added to the scores: a learned bias per head gathered from a
    table by the relative position of the query and key patches (LeViT's form, table[:, index];
    the exporter folds the Gather into one [heads, 17, 17] initializer), and a fixed local mask,
    the same in every head: a patch sees the class token and the patches at most 2 rows and 2
    columns away (-inf elsewhere); the class token sees everything."""
    def __init__(self, dim, heads, grid=4):
        super().__init__(dim, heads)
        n = grid * grid
        index = torch.zeros(n + 1, n + 1, dtype=torch.long)
        mask = torch.zeros(n + 1, n + 1)
        for a in range(n):
            for b in range(n):
                dy, dx = abs(a // grid - b // grid), abs(a % grid - b % grid)
                index[a + 1, b + 1] = 1 + dy * grid + dx
                if dy > 2 or dx > 2:
                    mask[a + 1, b + 1] = float("-inf")
        self.register_buffer("index", index)
        self.register_buffer("mask", mask)
        self.table = nn.Parameter(torch.randn(heads, 1 + n))

    def forward(self, x):
        B, T, D = x.shape
        q = self.q(x).reshape(B, T, self.h, self.dh).transpose(1, 2)
        k = self.k(x).reshape(B, T, self.h, self.dh).transpose(1, 2)
        v = self.v(x).reshape(B, T, self.h, self.dh).transpose(1, 2)
        a = (q @ k.transpose(-2, -1)) * self.dh ** -0.5 + self.table[:, self.index] + self.mask
        a = a.softmax(dim=-1)
        return self.o((a @ v).transpose(1, 2).reshape(B, T, D))


ATTENTIONS = {"separate": Attention, "packed": PackedAttention, "timm": TimmAttention,
              "biased": BiasedAttention}


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + Attn(LN(x)), then x + fc2(GELU(fc1(LN(x))))."""
    def __init__(self, dim, heads, hidden, attention="separate"):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(dim), ATTENTIONS[attention](dim, heads)
        self.ln2, self.fc1, self.act, self.fc2 = (nn.LayerNorm(dim), nn.Linear(dim, hidden),
                                                  nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(self.act(self.fc1(self.ln2(x))))


class Vit(nn.Module):
    """Conv 7x7/7 patch embedding (16 tokens) + class token + position embedding (1,17,dim),
    `depth` blocks, final LayerNorm, class token -> Linear(dim, 10)."""
    def __init__(self, dim, heads, depth, hidden, patch=7, token_std=0.02, attention="separate"):
        super().__init__()
        n = (28 // patch) ** 2
        self.embed = nn.Conv2d(1, dim, patch, patch)
        self.cls = nn.Parameter(token_std * torch.randn(1, 1, dim))
        self.pos = nn.Parameter(token_std * torch.randn(1, n + 1, dim))
        self.blocks = nn.Sequential(*[Block(dim, heads, hidden, attention) for _ in range(depth)])
        self.ln, self.head = nn.LayerNorm(dim), nn.Linear(dim, 10)

    def forward(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], dim=1) + self.pos
        return self.head(self.ln(self.blocks(t))[:, 0])


class EncoderClassifier(nn.Module):
    """28 rows of 28 pixels as tokens, Linear(28, 32) embedding, nn.TransformerEncoder (2 layers,
    batch_first, norm_first, d_model 32, 4 heads, feed-forward 64, ReLU, dropout 0), mean over the
    tokens, Linear(32, 10)."""
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(28, 32)
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        t = self.embed(x.view(x.shape[0], 28, 28))
        return self.head(self.enc(t).mean(dim=1))


@torch.no_grad()
def spread_untrained(model):
    """For the untrained fixtures: LayerNorm weights 1 + 0.2 N(0,1) and biases 0.1 N(0,1), and
    every bias that torch initialises to zero (nn.MultiheadAttention's) 0.1 N(0,1), so no two
    parameters are equal. Otherwise the exporter shares equal initializers through Identity nodes
    (all-ones LayerNorm weights, zero biases, and TransformerEncoder's deep-copied layers), and
    a permutation of a LayerNorm's channels would not show in its weights."""
    for name, p in model.named_parameters():
        if p.dim() != 1:
            continue
        if "ln" in name.split(".")[-2] or "norm" in name.split(".")[-2]:
            p.copy_((1.0 + 0.2 * torch.randn_like(p)) if name.endswith("weight")
                    else 0.1 * torch.randn_like(p))
        elif p.abs().max() == 0:
            p.copy_(0.1 * torch.randn_like(p))


def make_encoder():
    """TransformerEncoder deep-copies its layer: re-draw every layer's matrices (xavier, as
    nn.MultiheadAttention does) so that the two layers differ, then spread_untrained."""
    model = EncoderClassifier()
    with torch.no_grad():
        for name, p in model.enc.named_parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
            else:
                p.copy_(0.1 * torch.randn_like(p))
    spread_untrained(model)
    return model.eval()


# ------------------------------------------------------------------------------ training

def shifted(xb, g, shift):
    """Each image moved by its own random offset in [-shift, shift]^2 (drawn from generator g),
    the uncovered border filled with the background value (normalised 0)."""
    if shift == 0:
        return xb
    bg = (0.0 - mtm.MEAN) / mtm.STD
    p = F.pad(xb, (shift,) * 4, value=bg)
    off = torch.randint(0, 2 * shift + 1, (xb.shape[0], 2), generator=g).tolist()
    return torch.stack([p[i, :, a:a + 28, b:b + 28] for i, (a, b) in enumerate(off)])


def train_adamw(model, x, y, seed, steps, lr, batch=64, shift=0):
    """mtm.train's batch order (reshuffle every epoch with a generator seeded by `seed`, the last
    short batch used too) with AdamW (weight decay on matrices only), a linear warm-up + cosine
    learning-rate schedule, and (shift > 0) random translations of the training images."""
    decay = [p for n, p in model.named_parameters() if p.dim() > 1 and n not in ("cls", "pos")]
    other = [p for n, p in model.named_parameters() if not (p.dim() > 1 and n not in ("cls", "pos"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": other, "weight_decay": 0.0}], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / WARMUP if s < WARMUP
        else 0.5 * (1 + math.cos(math.pi * (s - WARMUP) / max(1, steps - WARMUP))))
    return mtm.train(model, x, y, seed, steps, lr, batch, optimizer=opt, schedule=sched,
                     augment=lambda xb, g: shifted(xb, g, shift))


# ---------------------------------------------------------------------------- export/check

def export_checked(model, path, opset, x_check):
    """mtm.export at `opset`, then mtm.verify plus the absolute bound MAX_ERR."""
    name = os.path.basename(path)
    mtm.export(model, path, {"opset_version": opset})
    m, err, ops = mtm.verify(path, model, x_check, name)
    if not err < MAX_ERR:
        raise RuntimeError("%s: ONNX output differs from torch by %g" % (name, err))
    return m, err


def graph_info(m):
    g = m.graph
    ops = [n.op_type for n in g.node]
    inits = {t.name for t in g.initializer}
    ident = [n.name for n in g.node if n.op_type == "Identity" and n.input[0] in inits]
    return {"op_counts": dict(sorted(Counter(ops).items())), "n_nodes": len(ops),
            "identity_on_initializer": ident, "n_initializers": len(inits),
            "opset": [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")][0]}


def trace_block(m, prefix, batch=3):
    """The non-Constant nodes whose name starts with `prefix`, in graph order, evaluated by
    onnx_torch_eval on a batch of `batch` random images: op type, weight inputs (initializer
    shapes), output shape, Reshape's evaluated target, Transpose's perm, Slice's evaluated
    start/end/axis. Shape arithmetic (Shape, Gather, Unsqueeze, Concat, Cast, integer Div/Mul/Add
    on shape values) is left out of the returned list and only counted."""
    g = m.graph
    inits = {t.name: list(t.dims) for t in g.initializer}
    nodes = [n for n in g.node if n.name.startswith(prefix) and n.op_type != "Constant"]
    want = sorted({i for n in nodes for i in n.input if i and i not in inits}
                  | {o for n in nodes for o in n.output})
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    del m2.graph.output[:]
    m2.graph.output.extend([onnx.ValueInfoProto(name=v) for v in want])
    torch.manual_seed(0)
    with torch.no_grad():
        vals = dict(zip(want, onnx_torch_eval.run_all(m2, torch.randn(batch, 1, 28, 28))))
    shape_ops = {"Shape", "Gather", "Unsqueeze", "Concat", "Cast"}
    steps, n_shape = [], 0
    for n in nodes:
        out = vals[n.output[0]]
        if n.op_type in shape_ops or (not out.dtype.is_floating_point):
            n_shape += 1
            continue
        s = {"op": n.op_type, "name": n.name[len(prefix):].lstrip("/"),
             "out": list(out.shape)}
        w = [inits[i] for i in n.input if i in inits]
        if w:
            s["weights"] = w
        if n.op_type == "Reshape":
            s["target"] = vals[n.input[1]].tolist()
        if n.op_type == "Transpose":
            s["perm"] = list(n.attribute[0].ints)
        if n.op_type == "Slice":
            s["slice"] = [vals[i].tolist() if i in vals else None for i in n.input[1:4]]
        if n.op_type == "MatMul" and not w:
            s["activations"] = True
        steps.append(s)
    return {"prefix": prefix, "batch": batch, "steps": steps, "n_shape_nodes": n_shape}


def trace_str(tr):
    parts = []
    for s in tr["steps"]:
        t = s["op"]
        if "weights" in s:
            t += " W" + "x".join(str(d) for d in s["weights"][0])
        if "target" in s:
            t += " to %s" % s["target"]
        if "perm" in s:
            t += " perm %s" % s["perm"]
        if "slice" in s:
            t += " [%s:%s on axis %s]" % tuple(s["slice"])
        if s.get("activations"):
            t += " (two activations)"
        parts.append("%s -> %s" % (t, s["out"]))
    return "; ".join(parts)


# -------------------------------------------------------------------------------- readme

def table_md(res):
    lines = ["| file | what | params | bytes | opset | nodes | test acc |", "|---|---|---|---|---|---|---|"]
    for f, info in res["models"].items():
        acc = "%.4f" % info["test_acc"] if "test_acc" in info else "untrained"
        lines.append("| `models/vit/%s` | %s | %d | %d | %d | %d | %s |" % (
            f, info["what"], info["params"], info["bytes"], info["graph"]["opset"],
            info["graph"]["n_nodes"], acc))
    tr = res["training"]
    lines += ["", "Parents: %d AdamW steps each (batch 64, peak lr %g, %d warm-up steps, cosine "
              "to 0, weight decay %g on the matrices, random shifts of up to %d px), seeds %s; "
              "%.0f s and %.0f s of training." % (
                  tr["steps"], tr["lr"], tr["warmup"], tr["weight_decay"], tr["shift_px"],
                  ", ".join(str(s) for s in tr["seeds"]), tr["seconds"][0], tr["seconds"][1]),
              "", "| parent set | parents (test acc) | ensemble, mean logits | ensemble, mean "
              "softmax |", "|---|---|---|---|"]
    e = res["ensemble"]
    lines.append("| vitk2 (= vitk2op13) | %s | %.4f | %.4f |" % (
        ", ".join("%.4f" % a for a in e["parent_acc"]), e["mean_logits_acc"],
        e["mean_softmax_acc"]))
    lines += ["", "Op counts:", ""]
    for f in ("vit_op13.onnx", "vit_op17.onnx", "encoder_op17.onnx"):
        lines.append("- `%s`: %s." % (f, ", ".join(
            "%s %d" % kv for kv in res["models"][f]["graph"]["op_counts"].items())))
    lines += ["", "One attention block as exported (batch 3; shape arithmetic left out):", ""]
    for key, tr in res["attention"].items():
        lines.append("- `%s` (`%s`, %d shape-arithmetic nodes): %s." % (
            key, tr["prefix"], tr["n_shape_nodes"], trace_str(tr)))
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------- main

def n_params(model):
    return int(sum(p.numel() for p in model.parameters()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--mnist", default=mtm.DEFAULT_MNIST,
                    help="folder with images_u8.npy and labels_i64.npy (default %(default)s)")
    ap.add_argument("--steps", type=int, default=None, help="override AdamW steps (debugging)")
    ap.add_argument("--out", default=VIT_DIR, help="folder for the .onnx files (default "
                    "%(default)s); accuracies.json and the README table are written only for a "
                    "full run into the default folder")
    args = ap.parse_args()

    t0 = time.time()
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    data_dir = os.path.join(mtm.TM_DIR, "data")
    steps = args.steps or STEPS

    images, labels = mtm.load_mnist(args.mnist)
    _, _, _, pool = mtm.split_by_position(labels)
    parts, counts, _ = mtm.dirichlet_split(pool, K, mtm.SPLIT_SEED[K])
    with open(os.path.join(data_dir, "splits.json")) as f:
        saved = json.load(f)["parents_k2"]
    assert [p.tolist() for p in parts] == saved, "parents_k2 differs from data/splits.json"
    x_all = torch.from_numpy(mtm.normalise(images))
    y_all = torch.from_numpy(labels)
    x_test, y_test = mtm.load_test(data_dir)
    x_check = x_test[:256]

    res = {"models": {}, "attention": {}}

    def record(fname, model, m, err, what, **extra):
        path = os.path.join(args.out, fname)
        res["models"][fname] = dict(what=what, params=n_params(model),
                                    bytes=os.path.getsize(path),
                                    onnx_vs_torch_max_abs_err=float("%.3g" % err),
                                    graph=graph_info(m), **extra)
        print("  %-20s %7d B  onnx err %.2g  (%.1fs)" % (fname, os.path.getsize(path), err,
                                                         time.time() - t0))

    # 1. untrained ViT fixture, opset 13 and 17
    torch.manual_seed(FIXTURE_SEED)
    vit = Vit(token_std=0.5, **FIXTURE_CFG)
    spread_untrained(vit)
    vit.eval()
    what = ("untrained ViT dim %(dim)d, %(heads)d heads, %(depth)d blocks, MLP %(hidden)d" %
            FIXTURE_CFG + ", seed %d" % FIXTURE_SEED)
    for op in (13, 17):
        fname = "vit_op%d.onnx" % op
        m, err = export_checked(vit, os.path.join(args.out, fname), op, x_check)
        record(fname, vit, m, err, what)
        res["attention"][fname] = trace_block(m, "/blocks/blocks.0/attn")

    # 1b. the same architecture with a packed q/k/v projection (chunk, and timm's form), opset 17
    for seed, attention, fname, form in ((PACKED_SEED, "packed", "vit_packed_op17.onnx", "chunk(3, -1)"),
                                         (TIMM_SEED, "timm", "vit_timm_op17.onnx",
                                          "reshape, permute(2, 0, 3, 1, 4), unbind(0)")):
        torch.manual_seed(seed)
        variant = Vit(token_std=0.5, attention=attention, **FIXTURE_CFG)
        spread_untrained(variant)
        variant.eval()
        m, err = export_checked(variant, os.path.join(args.out, fname), 17, x_check)
        record(fname, variant, m, err, what.replace("seed %d" % FIXTURE_SEED, "seed %d" % seed)
               + ", packed q/k/v projection (%s)" % form)

    # 1c. the same architecture with a per-head bias and a mask added to the scores, opset 17
    torch.manual_seed(BIASED_SEED)
    biased = Vit(token_std=0.5, attention="biased", **FIXTURE_CFG)
    spread_untrained(biased)
    biased.eval()
    fname = "vit_bias_op17.onnx"
    m, err = export_checked(biased, os.path.join(args.out, fname), 17, x_check)
    record(fname, biased, m, err, what.replace("seed %d" % FIXTURE_SEED, "seed %d" % BIASED_SEED)
           + ", a relative-position bias per head and a local -inf mask added to the scores")
    res["attention"][fname] = trace_block(m, "/blocks/blocks.0/attn")

    # 3. untrained nn.TransformerEncoder classifier, opset 17
    torch.manual_seed(ENCODER_SEED)
    enc = make_encoder()
    fname = "encoder_op17.onnx"
    m, err = export_checked(enc, os.path.join(args.out, fname), 17, x_check)
    record(fname, enc, m, err, "untrained nn.TransformerEncoder (2 layers, d 32, 4 heads, ff 64, "
           "norm_first, batch_first) on 28 row tokens, mean pooling, seed %d" % ENCODER_SEED)
    res["attention"][fname] = trace_block(m, "/enc/layers.0/self_attn")

    # 2. trained K = 2 parents, opset 17 and 13
    logits, secs, sigs = [], [], {13: None, 17: None}
    for k in range(K):
        seed = PARENT_SEED + k
        torch.manual_seed(seed)
        model = Vit(**PARENT_CFG)
        idx = torch.from_numpy(parts[k])
        t1 = time.time()
        train_adamw(model, x_all[idx], y_all[idx], seed, steps, LR, shift=SHIFT)
        secs.append(time.time() - t1)
        out = mtm.predict(model, x_test)
        acc = (out.argmax(1) == y_test).float().mean().item()
        logits.append(out)
        print("parent %d: %d train imgs, %d steps in %.0fs, test acc %.4f" % (
            k, len(idx), steps, secs[-1], acc))
        for op, stem in ((17, "vitk2_p%d.onnx"), (13, "vitk2op13_p%d.onnx")):
            fname = stem % k
            m, err = export_checked(model, os.path.join(args.out, fname), op, x_check)
            sig = mtm.graph_signature(m)
            if sigs[op] is None:
                sigs[op] = sig
            elif sig != sigs[op]:
                raise RuntimeError(fname + ": graph structure differs from parent 0")
            record(fname, model, m, err, "ViT dim %(dim)d, %(heads)d heads, %(depth)d blocks, "
                   "MLP %(hidden)d" % PARENT_CFG + ", parent %d of 2 (%d train imgs, seed %d)" % (
                       k, len(idx), seed), parent=k, seed=seed, n_train=int(len(idx)),
                   test_acc=round(acc, 4))
    accs = [(o.argmax(1) == y_test).float().mean().item() for o in logits]
    ens_logit = (torch.stack(logits).mean(0).argmax(1) == y_test).float().mean().item()
    ens_soft = (torch.stack([torch.softmax(o, 1) for o in logits]).mean(0).argmax(1)
                == y_test).float().mean().item()
    print("ensemble: mean logits %.4f, mean softmax %.4f" % (ens_logit, ens_soft))
    res["ensemble"] = {"parent_acc": [round(a, 4) for a in accs],
                       "mean_logits_acc": round(ens_logit, 4),
                       "mean_softmax_acc": round(ens_soft, 4)}
    res["training"] = {"optimizer": "AdamW", "steps": steps, "batch": 64, "lr": LR,
                       "warmup": WARMUP, "schedule": "linear warm-up then cosine to 0",
                       "weight_decay": WEIGHT_DECAY, "shift_px": SHIFT, "seeds": [PARENT_SEED + k for k in range(K)],
                       "seconds": [round(s, 1) for s in secs]}
    res["split"] = {"K": K, "seed": mtm.SPLIT_SEED[K], "counts": counts.tolist()}
    res["generator"] = {"torch": torch.__version__, "onnx": onnx.__version__,
                        "numpy": np.__version__, "torch_threads": THREADS}
    for key, tr in res["attention"].items():
        print("%s attention: %s" % (key, trace_str(tr)))
    if args.steps is None and os.path.abspath(args.out) == VIT_DIR:
        mtm.write_results(VIT_DIR, res, table_md(res), README_BEGIN, README_END)
    print("total time %.1fs" % (time.time() - t0))


if __name__ == "__main__":
    main()
