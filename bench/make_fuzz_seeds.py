#!/usr/bin/python3
"""Writes the fuzzing seed corpora (bench/README.md, "Fuzzing") from the test-models fixtures.

ONNX seeds are the fixture models made small: every float initializer of more than 16 values
becomes a ConstantOfShape node (a few bytes), which ConstantFolding turns back into an
initializer of the same shape, so the planner still sees every layer. The .npy/.npz seeds are
slices of the MNIST fixture arrays in the layouts numpy writes (header versions 1 to 3, Fortran
order, big-endian, each supported dtype, stored and deflated archives).

Needs python3-onnx and python3-numpy (Debian). Deterministic: rerunning rewrites the same bytes.
Run from anywhere: /usr/bin/python3 bench/make_fuzz_seeds.py
"""
import io
import os
import zipfile

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "test-models", "models")
DATA = os.path.join(ROOT, "test-models", "data")
READER = os.path.join(ROOT, "onnx-io/src/test/resources/org/onnxfuse/onnx/io/OnnxReaderFuzzTestInputs/parse")
PLANNER = os.path.join(ROOT, "fusion/src/test/resources/org/onnxfuse/fusion/plan/LevelPlannerFuzzTestInputs/plan")
NPY = os.path.join(ROOT, "fusion/src/test/resources/org/onnxfuse/fusion/data/NpyFormatFuzzTestInputs/header")
NPZ = os.path.join(ROOT, "fusion/src/test/resources/org/onnxfuse/fusion/data/NpzArchiveFuzzTestInputs/archive")

FIXTURES = ["gap_p0", "vgg_p0", "bn_p0", "mlp_k2_p0", "mlpmm_p0", "zoo_p0", "dag/dense_p0", "dag/mbv2_p0",
            "export_forms/gelu_opset17", "export_forms/silu_opset17", "export_forms/tanh_opset17",
            "export_forms/relu_opset13", "refused/layernorm_opset17", "refused/lstm", "refused/encoder"]


def shrink(model):
    g = model.graph
    kept, nodes = [], []
    for t in g.initializer:
        a = numpy_helper.to_array(t)
        if t.data_type == TensorProto.FLOAT and a.size > 16:
            shape = numpy_helper.from_array(np.array(a.shape, dtype=np.int64), t.name + "_shape")
            kept.append(shape)
            value = numpy_helper.from_array(np.array([0.5], dtype=np.float32), "value")
            nodes.append(helper.make_node("ConstantOfShape", [shape.name], [t.name], value=value))
        else:
            kept.append(t)
    del g.initializer[:]
    g.initializer.extend(kept)
    rest = list(g.node)
    del g.node[:]
    g.node.extend(nodes + rest)
    for n in g.node:
        n.doc_string = ""
    model.doc_string = ""
    return model


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def npy_bytes(array, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, version=version, allow_pickle=False)
    return buf.getvalue()


def npz_bytes(arrays, compress):
    """What np.savez / np.savez_compressed write (ZIP64 local headers), with a fixed timestamp."""
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            with z.open(info, "w", force_zip64=True) as f:
                f.write(npy_bytes(array))
    return buf.getvalue()


def header_only(descr, fortran, shape):
    """A .npy of an empty array: the header says what numpy would write, no data follows."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return buf.getvalue()


def main():
    for fixture in FIXTURES:
        model = shrink(onnx.load(os.path.join(MODELS, fixture + ".onnx")))
        data = model.SerializeToString()
        name = fixture.replace("/", "_") + ".onnx"
        write(READER, name, data)
        write(PLANNER, name, data)
    # one model with its weights as raw_data, as exporters write them
    with open(os.path.join(MODELS, "gap_p0.onnx"), "rb") as f:
        write(READER, "gap_p0_raw.onnx", f.read())

    x = np.load(os.path.join(DATA, "calib400_x.npy"))[:2, :, 10:14, 10:14]  # float16 [2,1,4,4]
    y = np.load(os.path.join(DATA, "calib400_y.npy"))[:10]                  # int64 [10]
    seeds = {
        "x_f2_v1.npy": npy_bytes(x),
        "y_i8_v1.npy": npy_bytes(y),
        "y_i8_v2.npy": npy_bytes(y, (2, 0)),
        "y_i8_v3.npy": npy_bytes(y, (3, 0)),
        "x_f4_fortran.npy": npy_bytes(np.asfortranarray(x.astype(np.float32).reshape(2, 4, 4))),
        "x_f8_bigendian.npy": npy_bytes(x.astype(">f8")),
        "y_u1.npy": npy_bytes(y.astype(np.uint8)),
        "y_i1.npy": npy_bytes(y.astype(np.int8)),
        "y_i2_bigendian.npy": npy_bytes(y.astype(">i2")),
        "y_i4.npy": npy_bytes(y.astype(np.int32)),
        "y_bool.npy": npy_bytes(y > 4),
        "scalar_f4.npy": npy_bytes(np.float32(x[0, 0, 0, 0])),
        "empty_f4.npy": npy_bytes(np.zeros((0, 3), dtype=np.float32)),
        # once made an empty read allocate its 8 GB sample permutation (NpyArrayTest)
        "empty_fortran_huge_samples.npy": header_only("<i4", True, (0, 2000000000)),
    }
    for name, data in seeds.items():
        write(NPY, name, data)
    pair = {"x": x.astype(np.float32), "y": y[:2]}
    write(NPZ, "pair_stored.npz", npz_bytes(pair, False))
    write(NPZ, "pair_deflated.npz", npz_bytes(pair, True))
    write(NPZ, "fortran_deflated.npz", npz_bytes({"x": np.asfortranarray(x.reshape(2, 4, 4))}, True))
    # over the fuzz test's 64 KiB in-memory limit: read batch by batch while inflating
    write(NPZ, "large_deflated.npz", npz_bytes({"zeros": np.zeros((5, 4096), dtype=np.float32)}, True))


if __name__ == "__main__":
    main()
