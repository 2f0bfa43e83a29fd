"""Tiny untrained models with constructs the planner does not fuse yet (LayerNorm at opsets 13 and 17,
an LSTM, a TransformerEncoderLayer), for the tests that check refusals name every construct.
Run with Debian's python3-torch:  /usr/bin/python3 test-models/scripts/make_refused.py"""
import os

import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(__file__), "..", "models", "refused")


class LayerNormMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.ln, self.b = nn.Linear(8, 16), nn.LayerNorm(16), nn.Linear(16, 4)

    def forward(self, x):
        return self.b(torch.relu(self.ln(self.a(x))))


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.l, self.b = nn.LSTM(8, 16, batch_first=True), nn.Linear(16, 4)

    def forward(self, x):
        return self.b(self.l(x)[0][:, -1])


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.e = nn.Linear(8, 16)
        self.t = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
        self.b = nn.Linear(16, 4)

    def forward(self, x):
        return self.b(self.t(self.e(x)).mean(1))


def export(model, example, name, opset):
    torch.manual_seed(0)
    torch.onnx.export(model.eval(), example, os.path.join(OUT, name), opset_version=opset, input_names=["x"],
                      output_names=["y"])


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    export(LayerNormMlp(), torch.randn(2, 8), "layernorm_opset13.onnx", 13)
    export(LayerNormMlp(), torch.randn(2, 8), "layernorm_opset17.onnx", 17)
    export(Recurrent(), torch.randn(2, 5, 8), "lstm.onnx", 13)
    export(Encoder(), torch.randn(2, 5, 8), "encoder.onnx", 13)
