"""Outputs of the tools are written whole: a hidden partial file beside the target, then
renamed over it, so an interrupted run never leaves a half-written model or label file.
`load_model_apart` reads the model a rewriting tool (quantize.py, int8_head.py,
reduce_range.py) starts from, refusing an output that would overwrite it."""
import os
import sys
import tempfile


def write_whole(path, write):
    """Call `write(tmp_path)` to fill a partial file beside `path`, then rename it to `path`
    (mode as a plainly created file: mkstemp would leave it private)."""
    path = os.path.abspath(path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".partial",
                               dir=os.path.dirname(path))
    os.close(fd)
    try:
        write(tmp)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def same_file(a, b):
    """Whether two paths name one file: by any spelling, through links (symbolic or
    hard)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def rewrite_main(doc, rewrite, refusal):
    """The command line of a tool that rewrites one model: `MODEL OUT`, `rewrite(model)`
    in place (it returns a line saying what it did, or raises `refusal` with the reason,
    which ends the tool with nothing written), the result checked and written whole."""
    import argparse

    import onnx

    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("out")
    a = ap.parse_args()
    m = load_model_apart(a.model, a.out)
    try:
        what = rewrite(m)
    except refusal as e:
        sys.exit(f"{a.model}: nothing to rewrite: {e}")
    onnx.checker.check_model(m)
    write_whole(a.out, lambda tmp: onnx.save(m, tmp))
    print(f"{a.out}: {what}")


def load_model_apart(src, out):
    """The ONNX model at `src`, for a tool that writes a rewritten copy to `out`: exits with
    a message when `out` is `src` by any name (inputs are never overwritten) or `src` is no model."""
    import onnx  # here, not at the top: tools that write no model need not have onnx

    if same_file(src, out):
        sys.exit("the output must not be the input model")
    try:
        return onnx.load(src)
    except Exception as e:  # onnx raises several kinds for a file that is not a model
        sys.exit(f"{src}: not an ONNX model ({e})")
