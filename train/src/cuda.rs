//! Loading libtorch's CUDA half. The trainer is linked against libtorch's CPU library
//! only (the CPU libtorch it is built with has no other), and libtorch registers its CUDA
//! backend when `libtorch_cuda.so` is loaded. Loading that library before the first CUDA
//! query lets the same binary train on a GPU with a CUDA build of torch 2.11.0 on the
//! library path (e.g. the `torch/lib` folder of a PyTorch install: `tools/gpu/train.sh`).

use std::ffi::{CStr, CString};

use anyhow::{bail, Result};

/// Load `libtorch_cuda.so` (or the file `FTRAIN_TORCH_CUDA` names) for the whole process,
/// before anything asks libtorch about CUDA. With `required`, a library that cannot be
/// loaded is an error naming what was tried; without, it is left out quietly.
pub fn load_torch_cuda(required: bool) -> Result<()> {
    let name = std::env::var("FTRAIN_TORCH_CUDA").unwrap_or_else(|_| "libtorch_cuda.so".into());
    let Ok(c) = CString::new(name.clone()) else {
        bail!("FTRAIN_TORCH_CUDA holds a NUL byte");
    };
    // SAFETY: dlopen with a valid C string; the handle is kept for the process's life
    // (libtorch's CUDA backend must stay loaded).
    let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if !handle.is_null() {
        return Ok(());
    }
    if !required {
        return Ok(());
    }
    // SAFETY: dlerror returns a thread-local C string or null, read at once.
    let why = unsafe {
        let e = libc::dlerror();
        if e.is_null() {
            "unknown error".to_string()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    };
    bail!(
        "--device cuda: could not load {name} ({why}); put the torch/lib folder of a CUDA build of torch 2.11.0 on LD_LIBRARY_PATH (tools/gpu/train.sh does), or name the library in FTRAIN_TORCH_CUDA"
    )
}
