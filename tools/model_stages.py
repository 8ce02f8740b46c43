"""Where the model's time goes, stage by stage: ONNX Runtime's own profile of the INT8
model on one crop, its kernels' times summed by the network stage they belong to (taken
from the float model's graph: output shapes, and node order to split the two 256-channel
stages). One table per thread count.

    .deps/venv/bin/python tools/model_stages.py models/facetrack68-fp32.onnx models/facetrack68.onnx [CROPS.npy]

CROPS.npy (from examples/calibration_crops.rs) gives a real crop; without it a constant
grey crop is used (the times do not depend on the pixels). A model that takes its crop as
2x2 blocks, channels last (facetrack.input_layout = blocks2_nhwc, tools/channels_last.py),
gets the crop so.
"""
import collections
import json
import os
import re
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

RUNS = 300


def stages_of(float_model):
    m = onnx.shape_inference.infer_shapes(onnx.load(float_model))
    shape = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
             for v in m.graph.value_info}
    names = {}
    wide = []
    for i, n in enumerate(m.graph.node):
        key = n.name.split("_")[0]
        out = shape.get(n.output[0])
        if i < 4:
            names[key] = "stem (7x7 convolution, max pool)"
        elif n.output[0] == m.graph.output[0].name:
            names[key] = "head (1x1 convolution)"
        elif out and len(out) == 4 and out[1] == 256:
            wide.append(key)
        elif out and len(out) == 4:
            names[key] = f"{'layer1' if out[1] == 64 else 'layer2'} ({out[1]} channels, {out[2]}x{out[3]})"
        else:
            names[key] = "other"
    for j, key in enumerate(wide):
        names[key] = ("layer3 (256 channels, stride 16)" if j < len(wide) // 2
                      else "layer4 (256 channels, stride 1)")
    return names


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    names = stages_of(sys.argv[1])
    int8 = onnx.load(sys.argv[2])
    side = [d.dim_value for d in onnx.load(sys.argv[1]).graph.input[0].type.tensor_type.shape.dim]
    if len(sys.argv) > 3:
        x = np.load(sys.argv[3])[:1].astype(np.float32)
    else:
        x = np.zeros((1, *side[1:]), np.float32)
    if {p.key: p.value for p in int8.metadata_props}.get("facetrack.input_layout") == "blocks2_nhwc":
        n, c, h, w = x.shape
        x = np.ascontiguousarray(x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 2, 4, 3, 5, 1)
                                 .reshape(n, h // 2, w // 2, 4 * c))
    for threads in (1, 2):
        o = ort.SessionOptions()
        o.intra_op_num_threads = threads
        o.enable_profiling = True
        o.profile_file_prefix = os.path.join(tempfile.gettempdir(), "facetrack-stages")
        s = ort.InferenceSession(sys.argv[2], o, providers=["CPUExecutionProvider"])
        feed = {s.get_inputs()[0].name: x}
        for _ in range(RUNS):
            s.run(None, feed)
        path = s.end_profiling()
        events = json.load(open(path))
        os.remove(path)
        total = collections.Counter()
        seen = collections.Counter()
        for e in events:
            if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
                continue
            k = re.match(r"(n\d+)", e["name"])
            stage = names.get(k.group(1), "other") if k else (
                "head (1x1 convolution)" if e["name"].startswith(s.get_outputs()[0].name)
                else "other (quantize, reorder)")
            total[stage] += e["dur"]
            seen[e["name"]] += 1
        runs = max(seen.values())
        whole = sum(total.values()) / runs
        print(f"\n{threads} thread(s): {whole:.0f} us of kernels a crop\n")
        print("| stage | us | share |\n|---|---:|---:|")
        for stage, us in total.most_common():
            print(f"| {stage} | {us / runs:.0f} | {100 * us / runs / whole:.1f} % |")


if __name__ == "__main__":
    main()
