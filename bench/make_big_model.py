#!/usr/bin/env python3
"""Two deep MLP parents over 2 GB each (ONNX with external data) and calibration data, for the
big-model check of the reliability issue: planned and fused end to end.

    /usr/bin/python3 bench/make_big_model.py OUT_DIR [--width 2048] [--hidden 128] [--samples 256]
    java -Xmx12g -jar fusion/target/onnx-fuse.jar OUT_DIR/p0/model.onnx OUT_DIR/p1/model.onnx \
        --data OUT_DIR/calib.npy --samples 128 --importance uniform --restarts 1 -o fused/fused.onnx

Needs Debian's python3-torch and python3-numpy. Random initialisation (seeds 0 and 1): a check of
size and memory, not of accuracy. 784-2048x129-10 is 2.155 GB per parent (over 2^31 bytes);
smaller ones (--hidden 16: 275 MB) keep their weights inline unless --external.
"""
import argparse
import os

import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--hidden", type=int, default=128, help="hidden width x width layers after the first")
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--external", action="store_true",
                    help="write every tensor to its own side file even under 2 GB, as the exporter does over it")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for seed in (0, 1):
        torch.manual_seed(seed)
        layers = [torch.nn.Flatten(), torch.nn.Linear(784, args.width), torch.nn.ReLU()]
        for _ in range(args.hidden):
            layers += [torch.nn.Linear(args.width, args.width), torch.nn.ReLU()]
        layers.append(torch.nn.Linear(args.width, 10))
        net = torch.nn.Sequential(*layers).eval()
        folder = os.path.join(args.out, f"p{seed}")
        os.makedirs(folder, exist_ok=True)
        # over 2 GB the exporter writes every tensor to its own file next to the model
        torch.onnx.export(net, torch.zeros(1, 1, 28, 28), os.path.join(folder, "model.onnx"), opset_version=13,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
        if args.external:
            import onnx
            path = os.path.join(folder, "model.onnx")
            proto = onnx.load(path)
            onnx.save_model(proto, path, save_as_external_data=True, all_tensors_to_one_file=False,
                            size_threshold=1024)
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        print(f"p{seed}: {size} bytes in {len(os.listdir(folder))} files")
    rng = np.random.default_rng(0)
    np.save(os.path.join(args.out, "calib.npy"), rng.random((args.samples, 1, 28, 28), dtype=np.float32))


if __name__ == "__main__":
    main()
