#!/usr/bin/env python3
"""Rewrite an INT8 (QDQ) facetrack model's weights from 8 to 7 bits, for models whose
float weights are gone (tools/quantize.py does this itself from a float model).

    tools/reduce_range.py IN.onnx OUT.onnx

Why: on x86 CPUs without VNNI (AVX2 only: AMD Zen 1-3, Intel before Cascade Lake),
ONNX Runtime's u8 x s8 convolution adds each pair of products in 16 bits
(VPMADDUBSW), which saturates when weights use the whole int8 range. The model then
loses accuracy on those CPUs only (measured on an AMD EPYC, AVX2: the old default scored
3.83 % on the validation faces against 3.66 % on a VNNI CPU). Weights within [-64, 64]
cannot saturate (2 x 255 x 64 < 32767), and the results are the same on every CPU.

Each int8 weight initializer behind a DequantizeLinear (per output channel, zero point
0) is mapped as ONNX Runtime's `reduce_range` quantizer maps it: channel c with largest
|q| = m gets q' = round(q * 64 / m) and scale' = scale * m / 64. The int32 bias of the
same convolution, whose scale is the input's scale times the weight's, follows with the
same factor. The int8 weights of an output layer with a float output
(MatMulIntegerToFloat, tools/int8_head.py: one scale per output column) are mapped the
same way. Metadata (the model contract) is kept. Reads IN only; OUT is written whole
(tools/safe_write.py).
"""
import argparse
import sys

import numpy as np
import onnx
from onnx import numpy_helper as nh

from safe_write import load_model_apart, write_whole

QMAX = 64  # onnxruntime.quantization's reduce_range bound for symmetric int8


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("out")
    a = ap.parse_args()
    m = load_model_apart(a.model, a.out)
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    uses = {}
    for n in g.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    producer = {o: n for n in g.node for o in n.output}

    def dq_of(name):
        n = producer.get(name)
        return n if n is not None and n.op_type == "DequantizeLinear" and n.input[0] in inits else None

    def replace(name, array):
        if uses.get(name, 0) != 1:
            sys.exit(f"{a.model}: initializer {name} is shared; cannot rewrite it alone")
        inits[name].CopyFrom(nh.from_array(array, name))

    done = 0
    for mm in g.node:
        # tools/int8_head.py's output layer: int8 weights [in, out] held directly, one
        # scale per output column (input 3), no bias rescaling (the bias is float)
        if mm.op_type != "MatMulIntegerToFloat" or mm.input[1] not in inits:
            continue
        q = nh.to_array(inits[mm.input[1]])
        if q.dtype != np.int8 or q.ndim != 2:
            continue
        if mm.input[3] not in inits:
            sys.exit(f"{a.model}: weight {mm.input[1]}'s scale is not a constant: cannot rewrite it")
        if len(mm.input) > 5 and mm.input[5] and (
                mm.input[5] not in inits or np.any(nh.to_array(inits[mm.input[5]]) != 0)):
            sys.exit(f"{a.model}: weight {mm.input[1]} has a non-zero zero point (not symmetric)")
        scale = nh.to_array(inits[mm.input[3]]).astype(np.float32)
        m_c = np.abs(q.astype(np.int32)).max(axis=0)
        if np.all(m_c <= QMAX):
            continue
        f = np.where(m_c > 0, QMAX / np.maximum(m_c, 1), 1.0)
        q7 = np.clip(np.round(q.astype(np.float64) * f[None, :]), -QMAX, QMAX).astype(np.int8)
        replace(mm.input[1], q7)
        replace(mm.input[3], (scale / f).astype(np.float32))
        done += 1
    for conv in g.node:
        if conv.op_type not in ("Conv", "Gemm", "MatMul") or len(conv.input) < 2:
            continue
        wdq = dq_of(conv.input[1])
        if wdq is None:
            continue
        q = nh.to_array(inits[wdq.input[0]])
        if q.dtype != np.int8:
            continue
        scale = nh.to_array(inits[wdq.input[1]]).astype(np.float32)
        if len(wdq.input) > 2 and np.any(nh.to_array(inits[wdq.input[2]]) != 0):
            sys.exit(f"{a.model}: weight {wdq.input[0]} has a non-zero zero point (not symmetric)")
        axis = next((at.i for at in wdq.attribute if at.name == "axis"), 1)
        if scale.ndim == 0:
            m_c = np.array(np.abs(q.astype(np.int32)).max())
        else:
            if axis != 0:
                sys.exit(f"{a.model}: weight {wdq.input[0]} is quantized along axis {axis}, not 0")
            m_c = np.abs(q.astype(np.int32)).reshape(q.shape[0], -1).max(axis=1)
        if np.all(m_c <= QMAX):
            continue
        f = np.where(m_c > 0, QMAX / np.maximum(m_c, 1), 1.0)  # new q per old q
        shape = (-1,) + (1,) * (q.ndim - 1) if scale.ndim else ()
        q7 = np.clip(np.round(q.astype(np.float64) * f.reshape(shape)), -QMAX, QMAX).astype(np.int8)
        replace(wdq.input[0], q7)
        replace(wdq.input[1], (scale / f).astype(np.float32))
        if len(conv.input) > 2 and conv.input[2]:
            bdq = dq_of(conv.input[2])
            if bdq is not None:
                b = nh.to_array(inits[bdq.input[0]])
                bs = nh.to_array(inits[bdq.input[1]]).astype(np.float32)
                replace(bdq.input[0], np.round(b.astype(np.float64) * f).astype(b.dtype))
                replace(bdq.input[1], (bs / f).astype(np.float32))
        done += 1
    if not done:
        sys.exit(f"{a.model}: no int8 weight over 7 bits: nothing to rewrite")
    write_whole(a.out, lambda tmp: onnx.save(m, tmp))
    print(f"{a.out}: {done} weight tensors rewritten to [-{QMAX}, {QMAX}]")


if __name__ == "__main__":
    main()
