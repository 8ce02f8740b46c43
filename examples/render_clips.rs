//! Renders evaluation clips with exact ground truth from faces of a 300-W folder:
//! `NAME.mp4` + `NAME.gt.csv` (facetrack's CSV layout), the input of
//! `facetrack eval --clips` and of `bench/compare.sh`. Nothing rendered is committed.
//!
//! cargo run --release --example render_clips -- ../shared/data OUT_DIR [COUNT] [FRAMES]

#[path = "../tests/common/render.rs"]
mod render;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = std::path::PathBuf::from(args.next().ok_or("usage: render_clips DATA OUT [COUNT]")?);
    let out = std::path::PathBuf::from(args.next().ok_or("usage: render_clips DATA OUT [COUNT]")?);
    let count: usize = args.next().map(|c| c.parse()).transpose()?.unwrap_or(4);
    let frames: usize = args.next().map(|c| c.parse()).transpose()?.unwrap_or(90);
    std::fs::create_dir_all(&out)?;
    let folders = ["300w/lfpw_train", "300w/helen_train", "300w/afw"];
    for k in 0..count {
        let face = render::load_face(&data, folders[k % folders.len()], 7 + 11 * k);
        let poses: Vec<_> =
            render::smooth_motion(&face, frames, 60.0 + 10.0 * (k % 3) as f32, 50.0)
                .into_iter()
                .map(Some)
                .collect();
        let name = format!("clip{k}");
        render::write_clip(
            &face,
            &poses,
            &out.join(format!("{name}.mp4")),
            Some(&out.join(format!("{name}.gt.csv"))),
        );
        println!("{}", out.join(format!("{name}.mp4")).display());
    }
    Ok(())
}
