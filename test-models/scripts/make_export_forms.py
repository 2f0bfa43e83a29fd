#!/usr/bin/env python3
"""Writes test-models/models/export_forms/*.onnx: small untrained CNNs in the forms the PyTorch
exporter really writes (see test-models/README.md, "Export forms").

    /usr/bin/python3 test-models/scripts/make_export_forms.py

The models are untrained (fixed seeds): the tests fuse each with a neuron-permuted copy of itself,
which must give the same function whatever the weights, so they pin how the planner and the
backward graphs read each exported form."""

import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = Path(__file__).resolve().parent.parent / "models" / "export_forms"


class Net(nn.Module):
    """In-model normalisation, Conv+BN, avg_pool2d (exported as Pad + AveragePool), a strided
    Conv, flatten (torch.flatten for ReLU, x.view(x.size(0), -1) otherwise), Dropout and a
    LogSoftmax head."""

    def __init__(self, act):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc1 = nn.Linear(16 * 7 * 7, 32)
        self.fc2 = nn.Linear(32, 10)
        self.act = act
        self.drop = nn.Dropout(0.2)

    def forward(self, x):
        x = (x - 0.1307) / 0.3081
        h = self.act(self.bn1(self.conv1(x)))
        h = F.avg_pool2d(h, 2)
        h = self.act(self.conv2(h))
        h = torch.flatten(h, 1) if isinstance(self.act, nn.ReLU) else h.view(h.size(0), -1)
        h = self.drop(self.act(self.fc1(h)))
        return F.log_softmax(self.fc2(h), dim=1)


FORMS = [("relu", nn.ReLU, 13), ("relu", nn.ReLU, 17), ("silu", nn.SiLU, 17), ("gelu", nn.GELU, 17),
         ("tanh", nn.Tanh, 17)]


def main():
    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)
    for i, (name, act, opset) in enumerate(FORMS):
        torch.manual_seed(9000 + i)
        m = Net(act()).eval()
        with torch.no_grad():
            m.bn1.running_mean.uniform_(-0.1, 0.1)  # so that folding the BN matters
            m.bn1.running_var.uniform_(0.5, 1.5)
        path = OUT / f"{name}_opset{opset}.onnx"
        torch.onnx.export(m, torch.zeros(1, 1, 28, 28), str(path), input_names=["input"], output_names=["logp"],
                          opset_version=opset, dynamic_axes={"input": {0: "batch"}, "logp": {0: "batch"}})
        print(f"wrote {path.relative_to(OUT.parent.parent)} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
