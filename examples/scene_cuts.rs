//! The figures behind the scene-cut rule (`src/tracking/scene_cut.rs`): for each video,
//! the correlation and difference of every frame's signature with the frame before's,
//! the frames the rule calls cuts, and the lowest correlation among the other frames.
//!
//! cargo run --release --example scene_cuts -- VIDEO...

use facetrack::capture::source::FrameSource;
use facetrack::capture::video::VideoFile;
use facetrack::tracking::scene_cut::Signature;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let videos: Vec<String> = std::env::args().skip(1).collect();
    if videos.is_empty() {
        return Err("usage: scene_cuts VIDEO...".into());
    }
    for v in &videos {
        let mut src = VideoFile::open(std::path::Path::new(v), false)?;
        let mut last: Option<Signature> = None;
        let (mut cuts, mut lowest) = (Vec::new(), (f32::INFINITY, 0u64));
        while let Some(frame) = src.next_frame()? {
            let now = Signature::of(frame.gray());
            if let Some((c, d)) = last.as_ref().and_then(|l| l.compare(&now)) {
                let n = frame.index + 1;
                if last.as_ref().is_some_and(|l| l.cut_to(&now)) {
                    cuts.push(format!("frame {n} (correlation {c:.2}, difference {d:.1})"));
                } else if c < lowest.0 {
                    lowest = (c, n);
                }
            }
            last = Some(now);
        }
        println!(
            "{v}: cuts at {}",
            if cuts.is_empty() {
                "none".into()
            } else {
                cuts.join(", ")
            }
        );
        println!(
            "  lowest correlation elsewhere: {:.2} (frame {})",
            lowest.0, lowest.1
        );
    }
    Ok(())
}
