#!/usr/bin/env python3
"""Rewrite a facetrack model's first convolution (one input channel, a k x k kernel at
stride 2, "same" padding: the ResNet stem's 7 x 7) as a stride-1 convolution over the
image's 2 x 2 blocks: ONNX's SpaceToDepth (block 2) turns the [N, 1, H, W] image into
[N, 4, H/2, W/2], and the kernel becomes ceil((k + 1) / 2) x ceil((k + 1) / 2) over 4
channels (4 x 4 for k = 7), each old weight moved to the block row, column and channel it
reads, the new taps zero.

    tools/s2d_stem.py IN.onnx OUT.onnx

The same function: every output sums the same products (in an 8-bit model the same
integer weights, per-channel scales and zero padding, so ONNX Runtime gives the same
values bit for bit; in a float model the sums' order changes, so they agree to rounding).
What it buys is speed: ONNX Runtime's 8-bit convolution over one input channel runs far
below its speed over several (on the shipped model the 7 x 7 stem was 9 % of the model's
time for 2 % of its multiply-adds). The model's input, output and contract are unchanged,
so nothing that runs the model needs to know. tools/quantize.py runs this on every model
it writes unless given --plain-stem.

Works on a float model (the Conv reads the image) and on a QDQ 8-bit one (image ->
QuantizeLinear -> DequantizeLinear -> Conv, the weights a DequantizeLinear of an int8 or
uint8 initializer with its zero points). A model whose first layer is already rewritten,
or is not such a convolution, is refused with the reason. Metadata is kept. Reads IN only;
OUT is written whole (tools/safe_write.py).
"""
import os
import sys

import numpy as np
from onnx import helper
from onnx import numpy_helper as nh

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # beside tools/safe_write.py, also when imported from elsewhere
    sys.path.append(HERE)
from safe_write import rewrite_main  # noqa: E402

BLOCK = 2


class NotAStem(Exception):
    """The model's first layer is not a convolution this rewrite applies to."""


def attr(node, name, default):
    a = next((a for a in node.attribute if a.name == name), None)
    return helper.get_attribute_value(a) if a is not None else default


def taps(k, pad):
    """For a stride-2 kernel of `k` taps with `pad` before: the new kernel's size, the
    padding before and after on the half-size grid, and for each old tap r its new tap u
    and its place d (0 or 1) in a block: old offset r - pad = 2 (u - before) + d."""
    lo, hi = -pad, k - 1 - pad
    first, last = lo // BLOCK, hi // BLOCK
    where = [((r - pad) // BLOCK - first, (r - pad) % BLOCK) for r in range(k)]
    return last - first + 1, -first, last, where


def rearrange(w, fill):
    """[O, 1, k, k] weights as [O, 4, K, K] (the new taps `fill`: per output channel, a
    weight's zero point), and the new kernel's size and pads."""
    o, c, kh, kw = w.shape
    size_h, top, bottom, rows = taps(kh, (kh - 1) // 2)
    size_w, left, right, cols = taps(kw, (kw - 1) // 2)
    out = np.empty((o, BLOCK * BLOCK, size_h, size_w), w.dtype)
    out[...] = np.asarray(fill, w.dtype).reshape(-1, 1, 1, 1)
    for r, (u, dy) in enumerate(rows):
        for s, (v, dx) in enumerate(cols):
            out[:, dy * BLOCK + dx, u, v] = w[:, 0, r, s]
    return out, [size_h, size_w], [top, left, bottom, right]


def rewrite(model):
    """Rewrite `model` (an onnx.ModelProto, in place). Returns the convolution's name;
    raises NotAStem with the reason when the model's first layer does not qualify."""
    g = model.graph
    if len(g.input) != 1:
        raise NotAStem(f"{len(g.input)} graph inputs (one image expected)")
    image = g.input[0]
    dims = [d.dim_value if d.HasField("dim_value") else None for d in image.type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[1] != 1 or any(d is None or d % BLOCK for d in dims[2:]):
        raise NotAStem(f"input {image.name} is {dims}, not [N, 1, H, W] with H and W even")
    inits = {t.name: t for t in g.initializer}
    readers = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)

    def only_reader(name):
        r = readers.get(name, [])
        if len(r) != 1:
            raise NotAStem(f"{name} is read by {len(r)} nodes (one expected)")
        return r[0]

    graph_outputs = {o.name for o in g.output}

    def scalar_init(name):
        """`name` is an initializer of one value (a per-tensor scale or zero point)."""
        return name in inits and nh.to_array(inits[name]).size == 1

    # the chain from the image to the first convolution
    chain, x = [], image.name
    node = only_reader(x)
    if node.op_type == "SpaceToDepth":
        raise NotAStem("its first layer is already a convolution over 2 x 2 blocks")
    if node.op_type == "QuantizeLinear":
        dq = only_reader(node.output[0])
        if dq.op_type != "DequantizeLinear":
            raise NotAStem(f"the image's QuantizeLinear feeds a {dq.op_type}")
        # moving pixels commutes with one scale and zero point for the whole image
        if not all(len(q.input) > 2 and scalar_init(q.input[1]) and scalar_init(q.input[2])
                   for q in (node, dq)):
            raise NotAStem("the image is not quantized per tensor (one scale and zero point)")
        chain = [node.output[0], dq.output[0]]
        node = only_reader(dq.output[0])
    if graph_outputs & (set(chain) | {image.name}):
        raise NotAStem("the image or its quantized copy is also a graph output")
    conv = node
    if conv.op_type != "Conv" or conv.input[0] != (chain[-1] if chain else image.name):
        raise NotAStem(f"the image feeds a {conv.op_type}, not a convolution")
    # the weights: a float initializer, or a DequantizeLinear of an 8-bit one
    wname = conv.input[1]
    producer = {o: n for n in g.node for o in n.output}
    shared = f"{conv.name}'s weights are shared with other nodes or are a graph output"
    stale = set(chain) | {wname}
    if wname in inits:
        if len(readers[wname]) != 1 or wname in graph_outputs:
            raise NotAStem(shared)
        w_init, fill = inits[wname], 0
    elif wname in producer and producer[wname].op_type == "DequantizeLinear" \
            and producer[wname].input[0] in inits:
        wdq = producer[wname]
        if len(readers[wname]) != 1 or len(readers[wdq.input[0]]) != 1 \
                or {wname, wdq.input[0]} & graph_outputs:
            raise NotAStem(shared)
        if attr(wdq, "block_size", 0):
            raise NotAStem(f"{conv.name}'s weights are quantized in blocks")
        w_init = inits[wdq.input[0]]
        outs = nh.to_array(w_init).shape[0]
        scale = inits.get(wdq.input[1])
        if scale is None or nh.to_array(scale).size not in (1, outs):
            raise NotAStem(f"{conv.name}'s weight scale is not a constant per tensor or per output channel")
        fill = 0
        if len(wdq.input) > 2 and wdq.input[2]:
            if wdq.input[2] not in inits:  # a zero point made at run time: unknown here
                raise NotAStem(f"{conv.name}'s weight zero point is not a constant")
            fill = nh.to_array(inits[wdq.input[2]]).astype(np.int64).ravel()
            if fill.size not in (1, outs):
                raise NotAStem(f"{conv.name}'s weight zero points are not one or one per output channel")
        if (nh.to_array(scale).size > 1 or np.size(fill) > 1) and attr(wdq, "axis", 1) != 0:
            raise NotAStem(f"{conv.name}'s weights are not quantized per output channel")
        stale.add(wdq.input[0])
    else:
        raise NotAStem(f"{conv.name}'s weights are not an initializer")
    w = nh.to_array(w_init)
    if w.ndim != 4 or w.shape[1] != 1:
        raise NotAStem(f"{conv.name}'s weights are {list(w.shape)}, not [O, 1, k, k]")
    kh, kw = attr(conv, "kernel_shape", list(w.shape[2:]))
    pads = list(attr(conv, "pads", [0, 0, 0, 0]))
    ok = (attr(conv, "group", 1) == 1 and list(attr(conv, "strides", [1, 1])) == [BLOCK, BLOCK]
          and list(attr(conv, "dilations", [1, 1])) == [1, 1]
          and attr(conv, "auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
          and [kh, kw] == list(w.shape[2:])
          and kh % 2 == 1 and kw % 2 == 1 and kh > 1 and kw > 1
          and pads == [(kh - 1) // 2, (kw - 1) // 2] * 2)
    if not ok:
        raise NotAStem(f"{conv.name}: not an odd k x k convolution at stride 2 with same padding")
    w2, kernel, new_pads = rearrange(w, fill)
    w_init.CopyFrom(nh.from_array(w2, w_init.name))
    for name, value in (("kernel_shape", kernel), ("strides", [1, 1]), ("pads", new_pads)):
        old = [a for a in conv.attribute if a.name == name]
        for a in old:
            conv.attribute.remove(a)
        conv.attribute.append(helper.make_attribute(name, value))
    # the blocks, made from the float image (the per-tensor quantization, if any, commutes);
    # the node is named after the convolution's layer (n1_...), so that per-layer profiles
    # (tools/model_stages.py) count it with the stem
    taken = {o for n in g.node for o in n.output} | set(inits) | {n.name for n in g.node}

    def fresh(name):
        while name in taken:
            name += "_"
        taken.add(name)
        return name

    blocks = fresh(image.name + "_blocks")
    first = readers[image.name][0]
    first.input[list(first.input).index(image.name)] = blocks
    s2d = helper.make_node("SpaceToDepth", [image.name], [blocks], blocksize=BLOCK,
                           name=fresh(conv.name.split("_")[0] + "_SpaceToDepth"))
    nodes = list(g.node)
    nodes.insert(nodes.index(first), s2d)
    del g.node[:]
    g.node.extend(nodes)
    # shapes recorded for the old chain and weights no longer hold
    keep = [v for v in g.value_info if v.name not in stale]
    del g.value_info[:]
    g.value_info.extend(keep)
    return conv.name


if __name__ == "__main__":
    rewrite_main(__doc__, lambda m: f"{rewrite(m)} rewritten as a stride-1 convolution over 2 x 2 blocks",
                 NotAStem)
