#!/usr/bin/env python3
"""Give an INT8 (QDQ) facetrack model's float output layer int8 weights (7 bits) while its
output stays float: the float 1x1 convolution that makes the maps, reading an 8-bit
activation, becomes ONNX Runtime's MatMulIntegerToFloat (integer products summed in 32
bits, scaled to float once).

    tools/int8_head.py IN.onnx OUT.onnx [--full-range] [--nodes NODE ...]

Why: an 8-bit *output* would round the sub-cell offsets the maps carry (a visible
jitter), so tools/quantize.py used to leave the whole output layer float. Its input is
already 8-bit and its output need not be: with integer weights and a float output only
the weights are rounded, once, as in every other layer, and the layer runs on the CPU's
integer kernels (on the default model the float head was 11-13 % of the model's time;
models/MODEL_CARD.md, "What each stage costs"). tools/quantize.py calls this itself unless
given --float-head; this script rewrites a model that was quantized without it.

Which convolutions: the layers that make the graph's outputs (followed back through an
ensemble's averaging, as tools/quantize.py keeps them float), or those named by --nodes;
each must be a float 1x1 convolution (stride 1, no padding, one group) whose input comes
from a DequantizeLinear of a uint8 or int8 tensor with one float32 scale.

Weights are symmetric per output channel, within [-64, 64] (7 bits, as tools/quantize.py
and tools/reduce_range.py keep every weight: wider weights overflow ONNX Runtime's 16-bit
pair sums on CPUs without VNNI), or [-127, 127] with --full-range. The layout stays NCHW
(a transpose on each side of the product). Metadata (the model contract) is kept. Reads
IN only; OUT is written whole (tools/safe_write.py).
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import helper
from onnx import numpy_helper as nh

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # beside tools/safe_write.py, also when imported from elsewhere
    sys.path.append(HERE)
from safe_write import load_model_apart, write_whole  # noqa: E402

DOMAIN = "com.microsoft"
EIGHT_BIT = (np.uint8, np.int8)


def output_layers(nodes, outputs):
    """The nodes that make the graph's outputs, followed back through element-wise
    averaging (an ensemble from tools/ensemble.py ends in Add/Mul nodes over its members'
    output layers) and through reorders (the Transpose to channels-last maps that
    tools/channels_last.py adds): tools/quantize.py keeps those nodes and the layers that
    feed them float, and this script gives those layers int8 weights."""
    producer = {o: n for n in nodes for o in n.output}
    keep, todo = [], list(outputs)
    while todo:
        n = producer.get(todo.pop())
        if n is None or n.name in keep:
            continue
        keep.append(n.name)
        if n.op_type in ("Add", "Mul", "Sum", "Mean", "Div"):
            todo.extend(i for i in n.input if i in producer)
        elif n.op_type == "Transpose":  # the layer before a reorder makes the maps
            todo.extend(i for i in n.input[:1] if i in producer)
    return keep


def rewrite(model, qmax=64, only=None):
    """Rewrite `model` (an onnx.ModelProto, in place): the float 1x1 convolutions named in
    `only` (by default the output layers, `output_layers`) that read an 8-bit activation.
    Returns the names of the convolutions rewritten."""
    g = model.graph
    if only is None:
        only = set(output_layers(g.node, [o.name for o in g.output]))
    inits = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    taken = set(inits) | {o for n in g.node for o in n.output} | {n.name for n in g.node} \
        | {v.name for v in g.input} | {v.name for v in g.output}

    def fresh(name):
        out, k = name, 1
        while out in taken:
            out, k = f"{name}_{k}", k + 1
        taken.add(out)
        return out

    def attr(node, name, default):
        a = next((a for a in node.attribute if a.name == name), None)
        return helper.get_attribute_value(a) if a is not None else default

    def init(name):
        return nh.to_array(inits[name]) if name in inits else None

    def candidate(n):
        if n.name not in only or n.op_type != "Conv" or len(n.input) < 2:
            return None
        w = init(n.input[1])
        if w is None or w.dtype != np.float32 or w.ndim != 4 or w.shape[2:] != (1, 1):
            return None
        if len(n.input) > 2 and n.input[2] and init(n.input[2]) is None:
            return None  # a bias made at run time
        if attr(n, "group", 1) != 1 or any(s != 1 for s in attr(n, "strides", [1, 1])):
            return None
        if any(p != 0 for p in attr(n, "pads", [0, 0, 0, 0])) or \
                attr(n, "auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID"):
            return None
        dq = producer.get(n.input[0])
        if dq is None or dq.op_type != "DequantizeLinear" or len(dq.input) < 3:
            return None
        scale, zp = init(dq.input[1]), init(dq.input[2])
        if scale is None or scale.dtype != np.float32 or scale.size != 1:
            return None  # MatMulIntegerToFloat takes one float scale for its input
        if zp is None or zp.dtype not in EIGHT_BIT or zp.size != 1:
            return None  # the input must be 8-bit (the zero point's type is the input's)
        return dq, w

    nodes, done, orphaned = [], [], set()
    for n in g.node:
        c = candidate(n)
        if c is None:
            nodes.append(n)
            continue
        dq, w = c
        co, ci = w.shape[:2]
        w = w.reshape(co, ci).astype(np.float64)
        m = np.abs(w).max(axis=1)
        scale = np.where(m > 0, m / qmax, 1.0)
        q = np.clip(np.round(w / scale[:, None]), -qmax, qmax).astype(np.int8)
        has_bias = len(n.input) > 2 and n.input[2]
        bias = init(n.input[2]).astype(np.float32) if has_bias else np.zeros(co, np.float32)
        p = n.name or n.output[0]
        wq, ws, b = fresh(p + "_wq"), fresh(p + "_wscale"), fresh(p + "_bias")
        nhwc, out_nhwc = fresh(p + "_nhwc"), fresh(p + "_out_nhwc")
        g.initializer.extend([
            nh.from_array(np.ascontiguousarray(q.T), wq),                # [ci, co]
            nh.from_array(scale.astype(np.float32), ws),                 # per output channel
            nh.from_array(bias, b),
        ])
        nodes += [
            helper.make_node("Transpose", [dq.input[0]], [nhwc], perm=[0, 2, 3, 1],
                             name=fresh(p + "_in")),
            helper.make_node("MatMulIntegerToFloat",
                             [nhwc, wq, dq.input[1], ws, dq.input[2], "", b],
                             [out_nhwc], domain=DOMAIN, name=fresh(p + "_int8")),
            helper.make_node("Transpose", [out_nhwc], [n.output[0]], perm=[0, 3, 1, 2],
                             name=fresh(p + "_out")),
        ]
        done.append(n.name)
        orphaned |= {dq.name, n.input[1]} | ({n.input[2]} if has_bias else set())
    if not done:
        return done
    del g.node[:]
    g.node.extend(nodes)
    # what the rewrite left unread: the float weights and biases, and a DequantizeLinear
    # that fed only the rewritten layers (with any of its parameters nothing else reads);
    # nothing else is touched, and graph inputs and outputs count as read
    graph_io = {v.name for v in g.input} | {v.name for v in g.output}

    def read():
        return {i for n in g.node for i in n.input} | graph_io

    for n in [n for n in g.node if n.name in orphaned and n.op_type == "DequantizeLinear"]:
        if not any(o in read() for o in n.output):
            g.node.remove(n)
            orphaned |= set(n.input)
    left = read()
    drop = {t.name for t in g.initializer if t.name in orphaned and t.name not in left}
    keep = [t for t in g.initializer if t.name not in drop]
    del g.initializer[:]
    g.initializer.extend(keep)
    if not any(o.domain == DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    return done


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--full-range", action="store_true",
                    help="weights in [-127, 127] (by default [-64, 64], as every other layer)")
    ap.add_argument("--nodes", nargs="+", metavar="NODE",
                    help="the convolutions to rewrite (by default the output layers)")
    a = ap.parse_args()
    m = load_model_apart(a.model, a.out)
    done = rewrite(m, 127 if a.full_range else 64, set(a.nodes) if a.nodes else None)
    if not done:
        sys.exit(f"{a.model}: no float 1x1 convolution that reads an 8-bit activation among "
                 f"{'the named nodes' if a.nodes else 'the output layers'}: nothing to rewrite")
    if a.nodes and set(a.nodes) - set(done):
        sys.exit(f"{a.model}: not a float 1x1 convolution reading an 8-bit activation: "
                 f"{', '.join(sorted(set(a.nodes) - set(done)))}")
    onnx.checker.check_model(m)
    write_whole(a.out, lambda tmp: onnx.save(m, tmp))
    print(f"{a.out}: {', '.join(done)} rewritten with int8 weights and a float output, "
          f"{os.path.getsize(a.out) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
