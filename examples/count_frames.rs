fn main() {
    let p = std::env::args().nth(1).unwrap();
    let mut src =
        facetrack::capture::video::VideoFile::open(std::path::Path::new(&p), false).unwrap();
    let mut n = 0;
    let mut last = 0.0;
    while let Some(f) = facetrack::capture::source::FrameSource::next_frame(&mut src).unwrap() {
        n += 1;
        last = f.timestamp;
    }
    println!(
        "{n} frames, last at {last}, skipped {}",
        facetrack::capture::source::FrameSource::skipped(&src)
    );
}
