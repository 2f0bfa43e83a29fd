#!/usr/bin/python3
"""Builds the parents and calibration data of bench/run_scale.py (issue 11) with torch, and counts
each model's work from its layer shapes.

    /usr/bin/python3 bench/scale_models.py OUT_DIR [--cases mlp-k2,vgg11-k2] [--samples 400,2000] [--quick]

Needs Debian's python3-torch and python3-numpy (python3-torchvision for alexnet). run_scale.py
calls it; it is not meant to be run by hand, but can be. Writes, under OUT_DIR (a cache: never
commit it; files already there with the same settings are kept):

- `<case>/p<i>.onnx`: the case's parents, opset 13, input `input` with a dynamic batch axis, output
  `logits`; weights at random (PyTorch's default initialisation, seed per case and parent, so no two
  parents are alike), eval mode, no training;
- `data/calib_<C>x<H>x<W>_<N>.npy`: N float32 synthetic images (a smooth random colour field plus
  noise, per sample), one file per input shape and sample count;
- `manifest.json`: per case the parent files, the input shape, the data file per sample count, each
  model's forward FLOPs per sample (2 x multiply-adds of every Conv2d and Linear) and its levels:
  op, positions per sample (output H x W of a Conv, 1 for a Linear), fan-in with the bias column
  (C_in k_h k_w + 1, or in + 1) and width (output channels or features), per parent.

Cases: `mlp-k2`, `mlp-k8` (3072-2048-2048-10 on 3x32x32 inputs, flattened), `vgg11-k2` (VGG11 for
3x32x32: 8 Conv 3x3 of widths 64..512 with 5 max-pools, then Linear 512-10: 9 levels),
`alexnet-k2` (torchvision's alexnet, 3x224x224, fan-in 9217 at the first Linear). `--quick`
divides the widths by 16 (alexnet: the same layers written out, widths / 16; the MLP reads 3x8x8
inputs, 192-128-128-10) for a smoke test.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from torch import nn

CASES = {
    # name: (family, parents)
    "mlp-k2": ("mlp", 2),
    "mlp-k8": ("mlp", 8),
    "vgg11-k2": ("vgg11", 2),
    "alexnet-k2": ("alexnet", 2),
}
VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
VERSION = 2  # bump when the models change, so that a cache built before is rebuilt


def input_shape(family, quick=False):
    if family == "alexnet":
        return (3, 224, 224)
    return (3, 8, 8) if quick and family == "mlp" else (3, 32, 32)


def mlp(quick):
    d, h = (192, 128) if quick else (3072, 2048)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 10))


def vgg11(quick):
    layers, c = [], 3
    for v in VGG11:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            w = v // 16 if quick else v
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU()]
            c = w
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c, 10))


def alexnet(quick):
    if not quick:
        import torchvision.models as tvm
        return tvm.alexnet(weights=None)
    w = [64 // 16, 192 // 16, 384 // 16, 256 // 16, 256 // 16, 4096 // 16]
    return nn.Sequential(
        nn.Conv2d(3, w[0], 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(w[0], w[1], 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(w[1], w[2], 3, padding=1), nn.ReLU(),
        nn.Conv2d(w[2], w[3], 3, padding=1), nn.ReLU(),
        nn.Conv2d(w[3], w[4], 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Linear(w[4] * 36, w[5]), nn.ReLU(), nn.Linear(w[5], w[5]), nn.ReLU(), nn.Linear(w[5], 10))


BUILDERS = {"mlp": mlp, "vgg11": vgg11, "alexnet": alexnet}


def count(model, shape):
    """Forward FLOPs per sample and the levels (Conv2d and Linear in execution order)."""
    levels = []

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            fan_in = module.in_channels // module.groups * kh * kw
            positions = output.shape[2] * output.shape[3]
            levels.append({"op": "Conv", "positions": positions, "fanIn": fan_in + 1, "width": module.out_channels,
                           "flops": 2 * fan_in * module.out_channels * positions})
        else:
            levels.append({"op": "Gemm", "positions": 1, "fanIn": module.in_features + 1,
                           "width": module.out_features, "flops": 2 * module.in_features * module.out_features})

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in handles:
        h.remove()
    return sum(level["flops"] for level in levels), levels


def synthetic_images(n, shape, seed):
    """Smooth random colour fields (a few low-frequency waves per channel) plus noise, float32."""
    rng = np.random.default_rng(seed)
    c, h, w = shape
    yy, xx = np.meshgrid(np.linspace(0, 1, h, dtype=np.float32), np.linspace(0, 1, w, dtype=np.float32),
                         indexing="ij")
    out = np.empty((n, c, h, w), dtype=np.float32)
    for start in range(0, n, 256):
        b = min(256, n - start)
        f = rng.uniform(0.5, 4.0, size=(b, c, 2, 2)).astype(np.float32)
        p = rng.uniform(0, 2 * np.pi, size=(b, c, 2)).astype(np.float32)
        field = (np.sin(f[..., 0, 0, None, None] * 2 * np.pi * xx + f[..., 0, 1, None, None] * 2 * np.pi * yy
                        + p[..., 0, None, None])
                 + np.cos(f[..., 1, 0, None, None] * 2 * np.pi * xx - f[..., 1, 1, None, None] * 2 * np.pi * yy
                          + p[..., 1, None, None]))
        out[start:start + b] = 0.5 * field + 0.3 * rng.standard_normal((b, c, h, w), dtype=np.float32)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--samples", default="400,2000")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    os.makedirs(os.path.join(args.out, "data"), exist_ok=True)
    manifest_path = os.path.join(args.out, "manifest.json")
    manifest = {}
    if os.path.isfile(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    if manifest.get("version") != VERSION or manifest.get("quick") != args.quick:
        manifest = {"version": VERSION, "quick": args.quick, "torch": torch.__version__, "cases": {}}
    samples = [int(s) for s in args.samples.split(",") if s.strip()]
    for name in [c.strip() for c in args.cases.split(",") if c.strip()]:
        if name not in CASES:
            sys.exit(f"unknown case {name!r}; known: {', '.join(CASES)}")
        family, k = CASES[name]
        shape = input_shape(family, args.quick)
        case = manifest["cases"].get(name)
        folder = os.path.join(args.out, name)
        files = [os.path.join(folder, f"p{i}.onnx") for i in range(k)]
        if case is None or not all(os.path.isfile(f) for f in files):
            os.makedirs(folder, exist_ok=True)
            models = []
            for i, path in enumerate(files):
                torch.manual_seed(1000 * (list(CASES).index(name) + 1) + i)
                model = BUILDERS[family](args.quick).eval()
                flops, levels = count(model, shape)
                models.append({"file": os.path.relpath(path, args.out), "forwardFlops": flops, "levels": levels})
                torch.onnx.export(model, torch.zeros(1, *shape), path, opset_version=13, input_names=["input"],
                                  output_names=["logits"],
                                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
                print(f"{name} p{i}: {os.path.getsize(path) / 1e6:.1f} MB, {flops / 1e6:.1f} MFLOP per sample,"
                      f" {len(levels)} levels", flush=True)
            case = {"family": family, "parents": k, "inputShape": list(shape), "models": models, "data": {}}
            manifest["cases"][name] = case
        for n in samples:
            data = os.path.join(args.out, "data", "calib_{}_{}.npy".format("x".join(map(str, shape)), n))
            if not os.path.isfile(data):
                tmp = data + ".part.npy"
                np.save(tmp, synthetic_images(n, shape, seed=n))
                os.replace(tmp, data)
                print(f"data {os.path.basename(data)}: {os.path.getsize(data) / 1e6:.1f} MB", flush=True)
            case["data"][str(n)] = os.path.relpath(data, args.out)
        with open(manifest_path + ".tmp", "w") as f:
            json.dump(manifest, f, indent=2)
        os.replace(manifest_path + ".tmp", manifest_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
