#!/usr/bin/env python3
"""Give a facetrack heat-map model its input and its maps channels last, the layout ONNX
Runtime's 8-bit CPU kernels compute in, so that it reorders neither (contract version 3).

    tools/channels_last.py IN.onnx OUT.onnx

- **The maps** (`pip_maps`) come out as `[N, grid_h, grid_w, channels]` instead of `[N,
  channels, grid_h, grid_w]` (`facetrack.maps_layout = nhwc`): where the maps are made by a
  `Transpose` back from channels last (the 8-bit output layer of tools/int8_head.py), that
  `Transpose` is removed; otherwise one to channels last is added at the end (no faster,
  the same values).
- **The input**, where the model's first layer runs over the image's 2 x 2 blocks
  (tools/s2d_stem.py: the image feeds one `SpaceToDepth` of block 2), is taken as those
  blocks, channels last: `image` becomes `[N, H/2, W/2, 4]` (`facetrack.input_layout =
  blocks2_nhwc`), and a `Transpose` to `[N, 4, H/2, W/2]` replaces the `SpaceToDepth`; ONNX
  Runtime cancels it against its own reorder to channels last. The tracker writes its crops
  in that order (`facetrack::inference::preprocess::to_blocks2`). A model without such a
  first layer keeps its planar input.

Each half is done once: a model whose maps are already channels last (a `--plain-stem`
quantization, say, given its 2 x 2-block stem afterwards by tools/s2d_stem.py) gets only
its input moved.

The network computes the same values: the same operators on the same numbers, only fewer
reorders (bit for bit on ONNX Runtime's CPU kernels; a test). A facetrack older than
contract version 3 refuses the rewritten file instead of misreading it.
tools/quantize.py runs this on every model it writes unless given --planar-io. A model
already rewritten, or one without heat-map output, is refused with the reason. Reads IN
only; OUT is written whole (tools/safe_write.py).
"""
import os
import sys

from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # beside tools/safe_write.py, also when imported from elsewhere
    sys.path.append(HERE)
from safe_write import rewrite_main  # noqa: E402

BLOCK = 2
VERSION = "3"


class NotApplicable(Exception):
    """The model cannot be rewritten (the reason)."""


def attr(node, name, default):
    a = next((a for a in node.attribute if a.name == name), None)
    return helper.get_attribute_value(a) if a is not None else default


def dims_of(value):
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in value.type.tensor_type.shape.dim]


def rewrite(model):
    """Rewrite `model` (an onnx.ModelProto, in place). Returns a line saying what moved;
    raises NotApplicable with the reason when nothing can."""
    g = model.graph
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get("facetrack.output_kind") != "pip":
        raise NotApplicable("not a heat-map model (facetrack.output_kind is not pip)")
    maps_last = meta.get("facetrack.maps_layout", "nchw") != "nchw"
    input_blocks = meta.get("facetrack.input_layout", "nchw") != "nchw"
    if maps_last and input_blocks:
        raise NotApplicable("its input and maps are already channels last")
    maps_name = meta.get("facetrack.output", "pip_maps")
    outs = [o for o in g.output if o.name == maps_name]
    if len(g.output) != 1 or not outs:
        raise NotApplicable(f"its one graph output is not {maps_name}")
    out = outs[0]
    dims = dims_of(out)
    if len(dims) != 4:
        raise NotApplicable(f"{maps_name} is {dims}, not [N, C, H, W]")
    if len(g.input) != 1:
        raise NotApplicable(f"{len(g.input)} graph inputs (one image expected)")
    readers, producer = {}, {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
        for o in n.output:
            producer[o] = n
    taken = set(producer) | {t.name for t in g.initializer} | {n.name for n in g.node} \
        | {i.name for i in g.input}

    def fresh(name):
        while name in taken:
            name += "_"
        taken.add(name)
        return name

    nodes = list(g.node)
    stale = {maps_name}
    # the maps: drop the final reorder to channels first, or add one to channels last
    last = producer.get(maps_name)
    if last is None:
        raise NotApplicable(f"no node makes {maps_name}")
    before = last.input[0] if last.op_type == "Transpose" else None
    if maps_last:
        maps_done = "maps already channels last"
    elif before is not None and list(attr(last, "perm", [])) == [0, 3, 1, 2] \
            and len(readers.get(before, [])) == 1 and before not in {i.name for i in g.input} \
            and not readers.get(maps_name):
        producer[before].output[list(producer[before].output).index(before)] = maps_name
        nodes.remove(last)
        stale.add(before)
        maps_done = f"channels last, {last.name} (a Transpose to channels first) removed"
    else:
        inner = fresh(maps_name + "_nchw")
        last.output[list(last.output).index(maps_name)] = inner
        for r in readers.get(maps_name, []):  # other readers of the maps read the old layout
            r.input[:] = [inner if i == maps_name else i for i in r.input]
        nodes.append(helper.make_node("Transpose", [inner], [maps_name], perm=[0, 2, 3, 1],
                                      name=fresh(maps_name + "_to_nhwc")))
        maps_done = "channels last, a Transpose to channels last added"
    if not maps_last:
        n, c, h, w = dims
        del g.output[:]
        g.output.append(helper.make_tensor_value_info(
            maps_name, out.type.tensor_type.elem_type, [n, h, w, c]))
    # the input: the blocks, handed over channels last, where the first layer makes them
    image = g.input[0]
    idims = dims_of(image)
    first = readers.get(image.name, [])
    input_done = "input left planar (its first layer is not a SpaceToDepth of 2 x 2 blocks)"
    if input_blocks:
        input_done = "input already 2 x 2 blocks"
    blocks_input = (not input_blocks and len(first) == 1 and first[0].op_type == "SpaceToDepth"
                    and attr(first[0], "blocksize", 0) == BLOCK and len(idims) == 4
                    and idims[1] == 1
                    and all(isinstance(d, int) and d % BLOCK == 0 for d in idims[2:])
                    and image.type.tensor_type.elem_type == TensorProto.FLOAT)
    if maps_last and not blocks_input:
        raise NotApplicable("its maps are already channels last and its input is not 2 x 2 blocks "
                            "that it could take instead")
    if blocks_input:
        s2d = first[0]
        t = helper.make_node("Transpose", [image.name], [s2d.output[0]], perm=[0, 3, 1, 2],
                             name=fresh(s2d.name.split("_")[0] + "_blocks_nchw"))
        nodes[nodes.index(s2d)] = t
        del g.input[:]
        g.input.append(helper.make_tensor_value_info(
            image.name, TensorProto.FLOAT,
            [idims[0], idims[2] // BLOCK, idims[3] // BLOCK, BLOCK * BLOCK]))
        input_done = f"input taken as 2 x 2 blocks, channels last ({s2d.name} replaced)"
    del g.node[:]
    g.node.extend(nodes)
    # shapes recorded for the moved values no longer hold
    keep = [v for v in g.value_info if v.name not in stale]
    del g.value_info[:]
    g.value_info.extend(keep)
    new = dict(meta)
    new["facetrack.contract_version"] = VERSION
    new["facetrack.maps_layout"] = "nhwc"
    if blocks_input:
        new["facetrack.input_layout"] = "blocks2_nhwc"
    del model.metadata_props[:]
    for k, v in new.items():
        model.metadata_props.add(key=k, value=v)
    return f"maps: {maps_done}; input: {input_done}"


if __name__ == "__main__":
    rewrite_main(__doc__, rewrite, NotApplicable)
