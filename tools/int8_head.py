#!/usr/bin/env python3
"""Give an INT8 (QDQ) facetrack model's float output layer 8-bit weights while its output
stays float: each float 1x1 convolution that reads an 8-bit activation becomes ONNX
Runtime's MatMulIntegerToFloat (integer products summed in 32 bits, scaled to float once).

    tools/int8_head.py IN.onnx OUT.onnx [--full-range]

Why: tools/quantize.py keeps the output layer float, since an 8-bit *output* would round
the sub-cell offsets the maps carry (a visible jitter). Its input is already 8-bit and
its output need not be: with integer weights and a float output only the weights are
rounded, once, as in every other layer, and the layer runs on the CPU's integer kernels
(on the default model the head was about a tenth of the model's time in float; measured
with bench/model_time.py, see models/MODEL_CARD.md). tools/quantize.py calls this itself
unless given --float-head; this script rewrites a model that was quantized without it.

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

from safe_write import write_whole

DOMAIN = "com.microsoft"


def rewrite(model, qmax=64, only=None):
    """Rewrite `model` (an onnx.ModelProto, in place): every float 1x1 convolution that
    reads an 8-bit activation, or of those only the ones named in `only`. Returns the
    names of the convolutions rewritten."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}

    def attr(node, name, default):
        a = next((a for a in node.attribute if a.name == name), None)
        return helper.get_attribute_value(a) if a is not None else default

    def candidate(n):
        if only is not None and n.name not in only:
            return None
        if n.op_type != "Conv" or len(n.input) < 2 or n.input[1] not in inits:
            return None
        w = nh.to_array(inits[n.input[1]])
        if w.dtype != np.float32 or w.ndim != 4 or w.shape[2:] != (1, 1):
            return None
        if attr(n, "group", 1) != 1 or any(s != 1 for s in attr(n, "strides", [1, 1])):
            return None
        if any(p != 0 for p in attr(n, "pads", [0, 0, 0, 0])):
            return None
        dq = producer.get(n.input[0])
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[1] not in inits:
            return None
        if nh.to_array(inits[dq.input[1]]).ndim != 0:
            return None  # MatMulIntegerToFloat takes one scale for its input
        return dq, w

    nodes, done = [], []
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
        bias = (nh.to_array(inits[n.input[2]]).astype(np.float32)
                if len(n.input) > 2 and n.input[2] else np.zeros(co, np.float32))
        p = n.name or n.output[0]
        g.initializer.extend([
            nh.from_array(np.ascontiguousarray(q.T), p + "_wq"),        # [ci, co]
            nh.from_array(scale.astype(np.float32), p + "_wscale"),     # per output channel
            nh.from_array(bias, p + "_bias"),
        ])
        a_zp = dq.input[2] if len(dq.input) > 2 else ""
        nodes += [
            helper.make_node("Transpose", [dq.input[0]], [p + "_nhwc"], perm=[0, 2, 3, 1],
                             name=p + "_in"),
            helper.make_node("MatMulIntegerToFloat",
                             [p + "_nhwc", p + "_wq", dq.input[1], p + "_wscale", a_zp, "",
                              p + "_bias"],
                             [p + "_out_nhwc"], domain=DOMAIN, name=p + "_int8"),
            helper.make_node("Transpose", [p + "_out_nhwc"], [n.output[0]], perm=[0, 3, 1, 2],
                             name=p + "_out"),
        ]
        done.append(n.name)
    if not done:
        return done
    del g.node[:]
    g.node.extend(nodes)
    # the float weights (and a DequantizeLinear that fed only them) are no longer read
    while True:
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        dead = [n for n in g.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    used = {i for n in g.node for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
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
    a = ap.parse_args()
    if os.path.abspath(a.out) == os.path.abspath(a.model):
        sys.exit("the output must not be the input model")
    try:
        m = onnx.load(a.model)
    except Exception as e:  # onnx raises several kinds for a file that is not a model
        sys.exit(f"{a.model}: not an ONNX model ({e})")
    done = rewrite(m, 127 if a.full_range else 64)
    if not done:
        sys.exit(f"{a.model}: no float 1x1 convolution reads an 8-bit activation: nothing to rewrite")
    onnx.checker.check_model(m)
    write_whole(a.out, lambda tmp: onnx.save(m, tmp))
    print(f"{a.out}: {', '.join(done)} rewritten with 8-bit weights and a float output, "
          f"{os.path.getsize(a.out) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
