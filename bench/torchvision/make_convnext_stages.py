#!/usr/bin/python3
"""Two ConvNeXt stages (stem conv, torchvision's CNBlock, a 2x2 downsampling conv, another CNBlock, pooling
and a Linear head), untrained, with calib.npy / eval.npy for run_coverage.py: the smallest model that showed
a shared space grouped with one neuron axis for all its member cuts (NCHW convolutions and a channels-last
MatMul); test-models/models/convnext/stages_op17.onnx is its output.

    /usr/bin/python3 bench/torchvision/make_convnext_stages.py OUT_DIR
    python3 bench/torchvision/run_coverage.py OUT_DIR --out-dir OUT_DIR/out
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from torchvision.models.convnext import CNBlock


class TwoStages(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 4, 4)
        self.s1 = CNBlock(16, 1e-6, 0.0)
        self.down = nn.Conv2d(16, 32, 2, 2)
        self.s2 = CNBlock(32, 1e-6, 0.0)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(32, 10))

    def forward(self, x):
        return self.head(self.s2(self.down(self.s1(self.stem(x)))))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    torch.onnx.export(TwoStages().eval(), torch.randn(2, 1, 28, 28), os.path.join(out, "convnext_stages_opset17.onnx"),
                      opset_version=17, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    rng = np.random.default_rng(0)
    for name in ("calib", "eval"):
        np.save(os.path.join(out, name + ".npy"), rng.standard_normal((64, 1, 28, 28)).astype(np.float32))


if __name__ == "__main__":
    main()
