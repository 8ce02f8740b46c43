//! Frames from Python: a numpy `uint8` array checked for its dtype, shape and channel
//! order (named in the errors), and turned into the library's pixel views.

use facetrack::GrayImage;
use numpy::{PyArrayDescrMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::errors::err;

/// The shapes and dtype a frame may have, for error messages.
const FRAME_SHAPES: &str = "a uint8 array, H x W (gray) or H x W x 3 (channels='rgb' or 'bgr') \
                            or H x W x 4 (channels='rgba' or 'bgra')";

/// `obj` as a `uint8` array; anything else is a `TypeError` that says what was given and
/// what is expected (a float32, uint16 or bool frame, a list).
pub(crate) fn frame_arg<'py>(obj: &Bound<'py, PyAny>) -> PyResult<PyReadonlyArrayDyn<'py, u8>> {
    if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'py, u8>>() {
        return Ok(a);
    }
    // what was given, and the conversion that fits it
    let (got, fix) = match obj.cast::<PyUntypedArray>() {
        Ok(a) => {
            let dtype = a
                .dtype()
                .str()
                .map(|s| s.to_string())
                .unwrap_or_else(|_| "?".into());
            let d = a.dtype();
            let fix = match (d.kind(), d.itemsize()) {
                (b'b', _) => "a mask: (frame * 255).astype(np.uint8)",
                // 16-bit pixels: their high byte
                (b'u', 2) => "16-bit pixels: (frame >> 8).astype(np.uint8)",
                _ => {
                    "np.clip(frame, 0, 255).astype(np.uint8); floats in 0..1: multiply by 255 first"
                }
            };
            (format!("a {dtype} array of shape {:?}", a.shape()), fix)
        }
        Err(_) => {
            let name = obj
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "?".into());
            // a PIL image: its module is PIL.*
            let pil = obj
                .get_type()
                .module()
                .is_ok_and(|m| m.to_string().starts_with("PIL."));
            let fix = if pil {
                "a PIL image: np.asarray(image.convert('RGB'))"
            } else {
                "np.asarray(...) of uint8 pixels"
            };
            (name, fix)
        }
    };
    Err(PyTypeError::new_err(format!(
        "a frame is {FRAME_SHAPES}; got {got} (convert it, e.g. {fix})"
    )))
}

/// A frame's height, width, channels and whether its colour is blue first, checked
/// against `channels` (any case): "rgb" (the default for 3 channels), "bgr", "rgba",
/// "bgra" or "gray". A 4-channel frame must say which order it has: OpenCV's are BGRA,
/// most other libraries' RGBA, and guessing wrong would swap red and blue silently.
pub(crate) fn frame_layout(
    frame: &PyReadonlyArrayDyn<'_, u8>,
    channels: Option<&str>,
) -> PyResult<(usize, usize, usize, bool)> {
    let shape = frame.as_array().shape().to_vec();
    let (h, w, c) = match shape.as_slice() {
        [h, w] => (*h, *w, 1),
        [h, w, c] => (*h, *w, *c),
        _ => {
            return Err(PyValueError::new_err(format!(
                "a frame is {FRAME_SHAPES}; got shape {shape:?}"
            )))
        }
    };
    if h == 0 || w == 0 || h > 1 << 15 || w > 1 << 15 {
        return Err(PyValueError::new_err(format!(
            "frame size {w}x{h}: each side must be 1 to 32768 pixels"
        )));
    }
    let order = match channels.map(str::to_ascii_lowercase) {
        Some(o) => o,
        None if c == 1 => "gray".into(),
        None if c == 3 => "rgb".into(),
        None if c == 4 => {
            return Err(PyValueError::new_err(
                "a 4-channel frame needs channels='bgra' (OpenCV) or channels='rgba' \
                 (PIL, imageio): the order cannot be told from the pixels",
            ))
        }
        None => {
            return Err(PyValueError::new_err(format!(
                "a frame is {FRAME_SHAPES}; got {c} channels (shape {shape:?})"
            )))
        }
    };
    let want = match order.as_str() {
        "gray" => 1,
        "rgb" | "bgr" => 3,
        "rgba" | "bgra" => 4,
        _ => {
            return Err(PyValueError::new_err(format!(
                "channels={:?}: expected 'rgb', 'bgr', 'rgba', 'bgra' or 'gray'",
                channels.unwrap_or_default()
            )))
        }
    };
    if want != c {
        return Err(PyValueError::new_err(format!(
            "channels='{order}' needs {want} channel(s); the frame has {c} (shape {shape:?})"
        )));
    }
    Ok((h, w, c, order.starts_with("bgr")))
}

/// A frame as a gray image (the whole frame converted, in one pass).
pub(crate) fn to_gray(
    frame: &PyReadonlyArrayDyn<'_, u8>,
    channels: Option<&str>,
) -> PyResult<GrayImage> {
    let (h, w, c, blue_first) = frame_layout(frame, channels)?;
    let a = frame.as_array();
    // a copy first only when the array is not C-contiguous (a slice, a transposed view)
    let std_layout = a.as_standard_layout();
    let px = std_layout
        .as_slice()
        .ok_or_else(|| PyValueError::new_err("the frame's memory layout cannot be read"))?;
    if c == 1 {
        return GrayImage::from_raw(w as u32, h as u32, px.to_vec()).map_err(err);
    }
    // the library's luma weights, as the CLI
    let mut g = GrayImage::default();
    g.set_from_channels(w as u32, h as u32, px, c, blue_first)
        .map_err(err)?;
    Ok(g)
}
