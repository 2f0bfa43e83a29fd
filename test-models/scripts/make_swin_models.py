#!/usr/bin/python3
"""Make the tiny Swin Transformer fixture under test-models/models/swin/ (issue 9).

Run (from anywhere):  /usr/bin/python3 test-models/scripts/make_swin_models.py

swin_op17.onnx: an UNTRAINED torchvision SwinTransformer (torchvision.models.swin_transformer,
the class swin_t is built from) scaled down for MNIST: patch 4 (7 x 7 tokens from 28 x 28), embed
dim 16, two stages of 2 blocks with 2 and 4 heads, window 4, MLP ratio 4, 10 classes, and its
patch embedding re-made for one input channel. It holds every construct of swin_t: tokens padded
to whole windows (7 -> 8), windows merged into the batch and split out again, the cyclic shift
(torch.roll, exported as Slices and a Concat) and its -100 mask per window added to the scores,
a relative-position bias per head gathered from a table, Dropouts with ratio 0 exported in
training mode, patch merging (every other row and column, four slices concatenated along the
channels, LayerNorm, Linear 64 -> 32 without bias; 7 x 7 padded to 8 x 8), and sizes computed
from shapes with Mod, Range, ScatterND and Where. The export keeps a dynamic batch axis.

Reuses make_vit_models.spread_untrained (no two parameters equal, so the exporter shares none
through Identity nodes and a permutation shows in LayerNorm weights) and make_test_models' export
and verification (max abs ONNX-vs-torch difference on 256 test images below 1e-4).
"""
import os
import sys

import torch
import torch.nn as nn
from torchvision.models.swin_transformer import SwinTransformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_test_models as mtm  # noqa: E402
import make_vit_models as mvm  # noqa: E402

OUT = os.path.join(mtm.TM_DIR, "models", "swin")
SEED = 18000


def make_swin():
    model = SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=[4, 4],
                            stochastic_depth_prob=0.0, num_classes=10)
    model.features[0][0] = nn.Conv2d(1, 16, kernel_size=4, stride=4)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "relative_position_bias_table" in name:
                p.normal_(0.0, 0.5)  # torchvision draws 0.02: too small to tell heads apart in a test
    mvm.spread_untrained(model)
    return model.eval()


def main():
    torch.set_num_threads(mvm.THREADS)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(SEED)
    model = make_swin()
    x_test, _ = mtm.load_test(os.path.join(mtm.TM_DIR, "data"))
    path = os.path.join(OUT, "swin_op17.onnx")
    _, err = mvm.export_checked(model, path, 17, x_test[:256])
    print("swin_op17.onnx: %d bytes, %d parameters, onnx vs torch max abs diff %.2g"
          % (os.path.getsize(path), mvm.n_params(model), err))


if __name__ == "__main__":
    main()
