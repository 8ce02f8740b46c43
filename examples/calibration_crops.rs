//! Writes the crops that calibrate an INT8 model (`tools/quantize.py`): training-part
//! 300-W faces (never a validation or test face), cropped as the tracker crops them
//! (`data::jitter::tracked_crop`) and sampled as the model samples them
//! (`inference::preprocess::sample_crop` with the model's contract), as one float32 `.npy`
//! array `[N, 1, H, W]`.
//!
//! cargo run --release --example calibration_crops -- models/facetrack68.onnx ../shared/data/300w /tmp/calib.npy 600

use std::io::Write;

use facetrack::data::datasets::{load, part_of, LoadOptions, Part};
use facetrack::data::jitter::tracked_crop;
use facetrack::inference::preprocess::append_crop;
use facetrack::{GrayImage, LandmarkModel, ModelOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, data, out, rest @ ..] = args.as_slice() else {
        return Err("usage: calibration_crops MODEL DATA OUT.npy [COUNT]".into());
    };
    let count: usize = rest.first().map(|c| c.parse()).transpose()?.unwrap_or(600);
    let m = LandmarkModel::from_file(model.as_ref(), ModelOptions::default())?;
    let c = m.contract().clone();
    let ds = load(data.as_ref(), LoadOptions::ibug68())?;
    let train: Vec<_> = ds
        .samples
        .iter()
        .filter(|s| part_of(&s.subject, 0.1, 42) == Part::Train)
        .collect();
    if train.is_empty() {
        return Err("no training faces".into());
    }
    // spread the crops over the whole training part
    let step = (train.len() / count.max(1)).max(1);
    let (w, h) = (c.input_width as usize, c.input_height as usize);
    let mut crops: Vec<f32> = Vec::new();
    let mut n = 0;
    for (i, s) in train.iter().enumerate().step_by(step).take(count) {
        let img = GrayImage::open(&s.image)?;
        let t = tracked_crop(&s.points, &c, (img.width(), img.height()), i as u64);
        append_crop(&img, &t, &c, &mut crops);
        n += 1;
    }
    // .npy version 1.0: magic, header length, a Python dict padded to 64 bytes
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, 1, {h}, {w}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(out)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    for v in &crops {
        f.write_all(&v.to_le_bytes())?;
    }
    f.flush()?;
    eprintln!(
        "{n} crops of {w}x{h} from {} training faces -> {out}",
        train.len()
    );
    Ok(())
}
