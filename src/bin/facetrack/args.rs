//! Command-line arguments (clap) and their conversion into the library's settings; the
//! library never sees clap types.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use facetrack::core::head_pose::{Intrinsics, PoseOptions};
use facetrack::tracking::detector::DetectorOptions;
use facetrack::tracking::smoothing::OneEuroParams;
use facetrack::tracking::tracker::TrackerOptions;
use facetrack::{Device, ModelOptions};

#[derive(Parser)]
#[command(
    name = "facetrack",
    version,
    about = "68-point facial landmark tracking on video, images and cameras"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Track faces in video files and write landmark CSVs (OpenFace layout).
    Video(VideoArgs),
    /// Find faces and landmarks in still images.
    Image(ImageArgs),
    /// Measure accuracy on a labelled dataset or on clips with ground truth.
    Eval(EvalArgs),
    /// Live overlay from a camera (or a video played as one) in a window.
    Live(LiveArgs),
    /// List cameras and their formats.
    Cameras,
    /// Time each stage on this machine and print a table.
    Bench(BenchArgs),
    /// Show a model's contract and where the runtime and the model were found.
    Info(ModelArgs),
    /// Plot a video CSV's eye and mouth signals (and mean point confidence) over its
    /// frames, as a PNG.
    Plot(PlotArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    Cpu,
    Cuda,
}

#[derive(Args, Clone)]
pub struct ModelArgs {
    /// Landmark model (ONNX from facetrack's trainer); default: $FACETRACK_MODEL, else the
    /// shipped models/facetrack68.onnx (with --device cuda the float weights beside it,
    /// facetrack68-fp32.onnx, where they are there).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Where the model runs.
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceArg,
    /// Inference threads (0 = one per core; at most 256).
    #[arg(long, default_value_t = 0, value_parser = threads_arg)]
    pub threads: usize,
    /// Also run each face mirrored and average the two predictions, adding back the labels'
    /// x-offset the model learnt (its contract's flip_offset_px): about twice the inference
    /// time, the most accurate setting (test split 3.34 % against 3.42 %, detector boxes).
    #[arg(long)]
    pub flip: bool,
}

impl ModelArgs {
    /// `--model`, else the default for the device (on CUDA the float weights: see
    /// [`facetrack::inference::model_path::default_gpu_model`]).
    pub fn model_path(&self) -> Result<PathBuf> {
        use facetrack::inference::model_path::{
            default_gpu_model, default_model, DEFAULT_MODEL_FILE, FLOAT_MODEL_FILE, MODEL_VAR,
        };
        match (&self.model, self.device) {
            (Some(p), _) => Ok(p.clone()),
            (None, DeviceArg::Cpu) => default_model().map_err(anyhow::Error::msg),
            (None, DeviceArg::Cuda) => {
                let p = default_gpu_model().map_err(anyhow::Error::msg)?;
                if p.file_name().is_some_and(|n| n == DEFAULT_MODEL_FILE) {
                    eprintln!(
                        "note: --device cuda runs the 8-bit model {} (no {FLOAT_MODEL_FILE} beside it, or {MODEL_VAR} names it); its output layer runs on the CPU",
                        p.display()
                    );
                }
                Ok(p)
            }
        }
    }
    /// The ONNX Runtime build the device needs (the CUDA build also runs CPU sessions).
    pub fn flavor(&self) -> facetrack::inference::runtime::Flavor {
        match self.device {
            DeviceArg::Cpu => facetrack::inference::runtime::Flavor::Cpu,
            DeviceArg::Cuda => facetrack::inference::runtime::Flavor::Cuda,
        }
    }
    pub fn options(&self) -> ModelOptions {
        let mut o = ModelOptions::default();
        o.threads = self.threads;
        o.device = match self.device {
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Cuda => Device::Cuda(0),
        };
        o.flip_average = self.flip;
        o
    }
}

#[derive(Args, Clone)]
pub struct TrackArgs {
    /// Most faces tracked at once.
    #[arg(long, default_value_t = 4)]
    pub max_faces: usize,
    /// Run the face detector every N frames while faces are tracked (3N while every
    /// tracked face's landmarks are clear, never while --max-faces clear faces are tracked).
    #[arg(long, default_value_t = facetrack::tracking::tracker::DEFAULT_DETECT_EVERY)]
    pub detect_every: u64,
    /// Smallest face the detector looks for, pixels [default: 40, or 1/12 of the frame's
    /// shorter side when that is larger (90 at 1080p, 180 at 4K), so that detection costs
    /// the same at every resolution; give a number to search smaller faces].
    #[arg(long)]
    pub min_face: Option<u32>,
    /// Smooth the points with a One Euro filter (raw points otherwise).
    #[arg(long)]
    pub smooth: bool,
    /// One Euro cut-off at rest, Hz (lower = steadier).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub min_cutoff: f32,
    /// One Euro speed coefficient (higher = less lag).
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    pub beta: f32,
    #[command(flatten)]
    pub pose: PoseArgs,
}

/// The drawing style a `--points-only` flag asks for.
pub fn shape_style(points_only: bool) -> facetrack::output::draw::ShapeStyle {
    if points_only {
        facetrack::output::draw::ShapeStyle::Points
    } else {
        facetrack::output::draw::ShapeStyle::Outline
    }
}

/// The orientation rule a `--keep-orientation` flag asks for.
pub fn orientation_rule(keep: bool) -> facetrack::core::orientation::OrientationRule {
    if keep {
        facetrack::core::orientation::OrientationRule::Keep
    } else {
        facetrack::core::orientation::OrientationRule::Apply
    }
}

impl VideoArgs {
    pub fn style(&self) -> facetrack::output::draw::ShapeStyle {
        shape_style(self.points_only)
    }
}

impl TrackArgs {
    pub fn tracker(&self, smooth: bool) -> Result<TrackerOptions> {
        // the smoothing's values are checked even when it is off, so a typo is caught
        let mut o = TrackerOptions::default();
        o.max_faces = self.max_faces;
        o.detect_every = self.detect_every;
        o.smoothing = Some(self.one_euro());
        o.pose = self.pose.options()?;
        let mut checked = o.validate()?;
        checked.smoothing = checked.smoothing.filter(|_| smooth);
        Ok(checked)
    }
    /// The One Euro filter's settings of `--min-cutoff` and `--beta`.
    pub fn one_euro(&self) -> OneEuroParams {
        let mut p = OneEuroParams::default();
        p.min_cutoff = self.min_cutoff;
        p.beta = self.beta;
        p
    }
    pub fn detector(&self) -> DetectorOptions {
        let mut o = DetectorOptions::default();
        match self.min_face {
            Some(n) => o.min_face = n.max(20),
            None => o.min_face_share = facetrack::tracking::detector::VIDEO_MIN_FACE_SHARE,
        }
        o
    }
}

#[derive(Args)]
pub struct VideoArgs {
    /// Video files, or folders of them; `-` (or a pipe, a FIFO) reads a stream from
    /// standard input (a format FFmpeg can read as it comes: MPEG-TS, Matroska, an MP4
    /// with its index first).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// CSV output (one input); `-` for standard output.
    #[arg(long, conflicts_with = "out_dir", value_parser = output_path)]
    pub csv: Option<PathBuf>,
    /// Folder for one CSV per video, named after it.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Also write the video with points, boxes and ids drawn (H.264 MP4; one input).
    #[arg(long)]
    pub annotate: Option<PathBuf>,
    /// Videos processed at once with --out-dir (default, or 0: half the cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Replace outputs that already exist (they are replaced only when the run ends;
    /// without this flag an existing output is an error).
    #[arg(long, short = 'y')]
    pub overwrite: bool,
    /// Leave alone the videos whose outputs all exist already, and do the rest: finishes
    /// a stopped folder run (an interrupted video keeps its `.partial` names, so it is
    /// done again).
    #[arg(long, conflicts_with = "overwrite")]
    pub skip_existing: bool,
    /// Draw only the points in --annotate (default: the 68-point outline with its points).
    #[arg(long)]
    pub points_only: bool,
    /// Print per-stage timings.
    #[arg(long)]
    pub stats: bool,
    /// Also take the videos in the subfolders of folder inputs (their CSVs go into the
    /// same subfolders under --out-dir).
    #[arg(long, short = 'r')]
    pub recursive: bool,
    /// Keep each video's frames as they are stored, ignoring the stream's display matrix
    /// and pixel shape (default: show them the way players do, so that a phone video
    /// stored sideways is tracked upright, pixels that are not square (DV, HDV) are made
    /// square, and the points are in the displayed frame).
    #[arg(long)]
    pub keep_orientation: bool,
    /// Smooth the points two-sided: each frame with the frames before and after it, in
    /// the face's own frame, per track (no lag; expression changes of a frame or two
    /// survive). For files; `--smooth` is the one-sided filter for live use.
    #[arg(long, conflicts_with = "smooth")]
    pub smooth_offline: bool,
    #[command(flatten)]
    pub columns: CsvArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub track: TrackArgs,
}

#[derive(Args)]
pub struct ImageArgs {
    /// Image files, or folders of them; `-` reads a photo from standard input (a pipe
    /// or a FIFO may be named too; from those, JPEG, PNG, BMP, WebP or TIFF).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// CSV output (default, or `-`: standard output).
    #[arg(long, value_parser = output_path)]
    pub csv: Option<PathBuf>,
    /// Folder for annotated copies (PNG, named after each image).
    #[arg(long)]
    pub annotate: Option<PathBuf>,
    /// Replace outputs that already exist (without this flag an existing output is an
    /// error).
    #[arg(long, short = 'y')]
    pub overwrite: bool,
    /// Draw only the points in --annotate (default: the 68-point outline with its points).
    #[arg(long)]
    pub points_only: bool,
    /// Also take the images in the subfolders of folder inputs (their annotated copies
    /// go into the same subfolders under --annotate).
    #[arg(long, short = 'r')]
    pub recursive: bool,
    /// Keep each photo as its pixels are stored, ignoring its EXIF orientation tag
    /// (default: turn it the way photo viewers show it, so the points are in that
    /// orientation).
    #[arg(long)]
    pub keep_orientation: bool,
    /// Most faces per image.
    #[arg(long, default_value_t = 8, value_parser = at_least_one)]
    pub max_faces: usize,
    /// Smallest face the detector looks for, pixels.
    #[arg(long, default_value_t = facetrack::tracking::detector::DEFAULT_MIN_FACE)]
    pub min_face: u32,
    #[command(flatten)]
    pub columns: CsvArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub pose: PoseArgs,
}

/// The CSV's layout.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CsvFormatArg {
    /// Plain CSV (`,` between fields).
    Plain,
    /// OpenFace 2.x's spelling: `", "` between fields, so that scripts written for
    /// OpenFace find `' AU45_r'`, `' pose_Rx'`, `' x_0'`.
    Openface,
}

/// The CSV's optional columns and format.
#[derive(Args, Clone)]
pub struct CsvArgs {
    /// Add each point's confidence, `c_0..c_67` (the heat-map peak score, 0-1: low where
    /// a point is hidden or unclear), after the other columns.
    #[arg(long)]
    pub point_confidence: bool,
    /// The CSV's layout.
    #[arg(long, value_enum, default_value = "plain")]
    pub csv_format: CsvFormatArg,
}

impl CsvArgs {
    /// The columns asked for (`pose` is set where the pose options are known).
    pub fn columns(&self, pose: bool) -> facetrack::output::csv_out::CsvColumns {
        use facetrack::output::csv_out::{CsvColumns, CsvFormat};
        let mut c = CsvColumns::default();
        c.pose = pose;
        c.signals = true;
        c.point_confidence = self.point_confidence;
        c.format = match self.csv_format {
            CsvFormatArg::Plain => CsvFormat::Plain,
            CsvFormatArg::Openface => CsvFormat::OpenFace,
        };
        c
    }
}

/// Head pose options.
#[derive(Args, Clone)]
pub struct PoseArgs {
    /// Leave out the head pose (the pose_* columns and the drawn axes).
    #[arg(long)]
    pub no_pose: bool,
    /// Camera focal length in pixels, x (with --fy, --cx, --cy; default: OpenFace's guess,
    /// the mean of 500 x width / 640 and 500 x height / 480 for both axes).
    #[arg(long, requires_all = ["fy", "cx", "cy"], allow_negative_numbers = true)]
    pub fx: Option<f32>,
    #[arg(long, requires_all = ["fx", "cx", "cy"], allow_negative_numbers = true)]
    pub fy: Option<f32>,
    /// Principal point, pixels (default: the frame centre; it may lie outside the frame,
    /// e.g. `--cx -100` for a frame cropped from a larger picture).
    #[arg(long, requires_all = ["fx", "fy", "cy"], allow_negative_numbers = true)]
    pub cx: Option<f32>,
    #[arg(long, requires_all = ["fx", "fy", "cx"], allow_negative_numbers = true)]
    pub cy: Option<f32>,
}

impl PoseArgs {
    pub fn options(&self) -> Result<PoseOptions> {
        if self.no_pose {
            return Ok(PoseOptions::Off);
        }
        match (self.fx, self.fy, self.cx, self.cy) {
            (Some(fx), Some(fy), Some(cx), Some(cy)) => {
                let k = Intrinsics { fx, fy, cx, cy };
                if !k.is_plausible() {
                    bail!(
                        "--fx and --fy must be focal lengths of 1 to 1000000 pixels, and --cx and --cy within -1000000 to 1000000 (got {fx}, {fy}, {cx}, {cy})"
                    );
                }
                Ok(PoseOptions::Camera(k))
            }
            _ => Ok(PoseOptions::Guess),
        }
    }
}

#[derive(Args)]
#[command(mut_arg("smooth", |a| a.help(
    "Accepted and changes nothing: live mode smooths by default (--no-smooth turns it off)"
)))]
pub struct LiveArgs {
    /// Camera index (see `facetrack cameras`).
    #[arg(long, default_value_t = 0, conflicts_with = "source")]
    pub camera: u32,
    /// Camera resolution WxH.
    #[arg(long, conflicts_with = "source")]
    pub resolution: Option<String>,
    /// Camera frame rate (a --source file plays at its own rate).
    #[arg(long, conflicts_with = "source")]
    pub fps: Option<u32>,
    /// Play this video file as if it were a camera, at its own rate.
    #[arg(long)]
    pub source: Option<PathBuf>,
    /// With --source: keep the file's frames as stored, ignoring its display matrix and
    /// pixel shape (default: show them the way players do).
    #[arg(long, requires = "source")]
    pub keep_orientation: bool,
    /// Turn the One Euro smoothing off (on by default in live mode).
    #[arg(long)]
    pub no_smooth: bool,
    /// Record a landmark CSV from the start (same layout as `video`; `-` for standard
    /// output).
    #[arg(long, value_parser = output_path)]
    pub record: Option<PathBuf>,
    /// Also write the displayed frames, annotated, to this video (H.264 MP4).
    #[arg(long)]
    pub annotate: Option<PathBuf>,
    /// Stream the landmarks as JSON lines to this file, or to standard output with `-`:
    /// one object per face per frame, with the CSV's field names, flushed frame by frame.
    #[arg(long, value_name = "PATH")]
    pub jsonl: Option<PathBuf>,
    /// Draw only the points in --annotate (default: the 68-point outline with its points).
    #[arg(long)]
    pub points_only: bool,
    /// Replace --record / --annotate / --jsonl / --screenshot if they exist (when the
    /// session ends; without this flag an existing output is an error).
    #[arg(long, short = 'y')]
    pub overwrite: bool,
    /// Stop after N displayed frames (at least 1).
    #[arg(long, value_parser = frame_count)]
    pub frames: Option<u64>,
    /// Save the last window image at exit, as a PNG (NAME.png).
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Folder for `r` recordings and `c` screenshots.
    #[arg(long, default_value = "recordings")]
    pub recordings: PathBuf,
    /// Print the session's figures at exit (also printed without it).
    #[arg(long)]
    pub stats: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub track: TrackArgs,
}

/// Parse `WxH`.
pub fn parse_resolution(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| anyhow::anyhow!("--resolution '{s}' is not WxH"))?;
    let side = |v: &str| {
        v.trim()
            .parse::<u32>()
            .map_err(|_| anyhow::anyhow!("--resolution '{s}' is not WxH (whole numbers of pixels)"))
    };
    let (w, h) = (side(w)?, side(h)?);
    if w == 0 || h == 0 {
        bail!("--resolution '{s}' has a zero side");
    }
    Ok((w, h))
}

/// `facetrack plot`.
#[derive(Args)]
pub struct PlotArgs {
    /// A video CSV written by `facetrack video` (plain or OpenFace format).
    pub csv: PathBuf,
    /// The PNG to write (`-`: standard output).
    #[arg(long, value_parser = output_path)]
    pub out: PathBuf,
    /// The face id to plot (default: the face in the most rows).
    #[arg(long, allow_negative_numbers = true)]
    pub face: Option<i64>,
    /// Chart width, pixels (200 to 8192).
    #[arg(long, default_value_t = 1200, value_parser = clap::value_parser!(u32).range(200..=8192))]
    pub width: u32,
    /// Chart height, pixels (150 to 8192).
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(150..=8192))]
    pub height: u32,
    /// Plot over the CSV's `timestamp` (seconds: a variable frame rate's true times)
    /// instead of the frame number.
    #[arg(long)]
    pub time: bool,
    /// Replace the PNG if it exists.
    #[arg(long, short = 'y')]
    pub overwrite: bool,
}

/// `facetrack bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Video for the end-to-end row (default: the demo video from ./setup.sh).
    #[arg(long)]
    pub video: Option<PathBuf>,
    /// Repetitions of each micro-benchmark (at least 1); a batch row of B faces runs
    /// iters / B times, but at least 20 times (or iters times, if fewer).
    #[arg(long, default_value_t = 200, value_parser = at_least_one)]
    pub iters: usize,
    /// Batch sizes for the batch rows (faces per model run, on --device).
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    pub batch: Vec<usize>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `facetrack eval`: where the faces' boxes come from.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BoxSource {
    /// The bounding box of the ground-truth points (as the tracker takes it from the previous frame).
    Gt,
    /// The ground-truth crop moved, resized (and, for aligned models, turned) by the
    /// tracker's typical error (3 % shift, 4 % size, 2° roll, standard deviations): exactly
    /// the crops of the trainer's validation (`facetrack::data::jitter::tracked_crop`).
    Tracked,
    /// The face detector's boxes; faces it misses are counted.
    Detector,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitPart {
    Test,
    Val,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("inputs").args(["data", "clips"]).required(true)))]
pub struct EvalArgs {
    /// Labelled data: a folder of .pts, an IMM folder, a dlib XML or a CSV.
    #[arg(long = "data")]
    pub data: Vec<PathBuf>,
    /// A folder of NAME.mp4 clips, each with NAME.gt.csv (facetrack's CSV layout).
    #[arg(long, conflicts_with = "data")]
    pub clips: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "gt", conflicts_with = "clips")]
    pub boxes: BoxSource,
    /// Evaluate only the subjects the trainer held out with this fraction (and --seed),
    /// as version 1 models were trained (before the fixed test split existed).
    #[arg(long, conflicts_with_all = ["split", "clips"], value_parser = share)]
    pub holdout: Option<f32>,
    /// Evaluate one part of the trainer's split: `test` (the fixed test subjects no
    /// training choice sees) or `val` (the validation subjects for --val-fraction and
    /// --seed, test subjects excluded).
    #[arg(long, value_enum, conflicts_with = "clips")]
    pub split: Option<SplitPart>,
    /// Validation share of the trainer's split (with --split val).
    #[arg(long, default_value_t = 0.1, value_parser = share, conflicts_with = "clips")]
    pub val_fraction: f32,
    /// IMM data: keep only the test persons of the original work (33-40).
    #[arg(long, conflicts_with = "clips")]
    pub imm_test: bool,
    /// Seed of the held-out split.
    #[arg(long, default_value_t = 42, conflicts_with = "clips")]
    pub seed: u64,
    /// Label files are 0-based (dlib/OpenCV) rather than 1-based.
    #[arg(long, conflicts_with = "clips")]
    pub zero_based: bool,
    /// Also measure how far the points move under one gray level of pixel noise
    /// ({-1, 0, +1}, seeded, a few draws a face) on the same crops, as a percentage of
    /// the inter-ocular distance (mean and p95 over faces; JSON key `noise`).
    #[arg(long, conflicts_with = "clips")]
    pub noise: bool,
    /// Measure the eye signals and the per-point confidence instead of NME: how well
    /// predicted eye openness separates the labelled closed eyes from the open ones
    /// (AUC), the mean point error by confidence decile, and the hidden points' scores
    /// with a hand-sized block and a mask pasted on each face (68-point heat-map models;
    /// --boxes gt or tracked).
    #[arg(long, conflicts_with_all = ["clips", "noise"])]
    pub signals: bool,
    /// Models with a vote window (`facetrack.pip_window`, `train fit --offset-window`):
    /// decode with this weight of the window's other cells (0 to 1) instead of the
    /// model's own, to choose it on validation faces.
    #[arg(long, value_name = "W")]
    pub window_weight: Option<f32>,
    /// Write the summary as JSON.
    #[arg(long, value_parser = report_path)]
    pub json: Option<PathBuf>,
    /// Write one row per face: image, NME, pixel error, eye distance and the predicted points
    /// (x_0..x_N, y_0..y_N, image pixels).
    #[arg(long, conflicts_with = "clips", value_parser = report_path)]
    pub per_face: Option<PathBuf>,
    /// Write the cumulative error curve and best/worst grids here.
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// With --clips: score the points smoothed two-sided (`video --smooth-offline`).
    #[arg(long, conflicts_with = "smooth")]
    pub smooth_offline: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub track: TrackArgs,
}

impl EvalArgs {
    /// The model's options, with the window weight asked for.
    pub fn model_options(&self) -> ModelOptions {
        let mut o = self.model.options();
        o.window_weight = self.window_weight;
        o
    }
}

/// The two-sided smoothing a `--smooth-offline` flag asks for.
pub fn two_sided(on: bool) -> Option<facetrack::tracking::two_sided::TwoSidedParams> {
    on.then(Default::default)
}

/// An output path as given, `-` meaning standard output (`/dev/stdout`, written in place).
fn output_path(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        return Err("an empty path".into());
    }
    Ok(PathBuf::from(if s == "-" { "/dev/stdout" } else { s }))
}

/// A report file of `eval`: not `-`, since standard output carries its summary (a file
/// of that name would be made instead).
fn report_path(s: &str) -> Result<PathBuf, String> {
    match s {
        "" => Err("an empty path".into()),
        "-" => Err("eval prints its summary on standard output; name a file for the report".into()),
        _ => Ok(PathBuf::from(s)),
    }
}

/// `--threads`: 0 (one per core) to 256.
fn threads_arg(s: &str) -> Result<usize, String> {
    use facetrack::inference::model::MAX_THREADS;
    match s.parse::<usize>() {
        Ok(n) if n <= MAX_THREADS => Ok(n),
        _ => Err(format!(
            "a whole number from 0 (one thread per core) to {MAX_THREADS}"
        )),
    }
}

/// A number of frames, at least 1.
fn frame_count(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("a whole number of frames, at least 1".into()),
    }
}

/// A share of the subjects: above 0 and below 1.
fn share(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(f) if f > 0.0 && f < 1.0 => Ok(f),
        _ => Err("a share of the subjects, above 0 and below 1 (e.g. 0.1)".into()),
    }
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("a whole number, at least 1".into()),
    }
}
