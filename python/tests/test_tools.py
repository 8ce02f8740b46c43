"""The model tools in tools/: the ensemble merger (tools/ensemble.py) against ONNX Runtime
and the library's own decoding, and the pseudo-label writer (tools/pseudo_labels.py)
against the library's loaders, on the shipped models and real faces."""

import csv
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort

from test_facetrack import CLI, MEGAMIND, REPO, shared_data

FP32 = REPO / "models" / "facetrack68-fp32.onnx"
INT8 = REPO / "models" / "facetrack68.onnx"


def tool(name, *args):
    return subprocess.run([sys.executable, str(REPO / "tools" / name), *map(str, args)],
                          capture_output=True, text=True)


def layouts(model):
    """A model's input and maps layouts (its contract's facetrack.input_layout and
    facetrack.maps_layout; absent, both planar)."""
    meta = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    return meta.get("facetrack.input_layout", "nchw"), meta.get("facetrack.maps_layout", "nchw")


def blocks(x):
    """[N, 1, H, W] crops as [N, H/2, W/2, 4] 2x2 blocks, channels last (ONNX's
    SpaceToDepth of block 2, transposed), the tracker's input for blocks2_nhwc models."""
    n, c, h, w = x.shape
    return np.ascontiguousarray(
        x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 2, 4, 3, 5, 1).reshape(n, h // 2, w // 2, 4 * c))


def run_raw(model, x):
    s = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def run(model, x):
    """The model's maps for planar crops x, channels first, whatever its layouts."""
    inp, maps = layouts(model)
    y = run_raw(model, blocks(x) if inp == "blocks2_nhwc" else x)
    return y.transpose(0, 3, 1, 2) if maps == "nhwc" else y


def perturbed(src, dst, scale):
    """A copy of src whose weights are scaled: a second member that differs."""
    m = onnx.load(str(src))
    for t in m.graph.initializer:
        a = onnx.numpy_helper.to_array(t)
        if a.dtype == np.float32 and a.ndim == 4:  # convolution weights
            t.CopyFrom(onnx.numpy_helper.from_array((a * scale).astype(np.float32), t.name))
            break
    onnx.save(m, str(dst))


def test_ensemble_output_is_the_members_mean(tmp_path):
    other = tmp_path / "other.onnx"
    perturbed(FP32, other, 0.9)
    out = tmp_path / "ens.onnx"
    r = tool("ensemble.py", FP32, other, "--out", out)
    assert r.returncode == 0, r.stderr
    x = np.random.default_rng(3).uniform(-2, 2, (2, 1, 112, 112)).astype(np.float32)
    a, b, e = run(FP32, x), run(other, x), run(out, x)
    assert not np.allclose(a, b, atol=1e-3), "the perturbed member must differ"
    np.testing.assert_allclose(e, (a + b) / 2, atol=1e-4, rtol=1e-4)
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    single = {p.key: p.value for p in onnx.load(str(FP32)).metadata_props}
    assert meta.pop("facetrack.ensemble_members") == "2"
    assert meta == single, "the contract must be the members' own"


def test_ensemble_of_one_model_twice_tracks_like_the_model(tmp_path):
    """The library decodes the merged file as it decodes the member: same points."""
    data = shared_data()
    out = tmp_path / "twice.onnx"
    assert tool("ensemble.py", FP32, FP32, "--out", out).returncode == 0
    res = {}
    for name, model in (("one", FP32), ("two", out)):
        pf = tmp_path / f"{name}.csv"
        r = subprocess.run([CLI, "eval", "--model", model, "--data", data / "300w", "--split", "test",
                            "--boxes", "gt", "--per-face", pf], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        with open(pf) as f:
            res[name] = {row["image"]: row for row in csv.DictReader(f)}
    assert res["one"].keys() == res["two"].keys() and len(res["one"]) > 100
    worst = max(abs(float(res["one"][k][f"x_{i}"]) - float(res["two"][k][f"x_{i}"]))
                for k in res["one"] for i in range(68))
    assert worst < 1e-2, f"points moved by {worst} px"


def test_ensemble_refuses_mismatched_members(tmp_path):
    r = tool("ensemble.py", FP32, INT8, "--out", tmp_path / "x.onnx")
    assert r.returncode != 0 and "contract" in r.stderr
    m = onnx.load(str(FP32))
    for p in m.metadata_props:
        if p.key == "facetrack.crop_scale":
            p.value = "1.4"
    other = tmp_path / "scale.onnx"
    onnx.save(m, str(other))
    r = tool("ensemble.py", FP32, other, "--out", tmp_path / "x.onnx")
    assert r.returncode != 0 and "crop_scale" in r.stderr
    assert not (tmp_path / "x.onnx").exists()
    r = tool("ensemble.py", FP32, FP32, "--out", FP32)
    assert r.returncode != 0 and "must not be one of the members" in r.stderr


def test_pseudo_labels_load_back_as_the_teachers_points(tmp_path):
    data = shared_data()
    pf = tmp_path / "pf.csv"
    r = subprocess.run([CLI, "eval", "--model", FP32, "--data", data / "300w", "--split", "val",
                        "--boxes", "gt", "--per-face", pf], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    labels = tmp_path / "pseudo.csv"
    r = tool("pseudo_labels.py", pf, "--out", labels, "--max-disagreement", "0.08")
    assert r.returncode == 0, r.stderr
    with open(pf) as f:
        rows = list(csv.DictReader(f))
    over = sum(float(x["error"]) > 0.08 for x in rows)
    with open(labels) as f:
        written = list(csv.DictReader(f))
    assert len(written) == len(rows) - over
    # the library reads the file back: the model's own points against themselves, cropped
    # from them, are near (not exactly: a new crop) the teacher's
    r = subprocess.run([CLI, "eval", "--model", FP32, "--data", labels, "--boxes", "gt"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    nme = float(out.split("NME mean ")[1].split("%")[0])
    assert nme < 2.0, out
    # 1-based on disk: x0 is the teacher's 0-based x_0 plus one
    first = {x["image"]: x for x in rows}
    w = written[0]
    src = next(v for k, v in first.items() if os.path.abspath(k) == w["image"])
    assert abs(float(w["x0"]) - (float(src["x_0"]) + 1)) < 1e-3


def test_quantizer_keeps_every_members_output_layer_float(tmp_path):
    """tools/quantize.py gives the layers that make the maps a float output (8 bits would
    round the sub-cell offsets); in an ensemble those are each member's last convolution."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("quantize", REPO / "tools" / "quantize.py")
    q = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(q)
    single = onnx.load(str(FP32)).graph
    keep = q.output_layers(single.node, {o.name for o in single.output})
    assert keep == [single.node[-1].name] and single.node[-1].op_type == "Conv"
    out = tmp_path / "ens.onnx"
    assert tool("ensemble.py", FP32, FP32, FP32, "--out", out).returncode == 0
    g = onnx.load(str(out)).graph
    keep = q.output_layers(g.node, {o.name for o in g.output})
    convs = sorted(n for n in keep if n.endswith("Conv"))
    assert convs == sorted(f"m{i}/{single.node[-1].name}" for i in range(3)), keep
    assert {"ensemble/mean", "ensemble/sum1", "ensemble/sum2"} <= set(keep)


def test_compare_evals_scores_like_eval_and_pairs_faces(tmp_path):
    """tools/compare_evals.py: its own NME of a report's points (the .pts truth beside each
    image) equals eval's, and a report whose points are moved is paired against the base."""
    data = shared_data()
    pf = tmp_path / "base.csv"
    r = subprocess.run([CLI, "eval", "--model", INT8, "--data", data / "300w", "--split", "val",
                        "--boxes", "tracked", "--per-face", pf], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with open(pf) as f:
        rows = list(csv.DictReader(f))
        fields = list(rows[0].keys())
    eval_mean = 100 * np.mean([float(x["error"]) for x in rows])
    # a second report: every point 2 px lower, its error column recomputed by the tool
    moved = tmp_path / "moved.csv"
    with open(moved, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for x in rows:
            y = dict(x)
            for i in range(68):
                y[f"y_{i}"] = f"{float(x[f'y_{i}']) + 2.0:.3f}"
            w.writerow(y)
    r = tool("compare_evals.py", pf, pf, "--mean", pf, pf)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"{len(rows)} faces")
    assert f"mean {eval_mean:.3f} %" in lines[0], (eval_mean, r.stdout)
    ens = next(line for line in lines if line.startswith("mean of "))
    # the mean of a report with itself, scored from the .pts, is eval's own score
    assert abs(float(ens.split("mean ")[2].split(" %")[0]) - eval_mean) < 0.002, r.stdout
    r = tool("compare_evals.py", pf, "--mean", moved)
    assert r.returncode == 0, r.stderr
    ens = next(line for line in r.stdout.splitlines() if line.startswith("mean of "))
    diff = float(ens.split("paired ")[1].split(" ")[0])
    assert diff > 0.3, r.stdout  # 2 px is 1-4 % of these faces' eye distances
    # a face the detector missed (missed 1, no error, no points) is left out of the pairs
    assert fields[:3] == ["image", "missed", "error"], fields
    holed = tmp_path / "holed.csv"
    with open(holed, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for k, x in enumerate(rows):
            y = dict(x)
            if k == 0:
                y = {c: "" for c in fields} | {"image": x["image"], "missed": "1"}
            w.writerow(y)
    r = tool("compare_evals.py", holed, pf)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{len(rows) - 1} faces") and "1 faces the detector missed" in r.stderr, r
    r = tool("compare_evals.py", tmp_path / "missing.csv")
    assert r.returncode != 0
    assert not (tmp_path / "missing.csv").exists()


def int8_weights(path):
    from onnx import numpy_helper
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer
            if t.data_type == onnx.TensorProto.INT8}


def test_shipped_int8_model_uses_7_bit_weights():
    """Weights within [-64, 64] cannot overflow ONNX Runtime's 16-bit pair sums on CPUs
    without VNNI (full-range weights cost 0.17 NME points on an AVX2 EPYC): the shipped
    model scores the same on every x86 CPU."""
    for path in (INT8,):
        w = int8_weights(path)
        assert len(w) >= 19, path
        worst = max(int(np.abs(a.astype(np.int32)).max()) for a in w.values())
        assert worst == 64, f"{path}: largest |weight| {worst}"


def test_reduce_range_rewrites_weights_as_the_quantizer_does(tmp_path):
    crops = tmp_path / "crops.npy"
    rng = np.random.default_rng(5)
    np.save(crops, rng.uniform(-2, 2, (32, 1, 112, 112)).astype(np.float32))
    full, seven, rewritten = tmp_path / "full.onnx", tmp_path / "seven.onnx", tmp_path / "rw.onnx"
    for out, extra in ((full, ["--full-range"]), (seven, [])):
        r = tool("quantize.py", FP32, crops, out, "--method", "minmax", *extra)
        assert r.returncode == 0, r.stderr
    assert max(int(np.abs(a.astype(np.int32)).max()) for a in int8_weights(full).values()) == 127
    r = tool("reduce_range.py", full, rewritten)
    assert r.returncode == 0, r.stderr
    from onnx import numpy_helper
    want = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(seven)).graph.initializer}
    got = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(rewritten)).graph.initializer}
    assert want.keys() == got.keys()
    for k, a in want.items():
        if a.dtype == np.int8:  # rounded twice (127 steps, then 64): within one step
            assert np.abs(a.astype(np.int32) - got[k].astype(np.int32)).max() <= 1, k
        elif a.dtype == np.float32 and (a.size < 1024 or k.endswith("_wscale")):
            # scales (the conv weights' and the output layer's): exactly the quantizer's
            np.testing.assert_allclose(got[k], a, rtol=1e-5, err_msg=k)
    x = rng.uniform(-2, 2, (2, 1, 112, 112)).astype(np.float32)
    f, q, rw = run(FP32, x), run(seven, x), run(rewritten, x)
    # as far from the float maps as the quantizer's own 7-bit model (both round weights)
    assert np.abs(rw - f).mean() < 1.5 * np.abs(q - f).mean() < 0.1 * np.abs(f).mean()
    meta = {p.key: p.value for p in onnx.load(str(rewritten)).metadata_props}
    assert meta == {p.key: p.value for p in onnx.load(str(full)).metadata_props}
    assert meta["facetrack.precision"] == "int8"
    # nothing to do on a 7-bit model; never over its input
    r = tool("reduce_range.py", seven, tmp_path / "again.onnx")
    assert r.returncode != 0 and "nothing to rewrite" in r.stderr
    assert not (tmp_path / "again.onnx").exists()
    r = tool("reduce_range.py", full, full)
    assert r.returncode != 0 and "must not be the input" in r.stderr


def test_quantizer_float_first_leaves_the_input_unquantized(tmp_path):
    """--float-first keeps the first convolution float (the image is never rounded to
    uint8), and the other convolutions stay 8-bit with 7-bit weights."""
    crops = tmp_path / "crops.npy"
    np.save(crops, np.random.default_rng(7).uniform(-2, 2, (16, 1, 112, 112)).astype(np.float32))
    out = tmp_path / "first.onnx"
    r = tool("quantize.py", FP32, crops, out, "--method", "minmax", "--float-first")
    assert r.returncode == 0, r.stderr
    g = onnx.load(str(out)).graph
    image = g.input[0].name
    assert not [n for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] == image]
    first = [n for n in g.node if n.op_type == "Conv" and n.input[0] == image]
    assert len(first) == 1, "the first convolution reads the image directly (not rewritten)"
    assert sum(n.op_type == "QuantizeLinear" for n in g.node) > 10
    assert max(int(np.abs(a.astype(np.int32)).max()) for a in int8_weights(out).values()) == 64


def first_layer(path):
    """The node that reads the model's image, and the first convolution."""
    g = onnx.load(str(path)).graph
    reads = [n for n in g.node if g.input[0].name in n.input]
    convs = [n for n in g.node if n.op_type == "Conv"]
    return reads[0], convs[0]


def test_s2d_stem_is_the_same_convolution_over_2x2_blocks(tmp_path):
    """tools/s2d_stem.py (which tools/quantize.py runs unless --plain-stem) makes the 7x7
    stride-2 stem a 4x4 stride-1 convolution over the image's 2x2 blocks: an 8-bit model
    gives the same maps bit for bit, a float one the same to rounding; the shipped 8-bit
    files have it; a stem already rewritten, or none, is refused and nothing written."""
    crops = tmp_path / "crops.npy"
    rng = np.random.default_rng(13)
    np.save(crops, rng.uniform(-2, 2, (16, 1, 112, 112)).astype(np.float32))
    plain, default, rw = (tmp_path / f"{k}.onnx" for k in ("plain", "default", "rw"))
    for out, extra in ((plain, ["--plain-stem"]), (default, [])):
        r = tool("quantize.py", FP32, crops, out, "--method", "minmax", *extra)
        assert r.returncode == 0, r.stderr
    assert first_layer(plain)[0].op_type == "QuantizeLinear"
    r = tool("s2d_stem.py", plain, rw)
    assert r.returncode == 0, r.stderr
    reads, conv = first_layer(rw)
    assert reads.op_type == "SpaceToDepth" and reads.attribute[0].i == 2
    assert reads.name == "n1_SpaceToDepth"  # counted with the stem by tools/model_stages.py
    attrs = {a.name: list(a.ints) for a in conv.attribute if a.ints}
    assert attrs["kernel_shape"] == [4, 4] and attrs["strides"] == [1, 1]
    assert attrs["pads"] == [2, 2, 1, 1]
    # the same int8 weights, moved: each old one once, the new taps zero
    w_plain, w_rw = int8_weights(plain), int8_weights(rw)
    stem = [k for k in w_rw if w_rw[k].shape == (64, 4, 4, 4)]
    assert len(stem) == 1 and w_plain[stem[0]].shape == (64, 1, 7, 7)
    a, b = w_plain[stem[0]].astype(np.int32), w_rw[stem[0]].astype(np.int32)
    assert np.array_equal(np.sort(np.abs(a).reshape(64, -1), 1)[:, -49:],
                          np.sort(np.abs(b).reshape(64, -1), 1)[:, -49:])
    assert np.abs(b).sum() == np.abs(a).sum()
    # quantize.py's default file is that rewrite
    d = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(default)).graph.initializer}
    w = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(rw)).graph.initializer}
    assert d.keys() == w.keys() and all(np.array_equal(d[k], w[k]) for k in d)
    x = rng.uniform(-2, 2, (3, 1, 112, 112)).astype(np.float32)
    assert np.array_equal(run(plain, x), run(rw, x))
    # a float model: the same function, summed in another order
    fl = tmp_path / "float.onnx"
    r = tool("s2d_stem.py", FP32, fl)
    assert r.returncode == 0, r.stderr
    f0, f1 = run(FP32, x), run(fl, x)
    assert np.abs(f1 - f0).max() < 1e-4 * np.abs(f0).max()
    meta = {p.key: p.value for p in onnx.load(str(fl)).metadata_props}
    assert meta == {p.key: p.value for p in onnx.load(str(FP32)).metadata_props}
    # the shipped 8-bit files run the rewritten stem (and take its blocks as their input:
    # tools/channels_last.py)
    for path in (INT8, REPO / "models" / "facetrack68-slim.onnx"):
        reads, conv = first_layer(path)
        assert reads.op_type == "Transpose" and reads.name == "n1_blocks_nchw", path
        assert [a.ints for a in conv.attribute if a.name == "kernel_shape"] == [[4, 4]], path
    # refused: a rewritten stem, a model whose image feeds no such convolution
    r = tool("s2d_stem.py", rw, tmp_path / "again.onnx")
    assert r.returncode != 0 and "already" in r.stderr
    assert not (tmp_path / "again.onnx").exists()
    m = onnx.load(str(FP32))
    for a in next(n for n in m.graph.node if n.op_type == "Conv").attribute:
        if a.name == "strides":
            a.ints[:] = [1, 1]
    odd = tmp_path / "stride1.onnx"
    onnx.save(m, str(odd))
    r = tool("s2d_stem.py", odd, tmp_path / "never.onnx")
    assert r.returncode != 0 and "stride 2" in r.stderr
    assert not (tmp_path / "never.onnx").exists()


def stem_model(k, *, quantized=False, zero_points=None, size=(16, 16), dynamic=False):
    """A model of one stride-2 convolution with same padding over a 1-channel image:
    float weights, or (quantized) uint8 weights per output channel with `zero_points`
    behind a per-tensor uint8 image Q/DQ, as tools/quantize.py's graphs are built."""
    from onnx import TensorProto, helper
    from onnx import numpy_helper as nh
    kh, kw = k
    rng = np.random.default_rng(kh * 10 + kw)
    dims = ["batch", 1, "h" if dynamic else size[0], size[1]]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 3, "oh", "ow"])
    conv_in, w_name, nodes, inits = "image", "w", [], []
    if quantized:
        zp = np.asarray(zero_points, np.uint8)
        q = rng.integers(0, 256, (3, 1, kh, kw)).astype(np.uint8)
        inits += [nh.from_array(q, "wq"), nh.from_array(np.full(3, 0.01, np.float32), "ws"),
                  nh.from_array(zp, "wz"), nh.from_array(np.float32(4 / 255), "s"),
                  nh.from_array(np.uint8(128), "z")]
        nodes += [helper.make_node("QuantizeLinear", ["image", "s", "z"], ["iq"]),
                  helper.make_node("DequantizeLinear", ["iq", "s", "z"], ["idq"]),
                  helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], axis=0)]
        conv_in = "idq"
    else:
        inits.append(nh.from_array(rng.normal(size=(3, 1, kh, kw)).astype(np.float32), "w"))
    nodes.append(helper.make_node("Conv", [conv_in, w_name], ["out"], name="n1_Conv",
                                  kernel_shape=[kh, kw], strides=[2, 2],
                                  pads=[kh // 2, kw // 2, kh // 2, kw // 2]))
    g = helper.make_graph(nodes, "stem", [image], [out], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_s2d_stem_rewrites_any_odd_stem_and_refuses_what_it_cannot_move():
    """tools/s2d_stem.py on small stems: 3x3, 5x5, 7x7 and 3x5 kernels give the same
    outputs (float to rounding); 8-bit weights with per-channel zero points get those zero
    points (real 0) in the new taps; weights shared with another layer, an image read
    twice, odd or unknown sizes and a zero point made at run time are refused."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("s2d_stem", REPO / "tools" / "s2d_stem.py")
    stem = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stem)
    x = np.random.default_rng(3).uniform(-2, 2, (2, 1, 16, 16)).astype(np.float32)

    def outputs(m):
        s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return s.run(None, {"image": x})[0]

    for k in ((3, 3), (5, 5), (7, 7), (3, 5)):
        for quantized in (False, True):
            m = stem_model(k, quantized=quantized, zero_points=[100, 128, 140])
            want = outputs(m)
            stem.rewrite(m)
            onnx.checker.check_model(m)
            got = outputs(m)
            assert got.shape == want.shape == (2, 3, 8, 8)
            assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max(), (k, quantized)
            blocks = [n for n in m.graph.node if n.op_type == "SpaceToDepth"]
            assert len(blocks) == 1 and blocks[0].name == "n1_SpaceToDepth"
            if quantized:
                # every tap of the new kernel that reads no old weight holds its channel's
                # zero point: each channel has (K * K * 4 - kh * kw) of them
                wq = onnx.numpy_helper.to_array(next(t for t in m.graph.initializer if t.name == "wq"))
                kk = wq.shape[2] * wq.shape[3] * 4
                for c, z in enumerate((100, 128, 140)):
                    assert (wq[c] == z).sum() >= kk - k[0] * k[1], (k, c)
    refused = []
    m = stem_model((7, 7))
    m.graph.node.append(onnx.helper.make_node("Conv", ["image", "w"], ["also"], strides=[2, 2],
                                              pads=[3, 3, 3, 3]))
    refused.append((m, "read by 2 nodes"))
    m = stem_model((7, 7))
    m.graph.node.append(onnx.helper.make_node("Identity", ["w"], ["w_copy"]))
    refused.append((m, "shared"))
    refused.append((stem_model((7, 7), size=(15, 16)), "even"))
    refused.append((stem_model((7, 7), dynamic=True), "even"))
    m = stem_model((7, 7), quantized=True, zero_points=[0, 0, 0])
    zp = next(t for t in m.graph.initializer if t.name == "wz")
    m.graph.initializer.remove(zp)
    m.graph.node.insert(0, onnx.helper.make_node("Constant", [], ["wz"], value=zp))
    refused.append((m, "zero point is not a constant"))
    for m, why in refused:
        before = m.SerializeToString()
        try:
            stem.rewrite(m)
        except stem.NotAStem as e:
            assert why in str(e), (why, str(e))
        else:
            raise AssertionError(f"not refused: {why}")
        assert m.SerializeToString() == before, why


def optimized_ops(model):
    """The operators ONNX Runtime's CPU provider runs for a model, after its own graph
    rewrites (layout transforms included), with their counts."""
    import collections
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        o = ort.SessionOptions()
        o.optimized_model_filepath = os.path.join(d, "opt.onnx")
        ort.InferenceSession(str(model), o, providers=["CPUExecutionProvider"])
        return collections.Counter(n.op_type for n in onnx.load(o.optimized_model_filepath).graph.node)


def test_channels_last_io_gives_the_same_maps_without_reorders(tmp_path):
    """tools/channels_last.py (which tools/quantize.py runs unless --planar-io): an 8-bit
    model with the 2x2-block stem takes its crop as blocks, channels last, and gives its
    maps channels last: the same values bit for bit, and ONNX Runtime runs no Transpose
    or SpaceToDepth at all; the contract says so (version 3); a float model gets its maps
    reordered at the end; the shipped 8-bit files are so; a second pass and a model
    without maps are refused and nothing written."""
    crops = tmp_path / "crops.npy"
    rng = np.random.default_rng(17)
    np.save(crops, rng.uniform(-2, 2, (16, 1, 112, 112)).astype(np.float32))
    planar, default, cl = (tmp_path / f"{k}.onnx" for k in ("planar", "default", "cl"))
    for out, extra in ((planar, ["--planar-io"]), (default, [])):
        r = tool("quantize.py", FP32, crops, out, "--method", "minmax", *extra)
        assert r.returncode == 0, r.stderr
    assert layouts(planar) == ("nchw", "nchw")
    r = tool("channels_last.py", planar, cl)
    assert r.returncode == 0, r.stderr
    g = onnx.load(str(cl)).graph
    dims = lambda v: [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert dims(g.input[0]) == ["batch", 56, 56, 4] and dims(g.output[0]) == ["batch", 7, 7, 1564]
    meta = {p.key: p.value for p in onnx.load(str(cl)).metadata_props}
    before = {p.key: p.value for p in onnx.load(str(planar)).metadata_props}
    assert meta.pop("facetrack.input_layout") == "blocks2_nhwc"
    assert meta.pop("facetrack.maps_layout") == "nhwc"
    assert meta.pop("facetrack.contract_version") == "3" and before.pop("facetrack.contract_version") == "2"
    assert meta == before
    # quantize.py's default file is that rewrite: the same weights and the same graph
    d = onnx.load(str(default))
    assert [n.op_type for n in d.graph.node] == [n.op_type for n in g.node]
    w = {t.name: onnx.numpy_helper.to_array(t) for t in g.initializer}
    dw = {t.name: onnx.numpy_helper.to_array(t) for t in d.graph.initializer}
    assert dw.keys() == w.keys() and all(np.array_equal(dw[k], w[k]) for k in w)
    assert layouts(default) == layouts(cl)
    # the same maps, bit for bit; the reorders are gone from what ONNX Runtime runs
    x = rng.uniform(-2, 2, (3, 1, 112, 112)).astype(np.float32)
    y = run_raw(cl, blocks(x))
    assert y.shape == (3, 7, 7, 1564)
    assert np.array_equal(y.transpose(0, 3, 1, 2), run_raw(planar, x))
    ops, ops_before = optimized_ops(cl), optimized_ops(planar)
    assert ops_before["Transpose"] >= 1 and ops_before["SpaceToDepth"] == 1, ops_before
    assert ops["Transpose"] == 0 and ops["SpaceToDepth"] == 0, ops
    # a float model: no blocks to hand over, the maps reordered at its end
    fl = tmp_path / "float.onnx"
    r = tool("channels_last.py", FP32, fl)
    assert r.returncode == 0, r.stderr
    assert "input left planar" in r.stdout and layouts(fl) == ("nchw", "nhwc")
    assert np.array_equal(run_raw(fl, x).transpose(0, 3, 1, 2), run_raw(FP32, x))
    # the tracker reads a planar input with channels-last maps as the plain file: the same CSV
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(MEGAMIND), "-frames:v", "12",
                    "-c:v", "libx264", "-qp", "0", str(clip)], check=True)
    csvs = []
    for m in (FP32, fl):
        csvs.append(tmp_path / f"{m.stem}.csv")
        r = subprocess.run([str(CLI), "video", str(clip), "--csv", str(csvs[-1]), "--model", str(m)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    assert csvs[0].read_text() == csvs[1].read_text() and len(csvs[0].read_text().splitlines()) > 10
    # a file whose layouts do not match its graph is refused when loaded
    m = onnx.load(str(FP32))
    for p in m.metadata_props:
        if p.key == "facetrack.contract_version":
            p.value = "3"
    m.metadata_props.add(key="facetrack.input_layout", value="blocks2_nhwc")
    liar = tmp_path / "liar.onnx"
    onnx.save(m, str(liar))
    r = subprocess.run([str(CLI), "info", "--model", str(liar)], capture_output=True, text=True)
    assert r.returncode != 0 and "input shape" in r.stderr, r.stderr
    # each half once: a --plain-stem file has channels-last maps and a planar input; given
    # its stem over blocks (s2d_stem.py) it can take those blocks as its input too
    ps, ps2, ps3 = (tmp_path / f"ps{i}.onnx" for i in range(3))
    r = tool("quantize.py", FP32, crops, ps, "--method", "minmax", "--plain-stem")
    assert r.returncode == 0, r.stderr
    assert layouts(ps) == ("nchw", "nhwc")
    r = tool("channels_last.py", ps, tmp_path / "never.onnx")
    assert r.returncode != 0 and "input is not 2 x 2 blocks" in r.stderr
    assert tool("s2d_stem.py", ps, ps2).returncode == 0
    r = tool("channels_last.py", ps2, ps3)
    assert r.returncode == 0 and "maps already channels last" in r.stdout, r.stderr
    assert layouts(ps3) == ("blocks2_nhwc", "nhwc")
    assert np.array_equal(run_raw(ps3, blocks(x)), y)
    # quantize.py takes the float original only
    for m, says in ((INT8, "already quantized"), (ps3, "already quantized")):
        r = tool("quantize.py", m, crops, tmp_path / "never.onnx")
        assert r.returncode != 0 and says in r.stderr, r.stderr
    # the shipped 8-bit files
    for path in (INT8, REPO / "models" / "facetrack68-slim.onnx"):
        assert layouts(path) == ("blocks2_nhwc", "nhwc"), path
    # refused: a second pass, a points model; never over its input
    r = tool("channels_last.py", cl, tmp_path / "again.onnx")
    assert r.returncode != 0 and "already channels last" in r.stderr
    m = onnx.load(str(FP32))
    for p in m.metadata_props:
        if p.key == "facetrack.output_kind":
            p.value = "points"
    points = tmp_path / "points.onnx"
    onnx.save(m, str(points))
    r = tool("channels_last.py", points, tmp_path / "never.onnx")
    assert r.returncode != 0 and "not a heat-map model" in r.stderr
    assert not (tmp_path / "again.onnx").exists() and not (tmp_path / "never.onnx").exists()
    m = onnx.load(str(FP32))
    m.metadata_props.add(key="facetrack.input_layout", value="blocks2_nhwc")
    onnx.save(m, str(tmp_path / "fblocks.onnx"))
    r = tool("quantize.py", tmp_path / "fblocks.onnx", crops, tmp_path / "never.onnx")
    assert r.returncode != 0 and "2x2 blocks" in r.stderr, r.stderr
    r = tool("channels_last.py", planar, planar)
    assert r.returncode != 0 and "must not be the input" in r.stderr


def test_int8_head_gives_the_output_layer_int8_weights_and_a_float_output(tmp_path):
    """tools/int8_head.py (which tools/quantize.py runs unless --float-head): the float
    output layer becomes MatMulIntegerToFloat with 7-bit weights; the maps stay float and
    move by what rounding the weights moves them (about 1 % of their size), less than an
    8-bit output (--int8-head) moves them and not onto its 256 levels; quantize.py's
    default is the same file as its rewrite; --full-range weights reach 127."""
    crops = tmp_path / "crops.npy"
    rng = np.random.default_rng(11)
    np.save(crops, rng.uniform(-2, 2, (32, 1, 112, 112)).astype(np.float32))
    paths = {k: tmp_path / f"{k}.onnx" for k in ("float_head", "default", "int8_head", "rw")}
    for k, extra in (("float_head", ["--float-head", "--planar-io"]), ("default", []),
                     ("int8_head", ["--int8-head"])):
        r = tool("quantize.py", FP32, crops, paths[k], "--method", "minmax", *extra)
        assert r.returncode == 0, r.stderr
    r = tool("int8_head.py", paths["float_head"], paths["rw"])
    assert r.returncode == 0, r.stderr
    g = onnx.load(str(paths["rw"])).graph
    producer = {o: n for n in g.node for o in n.output}
    last = producer[g.output[0].name]
    assert last.op_type == "Transpose"
    mm = producer[last.input[0]]
    assert mm.op_type == "MatMulIntegerToFloat" and mm.domain == "com.microsoft"
    w = {t.name: onnx.numpy_helper.to_array(t) for t in g.initializer}
    assert w[mm.input[1]].dtype == np.int8 and w[mm.input[1]].shape == (256, 1564)
    assert int(np.abs(w[mm.input[1]].astype(np.int32)).max()) == 64
    assert not [t for t in g.initializer if t.data_type == onnx.TensorProto.FLOAT
                and len(t.dims) == 4], "no float convolution weights are left"
    assert os.path.getsize(paths["rw"]) < 0.9 * os.path.getsize(paths["float_head"])
    # quantize.py's default file is the rewrite of its --float-head file
    d = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(paths["default"])).graph.initializer}
    assert d.keys() == w.keys() and all(np.array_equal(d[k], w[k]) for k in d)
    x = rng.uniform(-2, 2, (2, 1, 112, 112)).astype(np.float32)
    base, rw, out8 = (run(paths[k], x) for k in ("float_head", "rw", "int8_head"))
    assert rw.dtype == np.float32 and rw.shape == base.shape == (2, 1564, 7, 7)
    # float maps, not 256 levels (an 8-bit output), near the float layer's
    assert len(np.unique(rw)) > 100 * len(np.unique(out8)) and len(np.unique(out8)) <= 256
    # on the shipped weights the rewrite moves the maps by about 0.9 % of their mean
    # magnitude, the 8-bit output (which also rounds the result) by more
    moved, moved8 = np.abs(rw - base).mean(), np.abs(out8 - base).mean()
    assert moved < 0.02 * np.abs(base).mean() and moved < moved8, (moved, moved8)
    meta = {p.key: p.value for p in onnx.load(str(paths["rw"])).metadata_props}
    assert meta == {p.key: p.value for p in onnx.load(str(paths["float_head"])).metadata_props}
    # nothing left to rewrite; never over its input
    r = tool("int8_head.py", paths["rw"], tmp_path / "again.onnx")
    assert r.returncode != 0 and "nothing to rewrite" in r.stderr
    assert not (tmp_path / "again.onnx").exists()
    r = tool("int8_head.py", paths["float_head"], paths["float_head"])
    assert r.returncode != 0 and "must not be the input" in r.stderr
    link = tmp_path / "link.onnx"  # the input by another name
    link.symlink_to(paths["float_head"])
    before = paths["float_head"].read_bytes()
    r = tool("int8_head.py", paths["float_head"], link)
    assert r.returncode != 0 and "must not be the input" in r.stderr
    assert link.is_symlink() and paths["float_head"].read_bytes() == before
    r = tool("int8_head.py", crops, tmp_path / "from_npy.onnx")
    assert r.returncode != 0 and "not an ONNX model" in r.stderr
    assert not (tmp_path / "from_npy.onnx").exists()
    # 8 bits on request; a named node that is not such a layer is refused
    full = tmp_path / "full.onnx"
    r = tool("int8_head.py", paths["float_head"], full, "--full-range")
    assert r.returncode == 0, r.stderr
    assert max(int(np.abs(a.astype(np.int32)).max()) for k, a in int8_weights(full).items()
               if k.endswith("_wq")) == 127
    fh = onnx.load(str(paths["float_head"])).graph
    convs = [n.name for n in fh.node if n.op_type == "Conv"]
    head = next(n.name for n in fh.node if n.output[0] == fh.output[0].name)
    r = tool("int8_head.py", paths["float_head"], tmp_path / "named.onnx", "--nodes", head, convs[0])
    assert r.returncode != 0 and convs[0] in r.stderr, r.stderr
    assert not (tmp_path / "named.onnx").exists()
    r = tool("int8_head.py", paths["float_head"], tmp_path / "named.onnx", "--nodes", head)
    assert r.returncode == 0, r.stderr
    # a --float-head file with channels-last maps (quantize.py's default layout): the output
    # layer is found behind the maps' Transpose and rewritten, the same maps, and ONNX
    # Runtime cancels the reorders
    fh_cl, rw_cl = tmp_path / "fh_cl.onnx", tmp_path / "rw_cl.onnx"
    r = tool("quantize.py", FP32, crops, fh_cl, "--method", "minmax", "--float-head")
    assert r.returncode == 0, r.stderr
    assert layouts(fh_cl) == ("blocks2_nhwc", "nhwc")
    r = tool("int8_head.py", fh_cl, rw_cl)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(run(rw_cl, x), rw)
    assert optimized_ops(rw_cl)["Transpose"] == 0


def block_convs(path):
    """(conv1 weight, conv2 weight) shapes of each residual block of a model, in order."""
    g = onnx.load(str(path)).graph
    inits = {t.name: tuple(t.dims) for t in g.initializer}
    cons = {}
    for n in g.node:
        for i in n.input:
            cons.setdefault(i, []).append(n)
    out = []
    for n in g.node:
        if n.op_type != "Conv":
            continue
        chain = [n]
        for op in ("BatchNormalization", "Relu", "Conv"):
            nxt = cons.get(chain[-1].output[0], [])
            if len(nxt) != 1 or nxt[0].op_type != op:
                break
            chain.append(nxt[0])
        if len(chain) == 4:
            out.append((inits[n.input[1]], inits[chain[3].input[1]]))
    return out


def test_prune_keeps_the_strongest_inner_channels_of_each_block(tmp_path):
    """tools/prune.py: keeping every channel is the same function; keeping half halves
    each block's inner channels (inputs and outputs untouched), keeps at least half of
    each block's signal, and names the slim architecture the trainer builds; --stages 3,4
    prunes only the 256-channel stages, the lean34 architecture (--stages 1,2: lean12;
    --stages 1: lean1)."""
    crops = tmp_path / "crops.npy"
    np.save(crops, np.random.default_rng(4).uniform(-2, 2, (16, 1, 112, 112)).astype(np.float32))
    x = np.random.default_rng(5).uniform(-2, 2, (2, 1, 112, 112)).astype(np.float32)
    same = tmp_path / "all.onnx"
    r = tool("prune.py", FP32, crops, same, "--keep", "1")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(run(same, x), run(FP32, x), atol=1e-4, rtol=1e-4)
    half = tmp_path / "half.onnx"
    r = tool("prune.py", FP32, crops, half, "--keep", "0.5")
    assert r.returncode == 0, r.stderr
    before, after = block_convs(FP32), block_convs(half)
    assert len(before) == len(after) == 8
    for (w1, w2), (p1, p2) in zip(before, after):
        assert p1 == (w1[0] // 2,) + w1[1:], (w1, p1)
        assert p2 == (w2[0], w2[1] // 2) + w2[2:], (w2, p2)
    y = run(half, x)
    assert y.shape == run(FP32, x).shape and np.isfinite(y).all()
    meta = {p.key: p.value for p in onnx.load(str(half)).metadata_props}
    assert meta["facetrack.architecture"] == "resnet18-pip-slim"
    assert meta["facetrack.pruned_keep"] == "0.5"
    assert "facetrack.pruned_stages" not in meta
    # --stages 3,4: only the 256-channel stages' blocks, the lean34 architecture
    lean = tmp_path / "lean.onnx"
    r = tool("prune.py", FP32, crops, lean, "--keep", "0.5", "--stages", "3,4")
    assert r.returncode == 0, r.stderr
    for i, ((w1, w2), (p1, p2)) in enumerate(zip(before, block_convs(lean))):
        k = 2 if i >= 4 else 1  # blocks 4-7 are layer3 and layer4
        assert p1 == (w1[0] // k,) + w1[1:] and p2 == (w2[0], w2[1] // k) + w2[2:], (i, w1, p1)
    meta = {p.key: p.value for p in onnx.load(str(lean)).metadata_props}
    assert meta["facetrack.architecture"] == "resnet18-pip-lean34"
    assert meta["facetrack.pruned_stages"] == "3,4"
    r = tool("prune.py", FP32, crops, tmp_path / "l12.onnx", "--stages", "2,1")
    assert r.returncode == 0, r.stderr
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "l12.onnx")).metadata_props}
    assert meta["facetrack.architecture"] == "resnet18-pip-lean12"
    assert [p[0][0] for p in block_convs(tmp_path / "l12.onnx")] == [32, 32, 64, 64, 256, 256, 256, 256]
    r = tool("prune.py", FP32, crops, tmp_path / "l1.onnx", "--stages", "1")
    assert r.returncode == 0, r.stderr
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "l1.onnx")).metadata_props}
    assert meta["facetrack.architecture"] == "resnet18-pip-lean1"
    assert [p[0][0] for p in block_convs(tmp_path / "l1.onnx")] == [32, 32, 128, 128, 256, 256, 256, 256]
    # other stages are pruned too but name no architecture; bad lists are refused
    r = tool("prune.py", FP32, crops, tmp_path / "l2.onnx", "--stages", "2")
    assert r.returncode == 0 and "architecture stays" in r.stdout, r.stderr
    for bad in ("5", "x", ""):
        r = tool("prune.py", FP32, crops, tmp_path / "bad.onnx", "--stages", bad)
        assert r.returncode != 0 and "--stages" in r.stderr, bad
    assert not (tmp_path / "bad.onnx").exists()
    # keeping every channel is no slim network: the name stays
    meta = {p.key: p.value for p in onnx.load(str(same)).metadata_props}
    assert meta["facetrack.architecture"] == "resnet18-pip"
    # the INT8 model and overwriting an input are refused
    assert "quantized" in tool("prune.py", INT8, crops, tmp_path / "q.onnx").stderr
    r = tool("prune.py", FP32, crops, FP32)
    assert r.returncode != 0 and "new file" in r.stderr


def test_prune_choice_beats_random_halves_on_real_faces(tmp_path):
    """The channels prune.py keeps, chosen on real face crops, change the model's maps on
    those faces less than random halves of the same blocks do."""
    import importlib.util
    data = shared_data()
    tool_bin = REPO / "target" / "release" / "examples" / "calibration_crops"
    if not tool_bin.is_file():
        import pytest
        pytest.skip(f"{tool_bin} is not built (cargo test --release --workspace builds it)")
    crops = tmp_path / "faces.npy"
    r = subprocess.run([tool_bin, FP32, data / "300w", crops, "64"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    half = tmp_path / "half.onnx"
    r = tool("prune.py", FP32, crops, half, "--keep", "0.5")
    assert r.returncode == 0, r.stderr
    spec = importlib.util.spec_from_file_location("prune", REPO / "tools" / "prune.py")
    pr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pr)
    x = np.load(crops).astype(np.float32)
    full = run(FP32, x)
    chosen = np.abs(run(half, x) - full).mean()
    rng = np.random.default_rng(11)
    for i in range(3):
        m = onnx.load(str(FP32))
        inits = {t.name: t for t in m.graph.initializer}
        arr = lambda n: onnx.numpy_helper.to_array(inits[n])  # noqa: E731
        for conv1, bn1, _relu, conv2, _bn2 in pr.blocks(m.graph):
            w1, w2 = arr(conv1.input[1]), arr(conv2.input[1])
            keep = np.sort(rng.permutation(w1.shape[0])[: w1.shape[0] // 2])
            new = {conv1.input[1]: w1[keep], conv2.input[1]: w2[:, keep]}
            new.update({n: arr(n)[keep] for n in bn1.input[1:5]})
            for n, v in new.items():
                inits[n].CopyFrom(onnx.numpy_helper.from_array(np.ascontiguousarray(v), n))
        del m.graph.value_info[:]
        path = tmp_path / f"random{i}.onnx"
        onnx.save(m, str(path))
        randomly = np.abs(run(path, x) - full).mean()
        assert chosen < randomly, f"chosen half moves the maps {chosen}, random half {i} {randomly}"
