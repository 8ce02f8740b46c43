//! Calibrates the aligned crop rule (`facetrack::core::crop_rule`): the 68-point mean shape in
//! the canonical frame, by generalised Procrustes analysis on the stable points of the
//! 300-W training faces (test subjects left out), normalised so that on average the
//! canonical origin is the landmark-box centre and one unit is its longer side. Writes
//! the shape as a Rust array (the contents of `src/core/mean_shape_68.in`) to the path given,
//! and prints how the aligned crop compares with the face-box crop on these faces.
//!
//! cargo run --release --example calibrate_crop -- ../shared/data/300w src/core/mean_shape_68.in

use facetrack::core::crop_rule::{fit_similarity, Similarity, STABLE_POINTS};
use facetrack::data::datasets::{is_test_subject, load, LoadOptions};
use facetrack::{FaceBox, Point};

const ITERATIONS: usize = 8;

fn inverse_apply(s: &Similarity, p: Point) -> [f32; 2] {
    let (sn, c) = s.angle.sin_cos();
    let (dx, dy) = (p.x - s.tx, p.y - s.ty);
    [(c * dx + sn * dy) / s.scale, (-sn * dx + c * dy) / s.scale]
}

fn percentile(v: &mut [f32], q: f32) -> f32 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f32 * q).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = args.next().unwrap_or_else(|| "../shared/data/300w".into());
    let out = args.next();
    let ds = load(std::path::Path::new(&data), LoadOptions::ibug68())?;
    let faces: Vec<Vec<Point>> = ds
        .samples
        .into_iter()
        .filter(|s| !is_test_subject(&s.subject) && s.points.len() == 68)
        .map(|s| s.points)
        .collect();
    println!("{} training faces", faces.len());
    // start from the first face, upright by its eye line
    let mut shape: Vec<[f32; 2]> = faces[0].iter().map(|p| [p.x, p.y]).collect();
    let mut aligned: Vec<Vec<[f32; 2]>> = Vec::new();
    for it in 0..ITERATIONS {
        let src: Vec<[f32; 2]> = STABLE_POINTS.iter().map(|&i| shape[i]).collect();
        aligned.clear();
        for f in &faces {
            let dst: Vec<Point> = STABLE_POINTS.iter().map(|&i| f[i]).collect();
            let Some(sim) = fit_similarity(&src, &dst) else {
                continue;
            };
            aligned.push(f.iter().map(|&p| inverse_apply(&sim, p)).collect());
        }
        // mean shape, then the mean landmark box of the aligned faces as the unit frame
        let n = aligned.len() as f32;
        let mut mean = vec![[0f32; 2]; 68];
        let (mut cx, mut cy, mut side) = (0f32, 0f32, 0f32);
        for a in &aligned {
            for (m, p) in mean.iter_mut().zip(a) {
                m[0] += p[0] / n;
                m[1] += p[1] / n;
            }
            let pts: Vec<Point> = a.iter().map(|p| Point::new(p[0], p[1])).collect();
            let b = FaceBox::from_points(&pts).ok_or("bad face")?;
            cx += b.center().x / n;
            cy += b.center().y / n;
            side += b.width.max(b.height) / n;
        }
        shape = mean
            .iter()
            .map(|m| [(m[0] - cx) / side, (m[1] - cy) / side])
            .collect();
        println!(
            "iteration {}: {} faces, box side {:.4}",
            it + 1,
            aligned.len(),
            side
        );
    }
    // how the rules compare on these faces (crop scale 1.5)
    let src: Vec<[f32; 2]> = STABLE_POINTS.iter().map(|&i| shape[i]).collect();
    let (mut ratio, mut roll) = (Vec::new(), Vec::new());
    let scales = [1.5f32, 1.6, 1.7, 1.8];
    let mut outside = [0usize; 4];
    for f in &faces {
        let dst: Vec<Point> = STABLE_POINTS.iter().map(|&i| f[i]).collect();
        let Some(sim) = fit_similarity(&src, &dst) else {
            continue;
        };
        let b = FaceBox::from_points(f).ok_or("bad face")?;
        ratio.push(sim.scale / b.width.max(b.height));
        roll.push(sim.angle.to_degrees().abs());
        // the largest |canonical coordinate| of any point: outside when over half the scale
        let reach = f
            .iter()
            .map(|&p| {
                let q = inverse_apply(&sim, p);
                q[0].abs().max(q[1].abs())
            })
            .fold(0f32, f32::max);
        for (o, s) in outside.iter_mut().zip(scales) {
            if reach > 0.5 * s {
                *o += 1;
            }
        }
    }
    println!(
        "aligned side / landmark-box side: p5 {:.3}, median {:.3}, p95 {:.3}",
        percentile(&mut ratio, 0.05),
        percentile(&mut ratio, 0.5),
        percentile(&mut ratio, 0.95)
    );
    println!(
        "|roll|: median {:.1} deg, p95 {:.1} deg",
        percentile(&mut roll, 0.5),
        percentile(&mut roll, 0.95),
    );
    for (o, s) in outside.iter().zip(scales) {
        println!(
            "faces with a point outside the aligned crop at scale {s}: {o} of {}",
            faces.len()
        );
    }
    let text = format!(
        "[\n{}\n]\n",
        shape
            .iter()
            .map(|p| format!("    [{:.5}, {:.5}],", p[0], p[1]))
            .collect::<Vec<_>>()
            .join("\n")
    );
    match out {
        Some(path) => std::fs::write(&path, text)?,
        None => print!("{text}"),
    }
    Ok(())
}
