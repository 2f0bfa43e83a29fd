"""A tiny ONNX graph interpreter built on torch.nn.functional.

python3-onnx 1.12 (Debian) has no onnx.reference evaluator and onnxruntime is not available, so
make_test_models.py and make_dag_models.py use this to check that each exported graph computes the
same thing as the torch module it came from. It walks the ONNX nodes in order and evaluates each one with plain
torch ops, independently of the nn.Module code, so a wrong export (e.g. a BatchNormalization left
in training mode, a missing bias, a wrong Flatten axis) shows up as a mismatch.

Only the ops the fixture models use are supported (the CNNs and MLPs, and the transformer
fixtures of make_vit_models.py: LayerNormalization or its opset-13 decomposition, Softmax,
Transpose, MatMul of two activations, the exporter's shape arithmetic with Shape, Gather, Slice,
Cast, integer Div, ConstantOfShape, Equal, Where and Expand; ReduceSum of masked mean pooling); anything
else raises.
"""
import numpy as np
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def _attrs(node):
    out = {}
    for a in node.attribute:
        if a.type == a.FLOAT:
            out[a.name] = a.f
        elif a.type == a.INT:
            out[a.name] = a.i
        elif a.type == a.INTS:
            out[a.name] = list(a.ints)
        elif a.type == a.FLOATS:
            out[a.name] = list(a.floats)
        elif a.type == a.STRING:
            out[a.name] = a.s.decode()
        elif a.type == a.TENSOR:
            out[a.name] = numpy_helper.to_array(a.t)
        else:
            raise NotImplementedError("attribute type %d of %s" % (a.type, node.op_type))
    return out


# TensorProto data types used by Cast (the ones the exporter writes for shapes and masks)
_ONNX_DTYPES = {1: torch.float32, 6: torch.int32, 7: torch.int64, 9: torch.bool, 11: torch.float64}


def _sym_pads(pads, op):
    n = len(pads) // 2
    begin, end = pads[:n], pads[n:]
    if begin != end:
        raise NotImplementedError("asymmetric pads in " + op)
    return begin


def run(model, x):
    """Evaluate `model` (onnx.ModelProto, one input, one output) on torch tensor x."""
    outs = run_all(model, x)
    assert len(outs) == 1, len(outs)
    return outs[0]


def run_all(model, x):
    """Evaluate `model` (onnx.ModelProto) on torch tensor x (its one input), or on a dict of
    tensors by input name (several inputs); returns the list of its
    outputs in graph-output order."""
    g = model.graph
    env = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in g.initializer}
    inits = set(env)
    real_inputs = [i.name for i in g.input if i.name not in inits]
    if isinstance(x, dict):
        assert sorted(real_inputs) == sorted(x), (real_inputs, sorted(x))
        env.update(x)
    else:
        assert len(real_inputs) == 1, real_inputs
        env[real_inputs[0]] = x
    for node in g.node:
        a = _attrs(node)
        ins = [env[n] if n else None for n in node.input]
        op = node.op_type
        if op == "Constant":
            y = torch.from_numpy(np.array(a["value"]).copy())
        elif op == "Pad":
            if a.get("mode", b"constant") not in (b"constant", "constant") or (len(ins) > 3 and ins[3] is not None):
                raise NotImplementedError("Pad mode or axes")
            pads = ins[1].tolist()
            n = len(pads) // 2
            value = ins[2].item() if len(ins) > 2 and ins[2] is not None else 0.0
            flat = []                                       # F.pad lists the last axis first
            for ax in reversed(range(n)):
                flat += [pads[ax], pads[ax + n]]
            y = F.pad(ins[0], flat, value=value)
        elif op == "Mod":
            y = torch.fmod(ins[0], ins[1]) if a.get("fmod", 0) else torch.remainder(ins[0], ins[1])
        elif op == "Range":
            y = torch.arange(ins[0].item(), ins[1].item(), ins[2].item(), dtype=ins[0].dtype)
        elif op == "Not":
            y = torch.logical_not(ins[0])
        elif op == "ScatterND":
            y = ins[0].clone()
            k = ins[1].shape[-1]
            index = ins[1].reshape(-1, k).tolist()
            updates = ins[2].reshape((len(index),) + tuple(ins[0].shape[k:]))
            for row, u in zip(index, updates):
                y[tuple(row)] = u
        elif op == "Identity" or op == "Dropout":
            if op == "Dropout" and len(ins) > 1 and ins[1] is not None and ins[1].item() != 0 \
                    and len(ins) > 2 and ins[2] is not None and ins[2].item():
                raise NotImplementedError("Dropout in training mode with a ratio")
            y = ins[0]
        elif op == "Flatten":
            ax = a.get("axis", 1)
            s = ins[0].shape
            y = ins[0].reshape(int(np.prod(s[:ax], dtype=np.int64)), -1)
        elif op == "Reshape":
            shape = [int(v) for v in ins[1].tolist()]
            shape = [ins[0].shape[i] if v == 0 else v for i, v in enumerate(shape)]
            y = ins[0].reshape(shape)
        elif op == "Gemm":
            A, B = ins[0], ins[1]
            if a.get("transA", 0):
                A = A.t()
            if a.get("transB", 0):
                B = B.t()
            y = a.get("alpha", 1.0) * (A @ B)
            if len(ins) > 2 and ins[2] is not None:
                y = y + a.get("beta", 1.0) * ins[2]
        elif op == "MatMul":
            y = ins[0] @ ins[1]
        elif op == "Concat":
            y = torch.cat(ins, dim=a["axis"])
        elif op == "Shape":
            if "start" in a or "end" in a:
                raise NotImplementedError("Shape start/end")
            y = torch.tensor(list(ins[0].shape), dtype=torch.int64)
        elif op == "Gather":
            ax = a.get("axis", 0)
            idx = ins[1].long() % ins[0].shape[ax]           # negative indices count from the end
            y = torch.index_select(ins[0], ax, idx.reshape(-1))
            y = y.reshape(ins[0].shape[:ax] + idx.shape + ins[0].shape[ax + 1:])
        elif op == "Unsqueeze":
            y = ins[0]
            axes = sorted(int(v) for v in ins[1].tolist())   # opset 13: axes is an input
            for ax in axes:
                y = y.unsqueeze(ax if ax >= 0 else ax + y.dim() + 1)
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "Sub":
            y = ins[0] - ins[1]
        elif op == "Mul":
            y = ins[0] * ins[1]
        elif op == "Div":
            if ins[0].dtype.is_floating_point or ins[1].dtype.is_floating_point:
                y = ins[0] / ins[1]
            else:                                           # integer Div truncates (shape math)
                y = torch.div(ins[0], ins[1], rounding_mode="trunc")
        elif op == "Pow":
            y = torch.pow(ins[0], ins[1])
        elif op == "Sqrt":
            y = torch.sqrt(ins[0])
        elif op == "Equal":
            y = ins[0] == ins[1]
        elif op == "Where":
            y = torch.where(ins[0], ins[1], ins[2])
        elif op == "Cast":
            y = ins[0].to(_ONNX_DTYPES[a["to"]])
        elif op == "ConstantOfShape":
            v = torch.from_numpy(np.array(a.get("value", np.zeros(1, np.float32))).copy())
            y = torch.full([int(d) for d in ins[0].tolist()], v.reshape(()).item(), dtype=v.dtype)
        elif op == "Expand":
            shape = [int(d) for d in ins[1].tolist()]             # broadcasts both ways
            y = ins[0].expand(torch.broadcast_shapes(tuple(ins[0].shape), tuple(shape)))
        elif op == "Transpose":
            y = ins[0].permute(*a.get("perm", list(range(ins[0].dim() - 1, -1, -1))))
        elif op == "Squeeze":
            axes = sorted((int(v) % ins[0].dim() for v in ins[1].tolist()), reverse=True) \
                if len(ins) > 1 and ins[1] is not None else None
            y = ins[0].squeeze() if axes is None else ins[0]
            for ax in axes or []:
                y = y.squeeze(ax)
        elif op == "Slice":
            starts, ends = ins[1].tolist(), ins[2].tolist()
            axes = ins[3].tolist() if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
            steps = ins[4].tolist() if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
            y = ins[0]
            for st, en, ax, sp in zip(starts, ends, axes, steps):
                ax %= y.dim()
                n = y.shape[ax]
                if sp > 0:
                    st = min(max(st + n if st < 0 else st, 0), n)
                    en = min(max(en + n if en < 0 else en, 0), n)
                else:                                       # ONNX clamps to [-1, n - 1] going backwards
                    st = min(max(st + n if st < 0 else st, -1), n - 1)
                    en = min(max(en + n if en < 0 else en, -1), n - 1)
                y = torch.index_select(y, ax, torch.arange(st, en, sp, dtype=torch.long))
        elif op == "Split":
            ax = a.get("axis", 0)
            if len(ins) > 1 and ins[1] is not None:
                sizes = [int(v) for v in ins[1].tolist()]      # opset 13: split is an input
            elif "split" in a:
                sizes = a["split"]
            else:
                n = len(node.output)
                sizes = [ins[0].shape[ax] // n] * n
            ys = torch.split(ins[0], sizes, dim=ax)
            for name, t in zip(node.output, ys):
                env[name] = t
            continue
        elif op in ("ReduceMean", "ReduceSum"):
            axes = a.get("axes")
            if axes is None and len(ins) > 1 and ins[1] is not None:   # ReduceSum 13, ReduceMean 18: an input
                axes = [int(v) for v in ins[1].tolist()]
            if axes is None and a.get("noop_with_empty_axes", 0):
                y = ins[0]
            else:
                axes = tuple(range(ins[0].dim())) if axes is None else tuple(axes)
                reduce = torch.mean if op == "ReduceMean" else torch.sum
                y = reduce(ins[0], dim=axes, keepdim=bool(a.get("keepdims", 1)))
        elif op == "Softmax":
            y = torch.softmax(ins[0], dim=a.get("axis", -1))    # opset >= 13: along one axis
        elif op == "LayerNormalization":
            if len(node.output) != 1:
                raise NotImplementedError("LayerNormalization with Mean/InvStdDev outputs")
            ax = a.get("axis", -1) % ins[0].dim()
            dims = tuple(range(ax, ins[0].dim()))
            mu = ins[0].mean(dim=dims, keepdim=True)
            var = ((ins[0] - mu) ** 2).mean(dim=dims, keepdim=True)
            y = (ins[0] - mu) / torch.sqrt(var + a.get("epsilon", 1e-5))
            y = y * ins[1]
            if len(ins) > 2 and ins[2] is not None:
                y = y + ins[2]
        elif op == "Relu":
            y = torch.clamp(ins[0], min=0.0)
        elif op == "Tanh":
            y = torch.tanh(ins[0])
        elif op == "Sigmoid":
            y = torch.sigmoid(ins[0])
        elif op == "Erf":
            y = torch.erf(ins[0])
        elif op == "LeakyRelu":
            alpha = a.get("alpha", 0.01)
            y = torch.where(ins[0] >= 0, ins[0], alpha * ins[0])
        elif op == "Clip":
            y = ins[0]
            if len(ins) > 1 and ins[1] is not None:
                y = torch.maximum(y, ins[1].to(y.dtype))
            if len(ins) > 2 and ins[2] is not None:
                y = torch.minimum(y, ins[2].to(y.dtype))
        elif op == "Conv":
            if a.get("auto_pad", "NOTSET") != "NOTSET":
                raise NotImplementedError("Conv auto_pad")
            k = len(ins[1].shape) - 2
            pads = _sym_pads(a.get("pads", [0] * (2 * k)), op)
            bias = ins[2] if len(ins) > 2 else None
            y = F.conv2d(ins[0], ins[1], bias, stride=a.get("strides", [1] * k),
                         padding=pads, dilation=a.get("dilations", [1] * k),
                         groups=a.get("group", 1))
        elif op in ("MaxPool", "AveragePool"):
            if a.get("auto_pad", "NOTSET") != "NOTSET":
                raise NotImplementedError(op + " auto_pad")
            ks = a["kernel_shape"]
            pads = _sym_pads(a.get("pads", [0] * (2 * len(ks))), op)
            strides = a.get("strides", [1] * len(ks))
            ceil = bool(a.get("ceil_mode", 0))
            if op == "MaxPool":
                y = F.max_pool2d(ins[0], ks, strides, pads, a.get("dilations", [1] * len(ks)),
                                 ceil_mode=ceil)
            else:
                y = F.avg_pool2d(ins[0], ks, strides, pads, ceil_mode=ceil,
                                 count_include_pad=bool(a.get("count_include_pad", 0)))
        elif op == "GlobalAveragePool":
            y = ins[0].mean(dim=tuple(range(2, ins[0].dim())), keepdim=True)
        elif op == "BatchNormalization":
            if len(node.output) != 1 or a.get("training_mode", 0) != 0:
                raise NotImplementedError("BatchNormalization in training mode")
            xx, scale, bias, mean, var = ins
            shp = [1, -1] + [1] * (xx.dim() - 2)
            y = (xx - mean.reshape(shp)) / torch.sqrt(var.reshape(shp) + a.get("epsilon", 1e-5))
            y = y * scale.reshape(shp) + bias.reshape(shp)
        else:
            raise NotImplementedError("op " + op)
        # Dropout's mask (output 1) is read by nothing in an inference export
        assert len(node.output) == 1 or op == "Dropout" and not any(
            node.output[1] in n.input for n in g.node), node
        env[node.output[0]] = y
    return [env[o.name] for o in g.output]
