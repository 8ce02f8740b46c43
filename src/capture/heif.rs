//! HEIF/HEIC stills (the iPhone's default) through the system's libheif (feature `heif`;
//! Debian `libheif-dev`, 1.15 or newer): the primary image, decoded to interleaved RGB.
//! Only the handful of C calls needed are declared here; the `libheif-rs` crate wants
//! libheif 1.17, newer than Debian 12 ships. libheif applies the file's own rotation and
//! mirror boxes (HEIF keeps the orientation there, not in EXIF) unless asked to keep the
//! stored pixels.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};

/// `enum heif_colorspace`: `heif_colorspace_RGB`.
const HEIF_COLORSPACE_RGB: c_int = 1;
/// `enum heif_chroma`: `heif_chroma_interleaved_RGB`.
const HEIF_CHROMA_INTERLEAVED_RGB: c_int = 10;
/// `enum heif_channel`: `heif_channel_interleaved`.
const HEIF_CHANNEL_INTERLEAVED: c_int = 10;
/// Largest side decoded (as for video frames): a bigger photo is refused, not allocated.
const MAX_SIDE: c_int = 16384;

#[repr(C)]
struct RawError {
    code: c_int,
    subcode: c_int,
    message: *const c_char,
}

/// The first, fixed fields of `struct heif_decoding_options` (version 1). The struct is
/// only ever allocated by libheif, which may make it longer; these two never move.
#[repr(C)]
struct DecodingOptionsHead {
    version: u8,
    ignore_transformations: u8,
}

#[link(name = "heif")]
extern "C" {
    fn heif_context_alloc() -> *mut c_void;
    fn heif_context_free(ctx: *mut c_void);
    fn heif_context_read_from_file(
        ctx: *mut c_void,
        filename: *const c_char,
        options: *const c_void,
    ) -> RawError;
    fn heif_context_get_primary_image_handle(ctx: *mut c_void, out: *mut *mut c_void) -> RawError;
    fn heif_image_handle_release(handle: *const c_void);
    fn heif_decoding_options_alloc() -> *mut DecodingOptionsHead;
    fn heif_decoding_options_free(options: *mut DecodingOptionsHead);
    fn heif_decode_image(
        handle: *const c_void,
        out: *mut *mut c_void,
        colorspace: c_int,
        chroma: c_int,
        options: *const DecodingOptionsHead,
    ) -> RawError;
    fn heif_image_get_width(img: *const c_void, channel: c_int) -> c_int;
    fn heif_image_get_height(img: *const c_void, channel: c_int) -> c_int;
    fn heif_image_get_plane_readonly(
        img: *const c_void,
        channel: c_int,
        out_stride: *mut c_int,
    ) -> *const u8;
    fn heif_image_release(img: *const c_void);
}

/// Why libheif could not give the picture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeifError {
    #[error("{path}: cannot read the HEIF/HEIC photo: {message}")]
    Decode { path: PathBuf, message: String },
}

/// Frees what libheif allocated, in any order of early return.
struct Guard {
    ctx: *mut c_void,
    handle: *mut c_void,
    image: *mut c_void,
    options: *mut DecodingOptionsHead,
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: each pointer is null or was returned by the matching libheif allocator
        // and is released exactly once, here.
        unsafe {
            if !self.image.is_null() {
                heif_image_release(self.image);
            }
            if !self.handle.is_null() {
                heif_image_handle_release(self.handle);
            }
            if !self.options.is_null() {
                heif_decoding_options_free(self.options);
            }
            if !self.ctx.is_null() {
                heif_context_free(self.ctx);
            }
        }
    }
}

fn check(e: RawError, path: &Path, what: &str) -> Result<(), HeifError> {
    if e.code == 0 {
        return Ok(());
    }
    let msg = if e.message.is_null() {
        String::new()
    } else {
        // SAFETY: libheif's messages are static NUL-terminated strings.
        unsafe { CStr::from_ptr(e.message) }
            .to_string_lossy()
            .trim()
            .to_string()
    };
    Err(HeifError::Decode {
        path: path.to_path_buf(),
        message: format!("{what}: {msg} (libheif error {}.{})", e.code, e.subcode),
    })
}

/// Decode the primary image of a HEIF/HEIC file as RGB; `transform`: apply the file's
/// rotation, mirror and crop boxes (the displayed orientation).
pub fn decode_rgb(path: &Path, transform: bool) -> Result<image::RgbImage, HeifError> {
    let fail = |message: &str| HeifError::Decode {
        path: path.to_path_buf(),
        message: message.to_string(),
    };
    let name = path
        .to_str()
        .and_then(|s| CString::new(s).ok())
        .ok_or_else(|| fail("the path is not valid UTF-8 or holds a NUL byte; rename it"))?;
    let mut g = Guard {
        ctx: std::ptr::null_mut(),
        handle: std::ptr::null_mut(),
        image: std::ptr::null_mut(),
        options: std::ptr::null_mut(),
    };
    // SAFETY: every call gets pointers libheif returned (checked for null) or a valid
    // NUL-terminated path; the guard releases them; the plane is read within the
    // height x stride bytes libheif reports for it, while the image is alive.
    unsafe {
        g.ctx = heif_context_alloc();
        if g.ctx.is_null() {
            return Err(fail("libheif could not allocate a context"));
        }
        check(
            heif_context_read_from_file(g.ctx, name.as_ptr(), std::ptr::null()),
            path,
            "reading",
        )?;
        check(
            heif_context_get_primary_image_handle(g.ctx, &mut g.handle),
            path,
            "finding the primary image",
        )?;
        g.options = heif_decoding_options_alloc();
        if g.options.is_null() {
            return Err(fail("libheif could not allocate decoding options"));
        }
        (*g.options).ignore_transformations = u8::from(!transform);
        check(
            heif_decode_image(
                g.handle,
                &mut g.image,
                HEIF_COLORSPACE_RGB,
                HEIF_CHROMA_INTERLEAVED_RGB,
                g.options,
            ),
            path,
            "decoding",
        )?;
        if g.image.is_null() {
            return Err(fail("decoding gave no image"));
        }
        let w = heif_image_get_width(g.image, HEIF_CHANNEL_INTERLEAVED);
        let h = heif_image_get_height(g.image, HEIF_CHANNEL_INTERLEAVED);
        if w <= 0 || h <= 0 {
            return Err(fail("the image is empty"));
        }
        if w > MAX_SIDE || h > MAX_SIDE {
            return Err(fail(&format!(
                "{w}x{h} is larger than the {MAX_SIDE} pixel limit"
            )));
        }
        let mut stride: c_int = 0;
        let plane = heif_image_get_plane_readonly(g.image, HEIF_CHANNEL_INTERLEAVED, &mut stride);
        let row = w as usize * 3;
        if plane.is_null() || (stride as usize) < row {
            return Err(fail("libheif gave no RGB plane"));
        }
        let mut rgb = Vec::with_capacity(row * h as usize);
        for y in 0..h as usize {
            let line = std::slice::from_raw_parts(plane.add(y * stride as usize), row);
            rgb.extend_from_slice(line);
        }
        image::RgbImage::from_raw(w as u32, h as u32, rgb)
            .ok_or_else(|| fail("the decoded buffer does not match its size"))
    }
}
