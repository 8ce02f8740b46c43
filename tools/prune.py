"""Prune the inner channels of a facetrack ResNet-18 model's residual blocks.

Each basic block is conv1 -> batch norm -> ReLU -> conv2 -> batch norm (+ shortcut). The
channels between its two convolutions are internal to the block: removing some of them
changes neither the block's input nor its output shape, and the cost of both
convolutions falls in proportion. This keeps, per block, the channels that carry the
most signal into conv2 on real crops: mean |ReLU output| over the calibration crops
times the summed |weight| conv2 (scaled by its batch norm) gives them.

The output is a float model with the same nodes and names, meant to be fine-tuned:
pruning alone costs accuracy. With `--keep 0.5` on a `resnet18-pip` model it is a
`resnet18-pip-slim` one (half the inner channels of every block), which the trainer's
`--init` reads whole (`train fit --arch resnet18-pip-slim --init pruned.onnx`); with
`--keep 0.5 --stages 3,4` (only the blocks of the two 256-channel stages, layer3 and
layer4) a `resnet18-pip-lean34` one, with `--stages 1,2` a `resnet18-pip-lean12` one and
with `--stages 1` a `resnet18-pip-lean1` one. Other choices run in the tracker but match no trainer
architecture (their contract keeps the source's name and records the share in
`facetrack.pruned_keep` and the stages in `facetrack.pruned_stages`).

    .deps/venv/bin/python tools/prune.py models/facetrack68-fp32.onnx /tmp/calib.npy pruned.onnx --keep 0.5
    .deps/venv/bin/python tools/prune.py models/facetrack68-fp32.onnx /tmp/calib.npy lean.onnx --keep 0.5 --stages 3,4

Needs the `onnx` and `onnxruntime` wheels (./setup.sh puts both in .deps/venv).
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper


def blocks(graph):
    """(conv1, bn1, relu, conv2, bn2) node tuples of each residual block, in order."""
    consumers = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def only(value, op):
        c = consumers.get(value, [])
        return c[0] if len(c) == 1 and c[0].op_type == op else None

    found = []
    for conv1 in graph.node:
        if conv1.op_type != "Conv":
            continue
        bn1 = only(conv1.output[0], "BatchNormalization")
        relu = bn1 and only(bn1.output[0], "Relu")
        conv2 = relu and only(relu.output[0], "Conv")
        bn2 = conv2 and only(conv2.output[0], "BatchNormalization")
        add = bn2 and only(bn2.output[0], "Add")
        if add is None:
            continue
        found.append((conv1, bn1, relu, conv2, bn2))
    return found


def mean_activations(model, relus, crops):
    """Mean |output| per channel of each ReLU in `relus` over the crops."""
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    for r in relus:
        m.graph.output.append(helper.make_tensor_value_info(r.output[0], onnx.TensorProto.FLOAT, None))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "probe.onnx")
        onnx.save(m, path)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        names = [r.output[0] for r in relus]
        sums = [0.0] * len(relus)
        for i in range(0, len(crops), 32):
            outs = sess.run(names, {model.graph.input[0].name: crops[i:i + 32].astype(np.float32)})
            for k, o in enumerate(outs):
                sums[k] = sums[k] + np.abs(o).mean(axis=(2, 3)).sum(axis=0)
    return [s / len(crops) for s in sums]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="float ONNX model (models/facetrack68-fp32.onnx)")
    ap.add_argument("crops", help=".npy [N,1,H,W] from examples/calibration_crops.rs")
    ap.add_argument("out")
    ap.add_argument("--keep", type=float, default=0.5,
                    help="share of each block's inner channels kept (default 0.5)")
    ap.add_argument("--stages", default="1,2,3,4",
                    help="the ResNet stages (1-4, two blocks each) whose blocks are pruned "
                         "(default: all)")
    ap.add_argument("--crops-used", type=int, default=300, help="calibration crops read (default 300)")
    a = ap.parse_args()
    if not 0.0 < a.keep <= 1.0:
        sys.exit("--keep must be in (0, 1]")
    try:
        stages = sorted({int(v) for v in a.stages.split(",") if v.strip()})
    except ValueError:
        stages = []
    if not stages or not set(stages) <= {1, 2, 3, 4}:
        sys.exit(f"--stages {a.stages!r}: a comma-separated list of stages 1 to 4")
    if os.path.abspath(a.out) in (os.path.abspath(a.model), os.path.abspath(a.crops)):
        sys.exit("the output must be a new file, not one of the inputs")

    model = onnx.load(a.model)
    g = model.graph
    if any(n.op_type == "DequantizeLinear" for n in g.node):
        sys.exit(f"{a.model} is quantized; prune its float original")
    found = blocks(g)
    if not found:
        sys.exit(f"{a.model}: no residual blocks found")
    if len(found) != 8:
        sys.exit(f"{a.model}: {len(found)} residual blocks, not ResNet-18's 8 (two a stage)")
    # the blocks in graph order, two a stage
    found = [b for i, b in enumerate(found) if i // 2 + 1 in stages]
    crops = np.load(a.crops)[: a.crops_used]
    if crops.ndim != 4 or len(crops) == 0:
        sys.exit(f"{a.crops}: expected calibration crops [N, 1, H, W], N > 0; got shape {crops.shape}")
    acts = mean_activations(model, [b[2] for b in found], crops)

    inits = {t.name: t for t in g.initializer}

    def arr(name):
        return numpy_helper.to_array(inits[name])

    def put(name, value):
        inits[name].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(value), name))

    halves = True
    for (conv1, bn1, _relu, conv2, bn2), act in zip(found, acts):
        w1, w2 = arr(conv1.input[1]), arr(conv2.input[1])
        eps = next((x.f for x in bn2.attribute if x.name == "epsilon"), 1e-5)
        s2 = np.abs(arr(bn2.input[1])) / np.sqrt(arr(bn2.input[4]) + eps)
        weight = (np.abs(w2).sum(axis=(2, 3)) * s2[:, None]).sum(axis=0)
        score = act * weight
        n = w1.shape[0]
        k = max(1, int(round(n * a.keep)))
        halves &= 2 * k == n
        keep = np.sort(np.argsort(-score)[:k])
        put(conv1.input[1], w1[keep])
        if len(conv1.input) > 2 and conv1.input[2]:
            put(conv1.input[2], arr(conv1.input[2])[keep])
        for name in bn1.input[1:5]:
            put(name, arr(name)[keep])
        put(conv2.input[1], w2[:, keep])
        print(f"{conv1.name}: {n} -> {k} channels, signal kept {score[keep].sum() / score.sum():.1%}")

    # shapes of the inner values changed: drop the stale ones and infer again
    del g.value_info[:]
    meta = {p.key: p.value for p in model.metadata_props}
    meta["facetrack.pruned_keep"] = f"{a.keep:g}"
    if stages != [1, 2, 3, 4]:
        meta["facetrack.pruned_stages"] = ",".join(map(str, stages))
    named = {(1, 2, 3, 4): "resnet18-pip-slim", (3, 4): "resnet18-pip-lean34",
             (1, 2): "resnet18-pip-lean12", (1,): "resnet18-pip-lean1"}.get(tuple(stages))
    if halves and named and meta.get("facetrack.architecture") == "resnet18-pip":
        meta["facetrack.architecture"] = named
    else:
        print(f"note: architecture stays {meta.get('facetrack.architecture', 'unnamed')!r}: "
              "only --keep 0.5 of a resnet18-pip model, of every stage (resnet18-pip-slim) "
              "or of stages 3,4, 1,2 or 1 (resnet18-pip-lean34, -lean12, -lean1), is one of the trainer's "
              "architectures")
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    tmp = a.out + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
