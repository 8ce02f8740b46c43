//! Computes the 3-D mean face shape used for head pose (`src/core/head_pose.rs`) from the
//! 300-W training landmarks alone (test subjects left out): rigid factorisation
//! (Tomasi and Kanade, IJCV 1992) of all faces' centred 2-D shapes into one 3-D shape
//! and per-face scaled-orthographic cameras, with the metric upgrade that makes each
//! camera's two rows orthogonal and of equal length. The shape is then turned into the
//! camera frame (x right, y down, z away from the camera, nose toward it), made
//! left-right symmetric with the mirror permutation, centred, and scaled so the outer eye
//! corners are 90 mm apart (the adult mean exocanthion distance, Farkas 1994). Writes the
//! 68 points (mm) as a Rust array to the path given (`src/core/mean_shape_3d.in`).
//!
//! cargo run --release --example calibrate_shape3d -- ../shared/data/300w src/core/mean_shape_3d.in

// Small dense matrix code: indices read as the formulas do.
#![allow(clippy::needless_range_loop)]

use facetrack::core::layout::MIRROR68;
use facetrack::data::datasets::{is_test_subject, load, LoadOptions};

/// Outer eye corner distance of the result, mm.
const EYE_CORNERS_MM: f64 = 90.0;

/// Symmetric eigen-decomposition by Jacobi rotations (small matrices only).
fn jacobi(a: &mut [Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v = vec![vec![0.0; n]; n];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _ in 0..100 {
        let mut off = 0.0;
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    off += a[i][j] * a[i][j];
                }
            }
        }
        if off < 1e-22 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = args.next().unwrap_or_else(|| "../shared/data/300w".into());
    let out = args.next();
    let ds = load(data.as_ref(), LoadOptions::ibug68())?;
    // centred, unit-RMS 2-D shapes: rows x and y per face
    let mut w: Vec<[f64; 68]> = Vec::new();
    for s in ds.samples.iter().filter(|s| !is_test_subject(&s.subject)) {
        let n = 68.0;
        let (mx, my) = s.points.iter().fold((0.0, 0.0), |(a, b), p| {
            (a + p.x as f64 / n, b + p.y as f64 / n)
        });
        let rms = (s
            .points
            .iter()
            .map(|p| (p.x as f64 - mx).powi(2) + (p.y as f64 - my).powi(2))
            .sum::<f64>()
            / n)
            .sqrt()
            .max(1e-9);
        let mut rx = [0.0; 68];
        let mut ry = [0.0; 68];
        for (i, p) in s.points.iter().enumerate() {
            rx[i] = (p.x as f64 - mx) / rms;
            ry[i] = (p.y as f64 - my) / rms;
        }
        w.push(rx);
        w.push(ry);
    }
    let faces = w.len() / 2;
    println!("{faces} training faces");
    // rank-3 factorisation through the 68 x 68 matrix W^T W
    let mut wtw = vec![vec![0.0; 68]; 68];
    for row in &w {
        for i in 0..68 {
            for j in 0..68 {
                wtw[i][j] += row[i] * row[j];
            }
        }
    }
    let (vals, vecs) = jacobi(&mut wtw);
    let mut order: Vec<usize> = (0..68).collect();
    order.sort_by(|&a, &b| vals[b].total_cmp(&vals[a]));
    let top: Vec<usize> = order[..3].to_vec();
    println!(
        "singular values: {:.1} {:.1} {:.1}, then {:.2} (rank-3 share {:.1} %)",
        vals[top[0]].sqrt(),
        vals[top[1]].sqrt(),
        vals[top[2]].sqrt(),
        vals[order[3]].sqrt(),
        100.0 * top.iter().map(|&k| vals[k]).sum::<f64>() / vals.iter().sum::<f64>()
    );
    // S_hat (3 x 68) = rows of V; M_hat (2F x 3) = W V
    let s_hat: Vec<[f64; 68]> = top
        .iter()
        .map(|&k| {
            let mut r = [0.0; 68];
            for i in 0..68 {
                r[i] = vecs[i][k];
            }
            r
        })
        .collect();
    let m_hat: Vec<[f64; 3]> = w
        .iter()
        .map(|row| {
            let mut m = [0.0; 3];
            for (k, s) in s_hat.iter().enumerate() {
                m[k] = (0..68).map(|i| row[i] * s[i]).sum();
            }
            m
        })
        .collect();
    // metric upgrade: L = Q Q^T symmetric (6 unknowns); per face m1 L m1 = m2 L m2, m1 L m2 = 0
    let sym = |a: &[f64; 3], b: &[f64; 3]| -> [f64; 6] {
        [
            a[0] * b[0],
            a[0] * b[1] + a[1] * b[0],
            a[0] * b[2] + a[2] * b[0],
            a[1] * b[1],
            a[1] * b[2] + a[2] * b[1],
            a[2] * b[2],
        ]
    };
    let mut ata = [[0.0f64; 6]; 6];
    let mut atb = [0.0f64; 6];
    let mut add = |r: [f64; 6], rhs: f64| {
        for i in 0..6 {
            for j in 0..6 {
                ata[i][j] += r[i] * r[j];
            }
            atb[i] += r[i] * rhs;
        }
    };
    let mut mean_norm = [0.0f64; 6];
    for f in 0..faces {
        let (m1, m2) = (&m_hat[2 * f], &m_hat[2 * f + 1]);
        let a = sym(m1, m1);
        let b = sym(m2, m2);
        add(std::array::from_fn(|i| a[i] - b[i]), 0.0);
        add(sym(m1, m2), 0.0);
        for i in 0..6 {
            mean_norm[i] += (a[i] + b[i]) / (2.0 * faces as f64);
        }
    }
    // the scale: the mean squared row norm is 1 (weighted heavily)
    let k = faces as f64;
    add(mean_norm.map(|v| v * k), k);
    // solve the 6x6 normal equations (Gaussian elimination)
    let mut aug: Vec<Vec<f64>> = (0..6)
        .map(|i| {
            let mut r = ata[i].to_vec();
            r.push(atb[i]);
            r
        })
        .collect();
    for c in 0..6 {
        let p = (c..6)
            .max_by(|&a, &b| aug[a][c].abs().total_cmp(&aug[b][c].abs()))
            .unwrap_or(c);
        aug.swap(c, p);
        for r in 0..6 {
            if r != c {
                let f = aug[r][c] / aug[c][c];
                for j in c..7 {
                    aug[r][j] -= f * aug[c][j];
                }
            }
        }
    }
    let l: Vec<f64> = (0..6).map(|i| aug[i][6] / aug[i][i]).collect();
    let mut lm = vec![
        vec![l[0], l[1], l[2]],
        vec![l[1], l[3], l[4]],
        vec![l[2], l[4], l[5]],
    ];
    let (ev, evec) = jacobi(&mut lm);
    println!("metric matrix eigenvalues: {ev:.4?}");
    if ev.iter().any(|&e| e <= 0.0) {
        return Err("the metric upgrade is not positive definite".into());
    }
    // S = Q^-1 S_hat with Q = E sqrt(D): Q^-1 = D^-1/2 E^T
    let mut shape = [[0.0f64; 3]; 68];
    for i in 0..68 {
        for r in 0..3 {
            let mut v = 0.0;
            for c in 0..3 {
                v += evec[c][r] * s_hat[c][i];
            }
            shape[i][r] = v / ev[r].sqrt();
        }
    }
    // the camera frame: x from the image-left eye to the image-right eye, y down toward
    // the mouth, z = x cross y (away from the camera)
    let centre = |idx: std::ops::Range<usize>| -> [f64; 3] {
        let n = idx.len() as f64;
        let mut c = [0.0; 3];
        for i in idx {
            for k in 0..3 {
                c[k] += shape[i][k] / n;
            }
        }
        c
    };
    let (le, re, mouth) = (centre(36..42), centre(42..48), centre(48..60));
    let sub = |a: [f64; 3], b: [f64; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let norm = |a: [f64; 3]| {
        let n = dot(a, a).sqrt();
        [a[0] / n, a[1] / n, a[2] / n]
    };
    let cross = |a: [f64; 3], b: [f64; 3]| {
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    };
    let x = norm(sub(re, le));
    let eyes = [
        (le[0] + re[0]) / 2.0,
        (le[1] + re[1]) / 2.0,
        (le[2] + re[2]) / 2.0,
    ];
    let down = sub(mouth, eyes);
    let y = norm(sub(down, x.map(|v| v * dot(down, x))));
    let z = cross(x, y);
    let mut p: Vec<[f64; 3]> = shape
        .iter()
        .map(|s| [dot(*s, x), dot(*s, y), dot(*s, z)])
        .collect();
    // the factorisation cannot tell a shape from its depth mirror: the nose points at
    // the camera (smaller z than the eyes)
    let eye_z = (36..48).map(|i| p[i][2]).sum::<f64>() / 12.0;
    if p[30][2] > eye_z {
        for q in &mut p {
            q[2] = -q[2];
        }
    }
    // symmetric, centred, in millimetres
    let sym_pts: Vec<[f64; 3]> = (0..68)
        .map(|i| {
            let m = p[MIRROR68[i]];
            [
                (p[i][0] - m[0]) / 2.0,
                (p[i][1] + m[1]) / 2.0,
                (p[i][2] + m[2]) / 2.0,
            ]
        })
        .collect();
    let c = {
        let mut c = [0.0; 3];
        for q in &sym_pts {
            for k in 0..3 {
                c[k] += q[k] / 68.0;
            }
        }
        c
    };
    let d = sub(sym_pts[45], sym_pts[36]);
    let scale = EYE_CORNERS_MM / dot(d, d).sqrt();
    let text = format!(
        "[\n{}\n]\n",
        sym_pts
            .iter()
            .map(|q| format!(
                "    [{:.2}, {:.2}, {:.2}],",
                (q[0] - c[0]) * scale,
                (q[1] - c[1]) * scale,
                (q[2] - c[2]) * scale
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let depth = (sym_pts[30][2] - (sym_pts[36][2] + sym_pts[45][2]) / 2.0) * scale;
    println!("nose tip {depth:.1} mm in front of the outer eye corners' plane");
    match out {
        Some(path) => std::fs::write(&path, text)?,
        None => print!("{text}"),
    }
    Ok(())
}
