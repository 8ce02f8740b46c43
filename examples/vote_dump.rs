//! Writes the tracked crops of one split of a 300-W-style dataset with their true points,
//! for studying the heat-map decoder offline: `PREFIX-crops.npy` `[N, 1, H, W]` float32
//! (sampled as the model samples them) and `PREFIX-points.npy` `[N, 68, 2]` float32, the
//! true points in the model's grid cells (0..grid across the crop).
//!
//! cargo run --release --example vote_dump -- models/facetrack68-fp32.onnx ../shared/data/300w val /tmp/val

use std::io::Write;

use facetrack::data::datasets::{load, part_of, LoadOptions, Part};
use facetrack::data::jitter::tracked_crop;
use facetrack::inference::preprocess::append_crop;
use facetrack::{GrayImage, LandmarkModel, ModelOptions};

fn write_npy(path: &str, shape: &[usize], v: &[f32]) -> std::io::Result<()> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    for x in v {
        f.write_all(&x.to_le_bytes())?;
    }
    f.flush()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, data, split, prefix] = args.as_slice() else {
        return Err("usage: vote_dump MODEL DATA train|val|test PREFIX".into());
    };
    let want = match split.as_str() {
        "train" => Part::Train,
        "val" => Part::Validation,
        "test" => Part::Test,
        _ => return Err("split: train, val or test".into()),
    };
    let m = LandmarkModel::from_file(model.as_ref(), ModelOptions::default())?;
    let c = m.contract().clone();
    let facetrack::core::contract::OutputKind::Pip { grid_w, grid_h, .. } = c.output else {
        return Err("not a heat-map model".into());
    };
    let (gw, gh) = (grid_w as f32, grid_h as f32);
    let ds = load(data.as_ref(), LoadOptions::ibug68())?;
    let (w, h) = (c.input_width as usize, c.input_height as usize);
    let (mut crops, mut pts) = (Vec::new(), Vec::new());
    let mut n = 0usize;
    for s in ds
        .samples
        .iter()
        .filter(|s| part_of(&s.subject, 0.1, 42) == want)
    {
        let img = GrayImage::open(&s.image)?;
        let t = tracked_crop(&s.points, &c, (img.width(), img.height()), n as u64);
        append_crop(&img, &t, &c, &mut crops);
        for p in &s.points {
            let q = t.to_crop(*p);
            pts.push((q.x + 1.0) * 0.5 * gw);
            pts.push((q.y + 1.0) * 0.5 * gh);
        }
        n += 1;
    }
    write_npy(&format!("{prefix}-crops.npy"), &[n, 1, h, w], &crops)?;
    write_npy(&format!("{prefix}-points.npy"), &[n, 68, 2], &pts)?;
    eprintln!("{n} faces of the {split} split -> {prefix}-crops.npy, {prefix}-points.npy");
    Ok(())
}
