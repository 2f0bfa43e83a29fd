#!/usr/bin/python3
"""Regenerate the onnx-fuse fixture data and models under test-models/.

Run (from anywhere):  /usr/bin/python3 test-models/scripts/make_test_models.py [--mnist DIR]

Needs Debian's python3-torch (1.13), python3-numpy and python3-onnx (1.12). Deterministic: fixed
seeds, 2 torch threads, deterministic algorithms. See test-models/README.md for the recipe.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_torch_eval  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TM_DIR = os.path.dirname(HERE)                  # <repo>/test-models
REPO = os.path.dirname(TM_DIR)                  # <repo>
DEFAULT_MNIST = os.path.join(os.path.dirname(REPO), "shared", "data", "mnist")

MEAN, STD = 0.1307, 0.3081
N_TEST, N_CALIB, N_CALIB_SMALL = 150, 500, 40   # per class
ALPHA_LO, ALPHA_HI = 1.0, 5.0
MIN_PER_CLASS = 2
OPSET = 13

README_BEGIN = "<!-- BEGIN GENERATED TABLE (make_test_models.py) -->"
README_END = "<!-- END GENERATED TABLE -->"


# ----------------------------------------------------------------------------------- data

def load_mnist(mnist_dir):
    """images uint8 [10000,784] and labels int64 [10000] (ordered by class) from mnist_dir."""
    images = np.load(os.path.join(mnist_dir, "images_u8.npy"))
    labels = np.load(os.path.join(mnist_dir, "labels_i64.npy"))
    assert images.shape == (10000, 784) and images.dtype == np.uint8, images.shape
    assert labels.shape == (10000,) and labels.dtype == np.int64
    assert np.all(np.diff(labels) >= 0), "expected images ordered by class"
    return images, labels


def load_test(data_dir):
    """The saved test set exactly as a consumer reads it: float16 file -> float32 tensor."""
    x_test = torch.from_numpy(np.load(os.path.join(data_dir, "test_x.npy")).astype(np.float32))
    y_test = torch.from_numpy(np.load(os.path.join(data_dir, "test_y.npy")))
    return x_test, y_test


def normalise(u8):
    x = (u8.astype(np.float32) / 255.0 - MEAN) / STD
    return x.reshape(-1, 1, 28, 28)


def interleave(per_class):
    """per_class: list of 10 equal-length index lists -> [c0[0], c1[0], ..., c9[0], c0[1], ...]."""
    n = len(per_class[0])
    assert all(len(p) == n for p in per_class)
    return np.array([per_class[c][i] for i in range(n) for c in range(10)], dtype=np.int64)


def split_by_position(labels):
    test, calib, calib_small, pool = [], [], [], []
    for c in range(10):
        idx = np.nonzero(labels == c)[0]          # file order
        n = len(idx)
        assert n > N_TEST + N_CALIB
        test.append(idx[n - N_TEST:])
        calib.append(idx[n - N_TEST - N_CALIB:n - N_TEST])
        calib_small.append(idx[n - N_TEST - N_CALIB:n - N_TEST - N_CALIB + N_CALIB_SMALL])
        pool.append(idx[:n - N_TEST - N_CALIB])
    return interleave(test), interleave(calib), interleave(calib_small), pool


def dirichlet_split(pool, K, seed):
    """Per class: a random permutation of the class's pool, cut into K consecutive chunks whose
    sizes follow one Dirichlet draw; the concentrations are alpha evenly spaced in [1, 5],
    rotated by the class index (class c gives parent k alpha[(k - c) mod K]), so that each parent
    is strong on some classes and weak on others while all get about the same amount of data.
    Returns (list of K index arrays, counts [K,10], proportions [10,K])."""
    rng = np.random.default_rng(seed)
    alpha = np.linspace(ALPHA_LO, ALPHA_HI, K)
    parts = [[] for _ in range(K)]
    counts = np.zeros((K, 10), dtype=np.int64)
    props = np.zeros((10, K))
    for c in range(10):
        idx = rng.permutation(pool[c])
        n = len(idx)
        p = rng.dirichlet(np.roll(alpha, c))
        props[c] = p
        raw = p * n
        cnt = np.floor(raw).astype(np.int64)
        # largest remainder; ties broken by lower parent index (stable sort)
        order = np.argsort(-(raw - cnt), kind="stable")
        cnt[order[:n - cnt.sum()]] += 1
        # fix-up: every parent sees >= MIN_PER_CLASS images of every class; move one image at a
        # time from the currently largest share (lowest index on ties) to the smallest one
        while cnt.min() < MIN_PER_CLASS:
            cnt[int(np.argmax(cnt))] -= 1
            cnt[int(np.argmin(cnt))] += 1
        assert cnt.sum() == n
        start = 0
        for k in range(K):
            parts[k].extend(idx[start:start + cnt[k]].tolist())
            start += cnt[k]
        counts[:, c] = cnt
    return [np.array(sorted(p), dtype=np.int64) for p in parts], counts, props


# --------------------------------------------------------------------------------- models

class MLP(nn.Module):
    """784-256-10. Export: Flatten -> Gemm -> Relu -> Gemm."""
    def __init__(self, hidden=256):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class VGG(nn.Module):
    """Conv-Relu-MaxPool x2, Flatten, Gemm."""
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


class BNNet(nn.Module):
    """Conv(no bias)-BN-Relu-MaxPool x2, Flatten, Gemm(->32), BN1d, Relu, Gemm(->10)."""
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(16 * 7 * 7, 32)
        self.bn3 = nn.BatchNorm1d(32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
        x = torch.relu(self.bn3(self.fc1(x.flatten(1))))
        return self.fc2(x)


class MMLinear(nn.Module):
    """y = x @ weight + bias with weight stored [in, out], so the export is MatMul(x, <name>.weight)
    then Add(<name>.bias): no Transpose node and no renamed (constant-folded) initializer."""
    def __init__(self, n_in, n_out):
        super().__init__()
        lin = nn.Linear(n_in, n_out)              # reuse torch's default init
        self.weight = nn.Parameter(lin.weight.detach().t().contiguous())
        self.bias = nn.Parameter(lin.bias.detach().clone())

    def forward(self, x):
        return x @ self.weight + self.bias


class MLPMM(nn.Module):
    """784-64-10 as Flatten -> MatMul -> Add -> Relu -> MatMul -> Add."""
    def __init__(self):
        super().__init__()
        self.fc1 = MMLinear(784, 64)
        self.fc2 = MMLinear(64, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class Zoo(nn.Module):
    """Activation zoo: Tanh, Sigmoid, LeakyRelu(0.1), exact GELU (Div/Erf/Add/Mul/Mul),
    ReLU6 (Clip), Dropout (gone in the eval export)."""
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(784, 32)
        self.act1 = nn.Tanh()
        self.fc2 = nn.Linear(32, 32)
        self.act2 = nn.Sigmoid()
        self.fc3 = nn.Linear(32, 32)
        self.act3 = nn.LeakyReLU(0.1)
        self.fc4 = nn.Linear(32, 32)
        self.act4 = nn.GELU()
        self.fc5 = nn.Linear(32, 32)
        self.act5 = nn.ReLU6()
        self.drop = nn.Dropout(0.1)
        self.fc6 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.act1(self.fc1(self.flatten(x)))
        x = self.act2(self.fc2(x))
        x = self.act3(self.fc3(x))
        x = self.act4(self.fc4(x))
        x = self.drop(self.act5(self.fc5(x)))
        return self.fc6(x)


class GAPNet(nn.Module):
    """Conv(1->8,3x3,pad1)-Relu-AveragePool2 - Conv(8->16,3x3,stride2,dilation2)-Relu -
    GlobalAveragePool - Flatten - Gemm(16->10). count_include_pad=False (same values here, no
    padding) keeps torch 1.13 from emitting a zero Pad node before AveragePool."""
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.pool = nn.AvgPool2d(2, count_include_pad=False)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, dilation=2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return self.fc(self.gap(x).flatten(1))


# Each set: name -> (module class, K, seed base, Adam steps, lr, export kwargs, description, graph)
SETS = [
    ("mlp_k2", MLP, 2, 1000, 600, 1e-3, {}, "MLP 784-256-10, ReLU", "Flatten-Gemm-Relu-Gemm"),
    ("mlp_k4", MLP, 4, 2000, 600, 1e-3, {}, "MLP 784-256-10, ReLU", "Flatten-Gemm-Relu-Gemm"),
    ("mlp_k8", MLP, 8, 3000, 600, 1e-3, {}, "MLP 784-256-10, ReLU", "Flatten-Gemm-Relu-Gemm"),
    ("vgg", VGG, 2, 4000, 1000, 2e-3, {}, "VGG-style CNN conv8-conv16-fc",
     "(Conv-Relu-MaxPool)x2-Flatten-Gemm"),
    ("bn", BNNet, 2, 5000, 1000, 2e-3,
     {"training": torch.onnx.TrainingMode.PRESERVE, "do_constant_folding": False},
     "CNN with BatchNormalization (kept in graph)",
     "(Conv-BN-Relu-MaxPool)x2-Flatten-Gemm-BN-Relu-Gemm"),
    ("mlpmm", MLPMM, 2, 6000, 800, 1e-3, {}, "MLP 784-64-10 as MatMul+Add",
     "Flatten-MatMul-Add-Relu-MatMul-Add"),
    ("zoo", Zoo, 2, 7000, 1500, 2e-3, {}, "activation-zoo MLP 784-32x5-10",
     "Flatten-Gemm-Tanh-Gemm-Sigmoid-Gemm-LeakyRelu-Gemm-GELU(Erf)-Gemm-Clip-Gemm"),
    ("gap", GAPNet, 2, 8000, 2000, 3e-3, {}, "pooling CNN, AveragePool + GlobalAveragePool",
     "Conv-Relu-AveragePool-Conv(s2,d2)-Relu-GlobalAveragePool-Flatten-Gemm"),
]
SPLIT_SEED = {2: 102, 4: 104, 8: 108}


# ------------------------------------------------------------------------------- training

def train(model, x, y, seed, steps, lr, batch=64, loss_fn=None, optimizer=None, schedule=None, augment=None):
    """Adam, fixed number of optimiser steps (so parents with little data are not under-trained),
    reshuffling every epoch with a generator seeded by `seed`; the last short batch of an epoch
    is used too, except a 1-sample batch (BatchNorm needs >1 sample). loss_fn(output, labels)
    defaults to cross-entropy on the model's (single) output. Other recipes may pass their own
    `optimizer` (instead of Adam at `lr`), a `schedule` stepped after every optimiser step, and
    `augment(batch, generator)` applied to each batch with the same generator as the shuffling."""
    if loss_fn is None:
        loss_fn = F.cross_entropy
    g = torch.Generator().manual_seed(seed)
    opt = optimizer if optimizer is not None else torch.optim.Adam(model.parameters(), lr=lr)
    n = x.shape[0]
    model.train()
    done = 0
    while done < steps:
        perm = torch.randperm(n, generator=g)
        for s in range(0, n, batch):
            b = perm[s:s + batch]
            if len(b) < 2:
                continue
            opt.zero_grad()
            loss = loss_fn(model(x[b] if augment is None else augment(x[b], g)), y[b])
            loss.backward()
            opt.step()
            if schedule is not None:
                schedule.step()
            done += 1
            if done >= steps:
                break
    model.eval()
    return model


def write_results(folder, res, table, begin, end):
    """accuracies.json in `folder` and the generated README table between `begin` and `end`."""
    with open(os.path.join(folder, "accuracies.json"), "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    update_readme(table, begin, end)
    print()
    print(table)


@torch.no_grad()
def predict(model, x):
    model.eval()
    return torch.cat([model(x[i:i + 500]) for i in range(0, x.shape[0], 500)])


def export(model, path, extra):
    kw = dict(opset_version=OPSET, input_names=["input"], output_names=["logits"],
              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    kw.update(extra)
    torch.onnx.export(model, torch.zeros(2, 1, 28, 28), path, **kw)


def graph_signature(m):
    g = m.graph
    return ([(n.op_type, n.name, tuple(n.input), tuple(n.output)) for n in g.node],
            sorted((t.name, tuple(t.dims), t.data_type) for t in g.initializer))


def verify(path, model, x_check, name):
    """check_model, then the ONNX graph (run by onnx_torch_eval) against the torch module on
    x_check. A module that returns a tuple is compared output by output with the graph's outputs
    in order; the error returned is the largest over the outputs."""
    m = onnx.load(path)
    onnx.checker.check_model(m)
    with torch.no_grad():
        refs = model(x_check)
        gots = onnx_torch_eval.run_all(m, x_check)
    if not isinstance(refs, (tuple, list)):
        refs = (refs,)
    if len(refs) != len(gots):
        raise RuntimeError("%s: %d ONNX outputs, torch has %d" % (name, len(gots), len(refs)))
    err = 0.0
    for ref, got in zip(refs, gots):
        if tuple(ref.shape) != tuple(got.shape):
            raise RuntimeError("%s: ONNX output shape %s, torch %s" % (name, tuple(got.shape),
                                                                       tuple(ref.shape)))
        e = (ref - got).abs().max().item()
        if not e <= 1e-4 * max(1.0, ref.abs().max().item()):
            raise RuntimeError("%s: ONNX output differs from torch by %g" % (name, e))
        err = max(err, e)
    ops = [n.op_type for n in m.graph.node]
    return m, err, ops


# -------------------------------------------------------------------------------- readme

def shape_str(s):
    return "[" + ",".join(str(v) for v in s) + "]"


def table_md(res):
    lines = ["| file | what / how made | input -> output | test acc |",
             "|---|---|---|---|"]
    for d in res["data"]:
        lines.append("| `data/%s` | %s | %s %s | |" % (d["file"], d["what"], d["dtype"],
                                                      shape_str(d["shape"])))
    for s in res["sets"]:
        for p in s["parents"]:
            info = res["models"][p]
            lines.append("| `models/%s` | %s, parent %d of %d (%d train imgs, seed %d, %d Adam steps lr %g); "
                         "`%s` | input [batch,1,28,28] -> logits [batch,10] | %.4f |"
                         % (p, s["description"], info["parent"], s["K"], info["n_train"],
                            info["seed"], s["adam_steps"], s["lr"], s["graph"], info["test_acc"]))
    lines += ["", "| parent set | K | parents (test acc) | best parent | ensemble (mean softmax) |",
              "|---|---|---|---|---|"]
    for s in res["sets"]:
        accs = ", ".join("%.4f" % res["models"][p]["test_acc"] for p in s["parents"])
        lines.append("| %s | %d | %s | `%s` %.4f | %.4f |" % (
            s["name"], s["K"], accs, s["best_parent"], s["best_parent_acc"], s["ensemble_acc"]))
    lines += ["", "Images per class seen by each parent (rows: parents, columns: digits 0..9):", ""]
    for K in (2, 4, 8):
        lines.append("K = %d:" % K)
        lines.append("")
        lines.append("| parent | " + " | ".join(str(c) for c in range(10)) + " | total |")
        lines.append("|---" * 12 + "|")
        for k, row in enumerate(res["splits"][str(K)]["counts"]):
            lines.append("| p%d | " % k + " | ".join(str(v) for v in row) + " | %d |" % sum(row))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def update_readme(table, begin=README_BEGIN, end=README_END):
    """Replace the text between the marker lines `begin` and `end` of test-models/README.md."""
    path = os.path.join(TM_DIR, "README.md")
    if not os.path.exists(path):
        print("README.md not found; table not written")
        return
    txt = open(path).read()
    if begin not in txt or end not in txt:
        print("README.md has no table markers; table not written")
        return
    a = txt.index(begin) + len(begin)
    b = txt.index(end, a)
    open(path, "w").write(txt[:a] + "\n" + table + txt[b:])


# ---------------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--mnist", default=DEFAULT_MNIST,
                    help="folder with images_u8.npy and labels_i64.npy (default %(default)s)")
    ap.add_argument("--only", default=None, help="comma-separated set names (debugging)")
    args = ap.parse_args()

    t0 = time.time()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    data_dir = os.path.join(TM_DIR, "data")
    model_dir = os.path.join(TM_DIR, "models")
    os.makedirs(data_dir, exist_ok=True)
    os.makedirs(model_dir, exist_ok=True)

    images, labels = load_mnist(args.mnist)

    test_idx, calib_idx, calib_small_idx, pool = split_by_position(labels)
    assert np.array_equal(calib_small_idx, calib_idx[:10 * N_CALIB_SMALL])
    res = {"data": [], "models": {}, "sets": [], "splits": {}}
    saved = {}
    for name, idx, what in [
            ("calib400", calib_small_idx, "calibration set, 40/class (= first 400 of calib5000)"),
            ("calib5000", calib_idx, "calibration set, 500/class"),
            ("test", test_idx, "held-out test set, last 150/class")]:
        x = normalise(images[idx]).astype(np.float16)
        y = labels[idx].astype(np.int64)
        assert np.array_equal(y, np.arange(len(y)) % 10)
        np.save(os.path.join(data_dir, name + "_x.npy"), np.ascontiguousarray(x))
        np.save(os.path.join(data_dir, name + "_y.npy"), np.ascontiguousarray(y))
        res["data"].append({"file": name + "_x.npy", "what": what + "; normalised images",
                            "dtype": "float16", "shape": list(x.shape)})
        res["data"].append({"file": name + "_y.npy", "what": what + "; labels (= i % 10)",
                            "dtype": "int64", "shape": list(y.shape)})
        saved[name] = idx
    # test data exactly as a consumer reads it (float16 -> float32)
    x_test, y_test = load_test(data_dir)

    splits = {}
    split_doc = {"test": saved["test"].tolist(), "calib5000": saved["calib5000"].tolist(),
                 "calib400": saved["calib400"].tolist(),
                 "pool": sorted(int(i) for p in pool for i in p)}
    for K in (2, 4, 8):
        parts, counts, props = dirichlet_split(pool, K, SPLIT_SEED[K])
        splits[K] = parts
        res["splits"][str(K)] = {"seed": SPLIT_SEED[K],
                                 "alpha": [float(a) for a in np.linspace(ALPHA_LO, ALPHA_HI, K)],
                                 "counts": counts.tolist(),
                                 "proportions": np.round(props, 4).tolist()}
        split_doc["parents_k%d" % K] = [p.tolist() for p in parts]
    with open(os.path.join(data_dir, "splits.json"), "w") as f:
        f.write("{\n" + ",\n".join('  "%s": %s' % (k, json.dumps(v, separators=(",", ":")))
                                   for k, v in split_doc.items()) + "\n}\n")
    res["data"].append({"file": "splits.json", "what": "indices into images_u8.npy of every set "
                        "and of each parent's training images (K = 2, 4, 8)",
                        "dtype": "json", "shape": []})
    x_all = torch.from_numpy(normalise(images))
    y_all = torch.from_numpy(labels)
    x_check = x_test[:256]
    print("data written (%.1fs)" % (time.time() - t0))

    only = set(args.only.split(",")) if args.only else None
    for (name, cls, K, seed_base, steps, lr, extra, desc, graph) in SETS:
        if only and name not in only:
            continue
        t1 = time.time()
        probs, parents, sig0 = [], [], None
        for k in range(K):
            seed = seed_base + k
            torch.manual_seed(seed)
            model = cls()
            idx = torch.from_numpy(splits[K][k])
            train(model, x_all[idx], y_all[idx], seed, steps, lr)
            logits = predict(model, x_test)
            acc = (logits.argmax(1) == y_test).float().mean().item()
            probs.append(torch.softmax(logits, 1))
            fname = "%s_p%d.onnx" % (name, k)
            path = os.path.join(model_dir, fname)
            export(model, path, extra)
            m, err, ops = verify(path, model, x_check, fname)
            sig = graph_signature(m)
            if sig0 is None:
                sig0 = sig
            elif sig != sig0:
                raise RuntimeError(fname + ": graph structure differs from parent 0")
            if name == "bn":
                nbn = ops.count("BatchNormalization")
                assert nbn == 3, ops
                assert all(len(n.output) == 1 for n in m.graph.node)
            parents.append(fname)
            res["models"][fname] = {"set": name, "parent": k, "seed": seed,
                                    "n_train": int(len(idx)), "test_acc": round(acc, 4),
                                    "onnx_vs_torch_max_abs_err": float("%.3g" % err),
                                    "ops": ops}
            print("  %-16s acc %.4f  n_train %4d  onnx err %.2g" % (fname, acc, len(idx), err))
        ens = torch.stack(probs).mean(0)
        ens_acc = (ens.argmax(1) == y_test).float().mean().item()
        best = max(parents, key=lambda p: res["models"][p]["test_acc"])
        res["sets"].append({"name": name, "K": K, "adam_steps": steps, "lr": lr,
                            "description": desc, "graph": graph, "parents": parents,
                            "ensemble_acc": round(ens_acc, 4), "best_parent": best,
                            "best_parent_acc": res["models"][best]["test_acc"]})
        print("%-7s K=%d ensemble %.4f  best %s %.4f  (%.1fs)" % (
            name, K, ens_acc, best, res["models"][best]["test_acc"], time.time() - t1))

    res["generator"] = {"torch": torch.__version__, "onnx": onnx.__version__,
                        "numpy": np.__version__, "opset": OPSET}
    if only is None:
        with open(os.path.join(model_dir, "accuracies.json"), "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
        table = table_md(res)
        update_readme(table)
        print()
        print(table)
    print("total time %.1fs" % (time.time() - t0))


if __name__ == "__main__":
    main()
