#!/usr/bin/python3
"""Export torchvision architectures (untrained, eval mode) to ONNX for the coverage check.

    /usr/bin/python3 bench/torchvision/export_models.py OUT_DIR [--size 64] [--opsets 13,17]

Needs Debian's python3-torch and python3-torchvision. Writes OUT_DIR/<name>_opset<N>.onnx with a
dynamic batch axis, and random normal float32 inputs: calib.npy and eval.npy (64 each) at --size,
calib224.npy and eval224.npy (32 each) for vgg11, vgg11_bn and alexnet, whose adaptive pooling
torch can export only at 224 x 224, and vit_b_16, whose patch grid is fixed at 224 x 224. The models are large: never commit them. Weights are random
(weights=None), with BatchNorm statistics drawn at random too, so that folding them changes the
weights.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torchvision.models as tvm

FULL_SIZE = {"vgg11", "vgg11_bn", "alexnet", "vit_b_16"}
MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "densenet121",
          "squeezenet1_0", "shufflenet_v2_x0_5", "regnet_x_400mf", "vgg11", "vgg11_bn", "alexnet",
          "convnext_tiny", "vit_b_16", "swin_t"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--opsets", default="13,17")
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    for name in args.models.split(","):
        size = 224 if name in FULL_SIZE else args.size
        x = torch.zeros(1, 3, size, size)
        model = getattr(tvm, name)(weights=None).eval()
        if name == "vit_b_16":
            # torchvision zeroes the classifier of an untrained ViT: the outputs would all be 0
            torch.nn.init.normal_(model.heads.head.weight, std=0.02)
            torch.nn.init.normal_(model.heads.head.bias, std=0.02)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.2, 0.2)
        for opset in [int(o) for o in args.opsets.split(",")]:
            path = os.path.join(args.out, f"{name}_opset{opset}.onnx")
            torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
            print(f"{name} opset {opset}: {os.path.getsize(path) / 1e6:.1f} MB", flush=True)
    rng = np.random.default_rng(0)
    for stem, count, size in [("calib", 64, args.size), ("eval", 64, args.size), ("calib224", 32, 224),
                              ("eval224", 32, 224)]:
        np.save(os.path.join(args.out, stem + ".npy"), rng.standard_normal((count, 3, size, size), dtype=np.float32))


if __name__ == "__main__":
    sys.exit(main())
