"""INT8 post-training quantization of a facetrack model with ONNX Runtime's own tool.

Static QDQ quantization: weights int8 per output channel, activations uint8 with ranges
calibrated on real crops (examples/calibration_crops.rs writes them: training-part faces,
cropped the way the tracker crops). Batch norm is folded into the convolutions first. The
model's facetrack.* metadata (its contract) is kept, and facetrack.precision=int8 added.
The output layer keeps a float output but gets int8 (7-bit) weights (tools/int8_head.py:
ONNX Runtime's MatMulIntegerToFloat); --float-head leaves it wholly float, --int8-head
makes its output 8-bit too. The first convolution (the 7x7 stem at stride 2 over one
channel) is rewritten as the same convolution over the image's 2x2 blocks
(tools/s2d_stem.py: the same integer products, so ONNX Runtime's CPU kernels give the same
values with the 7-bit weights; a faster kernel); --plain-stem leaves it as it is, and so
does --float-first (a float stem). Last, the model's input and maps are put channels last
(tools/channels_last.py, contract version 3: ONNX Runtime's 8-bit kernels compute in that
layout, so it reorders neither); --planar-io keeps them as the float model has them.

    cargo run --release --example calibration_crops -- models/facetrack68-fp32.onnx ../shared/data/300w /tmp/calib.npy 600
    .deps/venv/bin/python tools/quantize.py models/facetrack68-fp32.onnx /tmp/calib.npy /tmp/facetrack68-int8.onnx

Needs the `onnx` and `onnxruntime` wheels (./setup.sh puts both in .deps/venv).
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # beside tools/int8_head.py, also when imported from elsewhere
    sys.path.append(HERE)
from channels_last import NotApplicable, rewrite as io_channels_last  # noqa: E402
from int8_head import output_layers, rewrite as int8_weights_float_out  # noqa: E402
from s2d_stem import NotAStem, rewrite as stem_over_blocks  # noqa: E402
from safe_write import load_model_apart, write_whole  # noqa: E402


class Crops(CalibrationDataReader):
    def __init__(self, crops, input_name, batch):
        self.crops, self.name, self.batch, self.i = crops, input_name, batch, 0

    def get_next(self):
        # whole batches only (the percentile calibrator stacks them)
        if self.i + self.batch > len(self.crops):
            return None
        b = self.crops[self.i:self.i + self.batch]
        self.i += self.batch
        return {self.name: np.ascontiguousarray(b, dtype=np.float32)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("crops", help=".npy [N,1,H,W] from examples/calibration_crops.rs")
    ap.add_argument("out")
    ap.add_argument("--method", choices=["minmax", "percentile", "entropy"], default="percentile")
    ap.add_argument("--percentile", type=float, default=99.99)
    head_mode = ap.add_mutually_exclusive_group()
    head_mode.add_argument("--int8-head", action="store_true",
                           help="quantize the output layer's output too (by default it stays "
                                "float: its maps carry sub-cell offsets that 8 bits would round "
                                "to a visible jitter)")
    head_mode.add_argument("--float-head", action="store_true",
                           help="keep the output layer's weights float as well (by default they "
                                "are int8 (7-bit) with a float output: tools/int8_head.py)")
    ap.add_argument("--plain-stem", action="store_true",
                    help="leave the first convolution as trained (by default it becomes the same "
                         "convolution over the image's 2x2 blocks: tools/s2d_stem.py)")
    ap.add_argument("--float-first", action="store_true",
                    help="keep the first convolution float, so the input is never quantized: the "
                         "normalised gray levels fall half-way between uint8 codes, and rounding them "
                         "merges neighbouring levels, which makes one gray level of noise a jump of two")
    ap.add_argument("--planar-io", action="store_true",
                    help="keep the input and the maps in the float model's layout (by default "
                         "both become channels last, which the tracker reads from contract "
                         "version 3 on: tools/channels_last.py)")
    ap.add_argument("--float-nodes", nargs="*", default=[], metavar="NODE",
                    help="more nodes (names in the batch-norm-folded graph) to keep float")
    ap.add_argument("--symmetric-activations", action="store_true",
                    help="int8 activations with symmetric ranges (ONNX Runtime's ActivationSymmetric)")
    ap.add_argument("--full-range", action="store_true",
                    help="use all 8 bits of the weights (by default 7: on CPUs without VNNI, "
                         "ONNX Runtime's u8 x s8 kernel adds pairs of products in 16 bits, "
                         "and full-range weights overflow it)")
    args = ap.parse_args()
    model = load_model_apart(args.model, args.out)
    crops = np.load(args.crops)
    meta = {p.key: p.value for p in model.metadata_props}
    if not any(k.startswith("facetrack.") for k in meta):
        sys.exit(f"{args.model} has no facetrack metadata: not a facetrack model")
    if meta.get("facetrack.precision", "fp32") != "fp32":
        sys.exit(f"{args.model} is already quantized ({meta['facetrack.precision']}); quantize its float original")
    if meta.get("facetrack.input_layout", "nchw") != "nchw":
        sys.exit(f"{args.model} takes its crop as 2x2 blocks; quantize a float model with a planar "
                 "input (the calibration crops are planar)")
    name = model.graph.input[0].name
    method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
              "entropy": CalibrationMethod.Entropy}[args.method]
    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, "pre.onnx")
        # folds batch norm into the convolutions, so each conv becomes one int8 conv
        quant_pre_process(args.model, pre, skip_symbolic_shape=True)
        q = os.path.join(tmp, "q.onnx")
        outputs = {o.name for o in onnx.load(pre).graph.output}
        nodes = onnx.load(pre).graph.node
        head = [] if args.int8_head else output_layers(nodes, outputs)
        output_layer_names = set(head)
        if args.float_first:
            head += [n.name for n in nodes if n.op_type == "Conv" and n.input[0] == name]
        head += args.float_nodes

        extra = {"CalibPercentile": args.percentile} if args.method == "percentile" else {}
        if args.symmetric_activations:
            extra["ActivationSymmetric"] = True
        quantize_static(pre, q, Crops(crops, name, 16), quant_format=QuantFormat.QDQ,
                        per_channel=True,
                        activation_type=QuantType.QInt8 if args.symmetric_activations else QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=method,
                        nodes_to_exclude=head, reduce_range=not args.full_range,
                        extra_options=extra)
        out = onnx.load(q)
    # the contract, exactly as the float model had it, plus the precision
    del out.metadata_props[:]
    for k, v in meta.items():
        out.metadata_props.add(key=k, value=v)
    out.metadata_props.add(key="facetrack.precision", value="int8")
    int8_out = [] if args.float_head or args.int8_head else int8_weights_float_out(
        out, 127 if args.full_range else 64, output_layer_names - set(args.float_nodes))
    stem = "left as trained"
    if args.float_first:
        stem = "left float (--float-first)"
    elif not args.plain_stem:
        try:
            stem = f"{stem_over_blocks(out)} over 2x2 blocks"
        except NotAStem as e:
            stem = f"left as it is ({e})"
    io = "as the float model's (--planar-io)"
    if not args.planar_io:
        try:
            io = io_channels_last(out)
        except NotApplicable as e:
            io = f"as the float model's ({e})"
    onnx.checker.check_model(out)
    write_whole(args.out, lambda tmp: onnx.save(out, tmp))
    print(f"{args.out}: {len(crops)} calibration crops, {args.method}, "
          f"float layers: {', '.join(n for n in head if n not in int8_out) or 'none'}, "
          f"int8 weights with a float output: {', '.join(int8_out) or 'none'}, stem: {stem}, "
          f"input and maps: {io}, "
          f"{os.path.getsize(args.out) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
