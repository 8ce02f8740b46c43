"""Merge facetrack models with the same contract into one model that averages their output.

Every member reads the same input crop; the merged graph's output (same name, shape and
meaning as each member's) is the element-wise mean of the members' outputs. For a heat-map
model (`facetrack.output_kind = pip`) that is the mean of the score maps, offsets and
neighbour offsets, so the library decodes it like any single model: the contract (all
`facetrack.*` metadata) is the members', unchanged, plus `facetrack.ensemble_members`.
The members must agree on every `facetrack.*` key (input size, crop rule, grid,
neighbour lists...), or averaging their maps would mix different meanings; the tool
refuses otherwise.

    .deps/venv/bin/python tools/ensemble.py runs/a/avg30.onnx runs/b/avg30.onnx --out /tmp/ens.onnx

Float members only (quantize the merged model afterwards with tools/quantize.py).
Needs the `onnx` wheel (./setup.sh puts it in .deps/venv).
"""
import argparse
import os
import sys

import onnx
from onnx import helper

from safe_write import write_whole


def contract(model):
    return {p.key: p.value for p in model.metadata_props if p.key.startswith("facetrack.")}


def prefixed(graph, prefix, shared_input):
    """The graph's nodes and initializers with every tensor name prefixed, except the input."""
    def rename(name):
        return name if name == shared_input or name == "" else prefix + name

    nodes = []
    for n in graph.node:
        m = onnx.NodeProto()
        m.CopyFrom(n)
        m.name = prefix + n.name if n.name else ""
        m.ClearField("input")
        m.ClearField("output")
        m.input.extend(rename(i) for i in n.input)
        m.output.extend(rename(o) for o in n.output)
        for a in m.attribute:
            if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                sys.exit("models with sub-graphs (If/Loop) are not supported")
        nodes.append(m)
    inits = []
    for t in graph.initializer:
        u = onnx.TensorProto()
        u.CopyFrom(t)
        u.name = rename(t.name)
        inits.append(u)
    return nodes, inits


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("members", nargs="+", help="two or more float facetrack .onnx models")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if len(args.members) < 2:
        sys.exit("an ensemble needs at least two members")
    out_abs = os.path.abspath(args.out)
    if any(os.path.abspath(m) == out_abs for m in args.members):
        sys.exit("the output must not be one of the members")
    models = [onnx.load(m) for m in args.members]
    first = contract(models[0])
    if not first:
        sys.exit(f"{args.members[0]} has no facetrack metadata: not a facetrack model")
    if first.get("facetrack.precision", "float") != "float":
        sys.exit("members must be float models (quantize the merged model afterwards)")
    for path, m in zip(args.members[1:], models[1:]):
        c = contract(m)
        diff = sorted(k for k in set(first) | set(c) if first.get(k) != c.get(k))
        if diff:
            sys.exit(f"{path} has another contract than {args.members[0]}: {', '.join(diff)}")
        if len(m.graph.output) != 1 or len(m.graph.input) != 1:
            sys.exit(f"{path}: one input and one output expected")
    g0 = models[0].graph
    if len(g0.output) != 1 or len(g0.input) != 1:
        sys.exit(f"{args.members[0]}: one input and one output expected")
    in_name, out_name = g0.input[0].name, g0.output[0].name
    for path, m in zip(args.members, models):
        if m.graph.input[0].name != in_name or m.graph.output[0].name != out_name:
            sys.exit(f"{path}: input/output names differ from the first member's")
        if m.graph.input[0].type != g0.input[0].type or m.graph.output[0].type != g0.output[0].type:
            sys.exit(f"{path}: input/output shapes differ from the first member's")

    nodes, inits, outs = [], [], []
    for i, m in enumerate(models):
        n, t = prefixed(m.graph, f"m{i}/", in_name)
        nodes += n
        inits += t
        outs.append(f"m{i}/{out_name}")
    summed = outs[0]
    for i, o in enumerate(outs[1:], 1):
        s = f"ensemble/sum{i}"
        nodes.append(helper.make_node("Add", [summed, o], [s], name=s))
        summed = s
    scale = helper.make_tensor("ensemble/scale", onnx.TensorProto.FLOAT, [], [1.0 / len(models)])
    inits.append(scale)
    nodes.append(helper.make_node("Mul", [summed, "ensemble/scale"], [out_name], name="ensemble/mean"))

    graph = helper.make_graph(nodes, "facetrack_ensemble", [g0.input[0]], [g0.output[0]], inits)
    merged = helper.make_model(graph, opset_imports=list(models[0].opset_import),
                               producer_name="facetrack tools/ensemble.py")
    merged.ir_version = models[0].ir_version
    for k, v in first.items():
        merged.metadata_props.add(key=k, value=v)
    merged.metadata_props.add(key="facetrack.ensemble_members", value=str(len(models)))
    onnx.checker.check_model(merged)
    write_whole(out_abs, lambda tmp: onnx.save(merged, tmp))
    print(f"{args.out}: mean of {len(models)} members' '{out_name}'")


if __name__ == "__main__":
    main()
