#!/usr/bin/python3
"""Train and export the non-sequential (DAG) fixture parents under test-models/models/dag/.

Run (from anywhere):  /usr/bin/python3 test-models/scripts/make_dag_models.py [--mnist DIR]

Six families (resnet, mbv2, se, dense, squeeze, twohead), each as K = 2 non-IID parents trained
on the `parents_k2` split of make_test_models.py. Reuses that script's data split, Dirichlet
split, normalisation, training loop, export settings and verification; reads the saved test set
(data/test_x.npy, float16 -> float32) and writes only models/dag/*.onnx,
models/dag/accuracies.json and the DAG section of test-models/README.md (between its own
markers). It does not touch data/ or the other models. Deterministic like make_test_models.py:
fixed seeds, a fixed torch thread count (1), deterministic algorithms. See test-models/README.md.
"""
import argparse
import json
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

DAG_DIR = os.path.join(mtm.TM_DIR, "models", "dag")
README_BEGIN = "<!-- BEGIN GENERATED DAG TABLE (make_dag_models.py) -->"
README_END = "<!-- END GENERATED DAG TABLE -->"
K = 2
# One torch thread (within make_test_models.py's limit of 2): these models are tiny, so a step is
# dominated by per-op overhead, and on a busy 2-core machine 2 threads made training about 4x
# slower (OpenMP threads waiting for each other). The thread count is part of the recipe: another
# count can change the trained weights in the last bits.
THREADS = 1


# --------------------------------------------------------------------------------- blocks

def conv_bn(cin, cout, k=3, stride=1, groups=1):
    """Conv (no bias, 'same' padding for odd k) followed by BatchNorm2d. The default (EVAL)
    export folds the BN into the Conv."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """ResNet basic block: Conv3x3-BN-ReLU-Conv3x3-BN, plus the shortcut (identity, or Conv1x1
    stride s + BN when the shape changes), then ReLU after the Add."""
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = conv_bn(cin, cout, 3, stride)
        self.conv2 = conv_bn(cout, cout, 3, 1)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = conv_bn(cin, cout, 1, stride)

    def forward(self, x):
        h = self.conv2(torch.relu(self.conv1(x)))
        s = x if self.shortcut is None else self.shortcut(x)
        return torch.relu(h + s)


class ResNet(nn.Module):
    """stem Conv3x3(1->8, stride 2)-BN-ReLU [8,14,14]; block1 8->8 identity shortcut;
    block2 8->16 stride 2, 1x1 stride-2 projection shortcut [16,7,7]; block3 16->16 identity;
    GlobalAveragePool, flatten, Linear 16->10."""
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(1, 8, 3, 2)
        self.block1 = BasicBlock(8, 8)
        self.block2 = BasicBlock(8, 16, 2)
        self.block3 = BasicBlock(16, 16)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = self.block3(self.block2(self.block1(x)))
        return self.fc(torch.flatten(self.gap(x), 1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: Conv1x1 expand-BN-ReLU6, depthwise Conv3x3 (groups = channels, stride s)
    -BN-ReLU6, Conv1x1 project-BN (linear bottleneck); residual Add when stride 1 and cin == cout."""
    def __init__(self, cin, cout, expand, stride):
        super().__init__()
        mid = cin * expand
        self.expand = conv_bn(cin, mid, 1)
        self.dw = conv_bn(mid, mid, 3, stride, groups=mid)
        self.project = conv_bn(mid, cout, 1)
        self.act = nn.ReLU6()
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        h = self.act(self.expand(x))
        h = self.act(self.dw(h))
        h = self.project(h)
        return x + h if self.residual else h


class MBV2(nn.Module):
    """stem Conv3x3(1->8, stride 2)-BN-ReLU6 [8,14,14]; IR(8->8, t=2, s1, residual);
    IR(8->16, t=2, s2) [16,7,7]; IR(16->16, t=2, s1, residual); head Conv1x1 16->32-BN-ReLU6;
    GlobalAveragePool, flatten, Linear 32->10."""
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(1, 8, 3, 2)
        self.ir1 = InvertedResidual(8, 8, 2, 1)
        self.ir2 = InvertedResidual(8, 16, 2, 2)
        self.ir3 = InvertedResidual(16, 16, 2, 1)
        self.head = conv_bn(16, 32, 1)
        self.act = nn.ReLU6()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.act(self.stem(x))
        x = self.ir3(self.ir2(self.ir1(x)))
        x = self.act(self.head(x))
        return self.fc(torch.flatten(self.gap(x), 1))


class SqueezeExcite(nn.Module):
    """x * sigmoid(fc2(silu(fc1(gap(x))))), fc1/fc2 as 1x1 Convs with bias."""
    def __init__(self, c, rd):
        super().__init__()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, rd, 1)
        self.act = nn.SiLU()
        self.fc2 = nn.Conv2d(rd, c, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(self.gap(x)))))


class MBConv(nn.Module):
    """EfficientNet MBConv: [Conv1x1 expand-BN-SiLU when expand > 1], depthwise Conv3x3 (stride s)
    -BN-SiLU, squeeze-excitation, Conv1x1 project-BN; residual Add when stride 1 and cin == cout."""
    def __init__(self, cin, cout, expand, stride, rd):
        super().__init__()
        mid = cin * expand
        self.expand = conv_bn(cin, mid, 1) if expand > 1 else None
        self.dw = conv_bn(mid, mid, 3, stride, groups=mid)
        self.se = SqueezeExcite(mid, rd)
        self.project = conv_bn(mid, cout, 1)
        self.act = nn.SiLU()
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        h = x if self.expand is None else self.act(self.expand(x))
        h = self.se(self.act(self.dw(h)))
        h = self.project(h)
        return x + h if self.residual else h


class SENet(nn.Module):
    """stem Conv3x3(1->8, stride 2)-BN-SiLU [8,14,14]; MBConv(8->8, t=1, s1, SE 8->2->8,
    residual); MBConv(8->16, t=3, s2, SE 24->4->24) [16,7,7]; MBConv(16->16, t=3, s1,
    SE 48->4->48, residual); head Conv1x1 16->32-BN-SiLU; GlobalAveragePool, flatten,
    Linear 32->10."""
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(1, 8, 3, 2)
        self.mb1 = MBConv(8, 8, 1, 1, 2)
        self.mb2 = MBConv(8, 16, 3, 2, 4)
        self.mb3 = MBConv(16, 16, 3, 1, 4)
        self.head = conv_bn(16, 32, 1)
        self.act = nn.SiLU()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.act(self.stem(x))
        x = self.mb3(self.mb2(self.mb1(x)))
        x = self.act(self.head(x))
        return self.fc(torch.flatten(self.gap(x), 1))


class DenseLayer(nn.Module):
    """Conv3x3(cin->growth)-BN-ReLU (post-activation, so the exporter folds the BN into the
    Conv), output Concat'ed after the input along channels."""
    def __init__(self, cin, growth):
        super().__init__()
        self.conv = conv_bn(cin, growth, 3)

    def forward(self, x):
        return torch.cat([x, torch.relu(self.conv(x))], 1)


class DenseNet(nn.Module):
    """stem Conv3x3(1->8, stride 2)-BN-ReLU [8,14,14]; dense block of 3 layers, growth 6
    (8->14->20->26); transition Conv1x1 26->16-BN-ReLU + AvgPool 2x2 [16,7,7]; dense block of 3
    layers, growth 6 (16->22->28->34); GlobalAveragePool, flatten, Linear 34->10."""
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(1, 8, 3, 2)
        self.block1 = nn.Sequential(DenseLayer(8, 6), DenseLayer(14, 6), DenseLayer(20, 6))
        self.trans = conv_bn(26, 16, 1)
        self.pool = nn.AvgPool2d(2, count_include_pad=False)   # no zero Pad node in the export
        self.block2 = nn.Sequential(DenseLayer(16, 6), DenseLayer(22, 6), DenseLayer(28, 6))
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(34, 10)

    def forward(self, x):
        x = self.block1(torch.relu(self.stem(x)))
        x = self.pool(torch.relu(self.trans(x)))
        x = self.block2(x)
        return self.fc(torch.flatten(self.gap(x), 1))


class Fire(nn.Module):
    """SqueezeNet fire module: squeeze Conv1x1-ReLU, then expand Conv1x1-ReLU and expand
    Conv3x3(pad 1)-ReLU, Concat'ed along channels (1x1 first)."""
    def __init__(self, cin, s, e1, e3):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, s, 1)
        self.expand1x1 = nn.Conv2d(s, e1, 1)
        self.expand3x3 = nn.Conv2d(s, e3, 3, padding=1)

    def forward(self, x):
        x = torch.relu(self.squeeze(x))
        return torch.cat([torch.relu(self.expand1x1(x)), torch.relu(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    """Like torchvision's squeezenet1_1, narrowed (no BatchNorm): Conv3x3(1->16, pad 1)-ReLU;
    MaxPool 3x3 stride 2 ceil_mode [16,14,14]; Fire(16: s4, e8+8); Fire(16: s4, e8+8);
    MaxPool 3x3 s2 ceil_mode [16,7,7]; Fire(16: s6, e12+12) [24,7,7]; classifier Dropout(0.2)
    (gone in the eval export), Conv1x1 24->10, ReLU, GlobalAveragePool, flatten."""
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.fire1 = Fire(16, 4, 8, 8)
        self.fire2 = Fire(16, 4, 8, 8)
        self.fire3 = Fire(16, 6, 12, 12)
        self.drop = nn.Dropout(0.2)
        self.classifier = nn.Conv2d(24, 10, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(self.fire2(self.fire1(x)))
        x = self.fire3(x)
        x = torch.relu(self.classifier(self.drop(x)))
        return torch.flatten(self.gap(x), 1)


class TwoHead(nn.Module):
    """Conv3x3(1->8, pad 1)-ReLU-MaxPool2 [8,14,14], Conv3x3(8->16, pad 1)-ReLU-MaxPool2
    [16,7,7] -> aux head: GlobalAveragePool, flatten, Linear 16->10 = `aux_logits`; trunk:
    Conv3x3(16->16, pad 1)-ReLU, GlobalAveragePool, flatten, Linear 16->10 = `logits`.
    Returns (logits, aux_logits); trained on CE(logits) + 0.5 CE(aux_logits)."""
    OUTPUTS = ("logits", "aux_logits")

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)
        self.aux_fc = nn.Linear(16, 10)

    def forward(self, x):
        h = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        h = F.max_pool2d(torch.relu(self.conv2(h)), 2)
        aux = self.aux_fc(torch.flatten(self.gap(h), 1))
        h = torch.relu(self.conv3(h))
        return self.fc(torch.flatten(self.gap(h), 1)), aux


def twohead_loss(out, y):
    logits, aux = out
    return F.cross_entropy(logits, y) + 0.5 * F.cross_entropy(aux, y)


# name -> (module class, seed base, Adam steps, lr, description, exported graph)
FAMILIES = [
    ("resnet", ResNet, 10000, 1000, 3e-3,
     "ResNet: stem conv 1->8 s2 + BN + ReLU; basic blocks 8->8 (identity shortcut), 8->16 s2 "
     "(Conv 1x1 s2 + BN projection shortcut), 16->16 (identity); GAP, fc 16->10",
     "Conv-Relu; block: Conv-Relu-Conv, Add(Conv output, skip)-Relu, where block2's skip is "
     "Conv 1x1 s2 of the block input; GlobalAveragePool-Flatten-Gemm"),
    ("mbv2", MBV2, 11000, 1500, 3e-3,
     "MobileNetV2: stem conv 1->8 s2 + BN + ReLU6; inverted residuals 8->16->8 (t 2, Add), "
     "8->16->16 (t 2, dw s2), 16->32->16 (t 2, Add); head conv 16->32 + BN + ReLU6; GAP, "
     "fc 32->10",
     "Conv-Clip; block: Conv 1x1-Clip-Conv 3x3 dw (group = channels)-Clip-Conv 1x1, then "
     "Add(block input, Conv output) in blocks 1 and 3; Conv-Clip-GlobalAveragePool-Flatten-Gemm; "
     "every Clip takes min 0 and max 6 from two Constant nodes"),
    ("se", SENet, 12000, 1500, 3e-3,
     "EfficientNet-style: stem conv 1->8 s2 + BN + SiLU; MBConv 8->8 (t 1, dw, SE 8->2->8, Add), "
     "8->24->16 (t 3, dw s2, SE 24->4->24), 16->48->16 (t 3, dw, SE 48->4->48, Add); head conv "
     "16->32 + BN + SiLU; GAP, fc 32->10",
     "SiLU as Sigmoid-Mul(x, Sigmoid(x)); block: [Conv 1x1-SiLU], Conv 3x3 dw-SiLU, SE = "
     "GlobalAveragePool-Conv 1x1-SiLU-Conv 1x1-Sigmoid-Mul(x, gate), Conv 1x1, Add(block input, "
     "Conv output) in blocks 1 and 3; Conv-SiLU-GlobalAveragePool-Flatten-Gemm"),
    ("dense", DenseNet, 13000, 1000, 3e-3,
     "DenseNet: stem conv 1->8 s2 + BN + ReLU; dense block of 3 Conv3x3-BN-ReLU layers, growth "
     "6 (8->14->20->26); transition conv 1x1 26->16 + BN + ReLU, AvgPool 2; dense block of 3, "
     "growth 6 (16->22->28->34); GAP, fc 34->10",
     "Conv-Relu; layer: Conv-Relu, Concat(layer input, Relu output; axis 1); Conv 1x1-Relu-"
     "AveragePool; 3 more layers; GlobalAveragePool-Flatten-Gemm"),
    ("squeeze", SqueezeNet, 14000, 3000, 3e-3,
     "SqueezeNet 1.1-style (no BN): conv 1->16 + ReLU, MaxPool 3 s2 ceil; fire 16->16 (squeeze 4, "
     "expand 8 + 8) x2; MaxPool 3 s2 ceil; fire 16->24 (squeeze 6, expand 12 + 12); Dropout, "
     "conv 1x1 24->10 + ReLU, GAP, flatten",
     "Conv-Relu-MaxPool (ceil_mode 1); 2 fires, each Conv 1x1-Relu, then Conv 1x1-Relu and "
     "Conv 3x3-Relu, Concat(1x1, 3x3; axis 1); MaxPool (ceil_mode 1); 1 fire; Conv 1x1-Relu-"
     "GlobalAveragePool-Flatten (no Gemm, no Dropout node)"),
    ("twohead", TwoHead, 15000, 1500, 3e-3,
     "two outputs: conv 1->8 + ReLU + MaxPool 2, conv 8->16 + ReLU + MaxPool 2, then aux head "
     "GAP + fc 16->10 = `aux_logits` and trunk conv 16->16 + ReLU, GAP, fc 16->10 = `logits`; "
     "loss CE(logits) + 0.5 CE(aux_logits)",
     "Conv-Relu-MaxPool-Conv-Relu-MaxPool, then GlobalAveragePool-Flatten-Gemm (aux_logits, "
     "written first), Conv-Relu-GlobalAveragePool-Flatten-Gemm (logits); graph outputs in the "
     "order logits, aux_logits"),
]


def export_kwargs(model):
    outs = list(getattr(model, "OUTPUTS", ("logits",)))
    axes = {"input": {0: "batch"}}
    axes.update({o: {0: "batch"} for o in outs})
    return {"output_names": outs, "dynamic_axes": axes}


def first(out):
    return out[0] if isinstance(out, (tuple, list)) else out


@torch.no_grad()
def predict_all(model, x):
    """All outputs of the model on x, in batches of 500, as a tuple."""
    model.eval()
    outs = [model(x[i:i + 500]) for i in range(0, x.shape[0], 500)]
    if not isinstance(outs[0], (tuple, list)):
        outs = [(o,) for o in outs]
    return tuple(torch.cat([o[j] for o in outs]) for j in range(len(outs[0])))


def graph_info(m):
    """Op-type counts, the op sequence and the initializer names of an exported graph."""
    g = m.graph
    ops = [n.op_type for n in g.node]
    inits = {t.name for t in g.initializer}
    # Identity nodes whose input is an initializer (the exporter's way to share a parameter)
    ident = [n.name for n in g.node if n.op_type == "Identity" and n.input[0] in inits]
    generated = sorted(t for t in inits if t.startswith("onnx::"))
    return {"op_counts": dict(sorted(Counter(ops).items())), "ops": ops,
            "identity_on_initializer": ident, "n_constant_nodes": ops.count("Constant"),
            "n_initializers": len(inits), "n_generated_initializer_names": len(generated),
            "outputs": [o.name for o in g.output]}


# -------------------------------------------------------------------------------- readme

def table_md(res):
    lines = ["| family | architecture (widths) | params | ONNX file | training (K = 2 split) |",
             "|---|---|---|---|---|"]
    for fam in res["families"]:
        p0 = res["models"][fam["parents"][0]]
        lines.append("| `%s` | %s | %d | %d B | %d Adam steps, lr %g, seeds %s |" % (
            fam["name"], fam["description"], p0["params"], p0["bytes"], fam["adam_steps"],
            fam["lr"], ", ".join(str(res["models"][p]["seed"]) for p in fam["parents"])))
    lines += ["", "| file | parent | input -> outputs | test acc |", "|---|---|---|---|"]
    for fam in res["families"]:
        for p in fam["parents"]:
            info = res["models"][p]
            outs = ", ".join("%s [batch,10]" % o for o in info["graph"]["outputs"])
            acc = "%.4f" % info["test_acc"]
            if "test_acc_per_output" in info:
                acc = ", ".join("%s %.4f" % kv for kv in info["test_acc_per_output"].items())
            lines.append("| `models/dag/%s` | %d of 2, %d train imgs, seed %d | input "
                         "[batch,1,28,28] -> %s | %s |" % (p, info["parent"], info["n_train"],
                                                            info["seed"], outs, acc))
    lines += ["", "| family | parents (test acc) | best parent | ensemble (mean softmax) | "
              "exported ops (counts) |", "|---|---|---|---|---|"]
    for fam in res["families"]:
        accs = ", ".join("%.4f" % res["models"][p]["test_acc"] for p in fam["parents"])
        g = res["models"][fam["parents"][0]]["graph"]
        ops = ", ".join("%s %d" % kv for kv in g["op_counts"].items())
        lines.append("| %s | %s | `%s` %.4f | %.4f | %s |" % (
            fam["name"], accs, fam["best_parent"], fam["best_parent_acc"], fam["ensemble_acc"],
            ops))
    lines += ["", "Exported graphs (node order):", ""]
    for fam in res["families"]:
        lines.append("- `%s`: %s." % (fam["name"], fam["graph"]))
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--mnist", default=mtm.DEFAULT_MNIST,
                    help="folder with images_u8.npy and labels_i64.npy (default %(default)s)")
    ap.add_argument("--only", default=None, help="comma-separated family names (debugging)")
    ap.add_argument("--steps", type=int, default=None, help="override Adam steps (debugging)")
    ap.add_argument("--out", default=DAG_DIR, help="folder for the .onnx files (default "
                    "%(default)s); accuracies.json and the README table are written only for a "
                    "full run into the default folder")
    args = ap.parse_args()

    t0 = time.time()
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    data_dir = os.path.join(mtm.TM_DIR, "data")

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

    res = {"models": {}, "families": [], "split": {"K": K, "seed": mtm.SPLIT_SEED[K],
                                                    "counts": counts.tolist()}}
    only = set(args.only.split(",")) if args.only else None
    for (name, cls, seed_base, steps, lr, desc, graph) in FAMILIES:
        if only and name not in only:
            continue
        steps = args.steps or steps
        t1 = time.time()
        probs, parents, sig0 = [], [], None
        for k in range(K):
            seed = seed_base + k
            torch.manual_seed(seed)
            model = cls()
            loss_fn = twohead_loss if cls is TwoHead else None
            idx = torch.from_numpy(parts[k])
            mtm.train(model, x_all[idx], y_all[idx], seed, steps, lr, loss_fn=loss_fn)
            outs = predict_all(model, x_test)
            accs = [(o.argmax(1) == y_test).float().mean().item() for o in outs]
            probs.append(torch.softmax(outs[0], 1))
            fname = "%s_p%d.onnx" % (name, k)
            path = os.path.join(args.out, fname)
            mtm.export(model, path, export_kwargs(model))
            m, err, _ = mtm.verify(path, model, x_check, fname)
            sig = mtm.graph_signature(m)
            if sig0 is None:
                sig0 = sig
            elif sig != sig0:
                raise RuntimeError(fname + ": graph structure differs from parent 0")
            info = graph_info(m)
            parents.append(fname)
            res["models"][fname] = {
                "family": name, "parent": k, "seed": seed, "n_train": int(len(idx)),
                "test_acc": round(accs[0], 4),
                "params": int(sum(p.numel() for p in model.parameters())),
                "bytes": os.path.getsize(path),
                "onnx_vs_torch_max_abs_err": float("%.3g" % err), "graph": info}
            if len(accs) > 1:
                res["models"][fname]["test_acc_per_output"] = {
                    o: round(a, 4) for o, a in zip(info["outputs"], accs)}
            print("  %-14s acc %s  n_train %4d  %6d B  onnx err %.2g  (%.1fs)" % (
                fname, " / ".join("%.4f" % a for a in accs), len(idx), os.path.getsize(path),
                err, time.time() - t1))
        ens = torch.stack(probs).mean(0)
        ens_acc = (ens.argmax(1) == y_test).float().mean().item()
        best = max(parents, key=lambda p: res["models"][p]["test_acc"])
        res["families"].append({"name": name, "adam_steps": steps, "lr": lr,
                                "description": desc, "graph": graph, "parents": parents,
                                "ensemble_acc": round(ens_acc, 4), "best_parent": best,
                                "best_parent_acc": res["models"][best]["test_acc"]})
        info = res["models"][parents[0]]["graph"]
        print("%-8s ensemble %.4f  best %s %.4f  (%.1fs)" % (
            name, ens_acc, best, res["models"][best]["test_acc"], time.time() - t1))
        print("   op counts:", info["op_counts"])
        print("   ops:", " ".join(info["ops"]))
        print("   Identity on initializers: %s; Constant nodes: %d; generated initializer "
              "names: %d of %d" % (info["identity_on_initializer"] or "none",
                                   info["n_constant_nodes"], info["n_generated_initializer_names"],
                                   info["n_initializers"]))

    res["generator"] = {"torch": torch.__version__, "onnx": onnx.__version__,
                        "numpy": np.__version__, "opset": mtm.OPSET,
                        "torch_threads": THREADS}
    if only is None and args.steps is None and os.path.abspath(args.out) == DAG_DIR:
        mtm.write_results(DAG_DIR, res, table_md(res), README_BEGIN, README_END)
    print("total time %.1fs" % (time.time() - t0))


if __name__ == "__main__":
    main()
