"""Tiny untrained token models for the transformer planner (issue 9): an image's 28 rows as tokens,
a linear embedding, two pre-LayerNorm residual MLP blocks (LayerNorm, Linear, GELU, Linear, + skip),
a final LayerNorm and mean pooling over the tokens before the head. Exported at opset 13 (LayerNorm
decomposed into ReduceMean, Sub, Pow, Sqrt, Div, Mul, Add) and opset 17 (the LayerNormalization op).
And a class-token model (opset 17): a learned token concatenated in front of the rows, a position
embedding added, one residual MLP block, and the class token's features before the head.
Run with Debian's python3-torch:  /usr/bin/python3 test-models/scripts/make_token_models.py"""
import os

import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(__file__), "..", "models", "tokens")


class Block(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.ln, self.fc1, self.act, self.fc2 = nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(self.ln(x))))


class TokenMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(28, 32)
        self.b1, self.b2 = Block(32, 64), Block(32, 64)
        self.ln, self.head = nn.LayerNorm(32), nn.Linear(32, 10)

    def forward(self, x):
        tokens = self.embed(x.view(x.shape[0], 28, 28))
        return self.head(self.ln(self.b2(self.b1(tokens))).mean(dim=1))


class ClassToken(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(28, 32)
        self.cls = nn.Parameter(0.5 * torch.randn(1, 1, 32))
        self.pos = nn.Parameter(0.5 * torch.randn(1, 29, 32))
        self.b1 = Block(32, 64)
        self.ln, self.head = nn.LayerNorm(32), nn.Linear(32, 10)

    def forward(self, x):
        tokens = self.embed(x.view(x.shape[0], 28, 28))
        tokens = torch.cat([self.cls.expand(tokens.shape[0], -1, -1), tokens], dim=1) + self.pos
        return self.head(self.ln(self.b1(tokens))[:, 0])


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    model = TokenMlp().eval()
    x = torch.randn(2, 1, 28, 28)
    for opset in (13, 17):
        torch.onnx.export(model, x, os.path.join(OUT, f"resmlp_op{opset}.onnx"), opset_version=opset,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    torch.manual_seed(1)
    torch.onnx.export(ClassToken().eval(), x, os.path.join(OUT, "clstoken_op17.onnx"), opset_version=17,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


if __name__ == "__main__":
    main()
