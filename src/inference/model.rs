//! `LandmarkModel`: an ONNX Runtime session of a facetrack landmark model, checked
//! against the model contract, that turns face crops of a frame into image-space points.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;

use crate::core::contract::{ContractError, InputLayout, ModelContract, OutputKind, INPUT_NAME};
use crate::core::crop_rule;
use crate::core::geometry::{CropPoint, CropTransform, FaceBox, Point};
use crate::core::pixels::Pixels;
use crate::inference::preprocess::{
    crop_region, mirror_rows, sample_crop, sample_crop_from_part, to_blocks2, unmirror_points,
};
use crate::inference::runtime::{self, Flavor, RuntimeError};

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    #[default]
    Cpu,
    /// The CUDA execution provider on the given GPU (needs `./setup.sh --gpu`).
    Cuda(i32),
}

/// The most intra-op threads a session is built with ([`ModelOptions::threads`]): more
/// is a typo (ONNX Runtime would try to start them all).
pub const MAX_THREADS: usize = 256;

/// How to build a session.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ModelOptions {
    /// Intra-op threads (0 = ONNX Runtime's default: one per core; at most [`MAX_THREADS`]).
    pub threads: usize,
    pub device: Device,
    /// Test-time flip averaging: each crop also runs mirrored left to right, and the
    /// mirrored prediction (points swapped with the point set's mirror permutation, x
    /// negated) is averaged with the plain one, and the model contract's
    /// `flip_offset_px` (the labels' x convention the model learnt, which the mirrored pass
    /// carries to the other side) is added back along the image's x axis. About twice the
    /// inference time for the most accurate, steadier result.
    pub flip_average: bool,
    /// Let ONNX Runtime's intra-op threads spin for work between the steps of one run
    /// instead of sleeping and being woken for each of the model's ~60 steps; they stop
    /// spinning when the run ends (`session.force_spinning_stop`). For a caller that runs
    /// the model frame by frame with the other cores idle (Python's `Tracker.process`:
    /// the model 10 % faster at the same CPU time). Off by default: in the pipelines the
    /// spinning thread takes the core the decoder needs (video at 1080p 8 % slower).
    pub spin_within_run: bool,
    /// Decode with this weight of the vote window's other cells instead of the model's
    /// own `facetrack.pip_window_weight` (0 to 1; 0 reads the best cell alone). For
    /// models with a vote window only (`facetrack.pip_window`); used to choose the weight
    /// on validation faces (`facetrack eval --window-weight`).
    pub window_weight: Option<f32>,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            threads: 0,
            device: Device::Cpu,
            flip_average: false,
            spin_within_run: false,
            window_weight: None,
        }
    }
}

impl ModelOptions {
    /// The default options with `threads` ONNX Runtime threads (0: one per core).
    pub fn with_threads(threads: usize) -> Self {
        ModelOptions {
            threads,
            ..ModelOptions::default()
        }
    }
}

/// The most bytes a model file may hold (ONNX's protobuf limit).
const MAX_MODEL_BYTES: u64 = 2 << 30;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("model file {path} does not exist")]
    NotFound { path: PathBuf },
    #[error("{path} is a folder; a model is an .onnx file (e.g. models/facetrack68.onnx)")]
    Folder { path: PathBuf },
    #[error("model {path}: {why}; a model is an .onnx file (e.g. models/facetrack68.onnx)")]
    Unusable { path: PathBuf, why: String },
    #[error("ONNX Runtime could not load the model {source_name}: {source}")]
    Load {
        source_name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("model {source_name}: {source}")]
    Contract {
        source_name: String,
        #[source]
        source: ContractError,
    },
    #[error(
        "the CUDA execution provider is not available ({source}); it needs ./setup.sh --gpu \
         (onnxruntime-gpu, built for CUDA 13), an NVIDIA driver, and CUDA 13's cuBLAS, cuDNN and \
         cuFFT libraries on the library path (LD_LIBRARY_PATH; a PyTorch 2.11 CUDA 13 install \
         carries them); or use --device cpu"
    )]
    CudaUnavailable {
        #[source]
        source: ort::Error,
    },
    #[error("{threads} inference threads: at most {MAX_THREADS} (0: one per core)")]
    TooManyThreads { threads: usize },
    #[error("inference failed: {source}")]
    Run {
        #[source]
        source: ort::Error,
    },
    #[error("the model's output is not what its contract says: {message}")]
    Output { message: String },
    #[error("input of {got} floats does not match {faces} faces of {per_face}")]
    InputSize {
        got: usize,
        faces: usize,
        per_face: usize,
    },
}

/// One face's result: its points in image pixels and, for heat-map models, the mean
/// peak score of its points (about 1 for a clear face, lower where the model is unsure).
/// A crop of one level ([`FLAT_CROP_SPAN`]: a frame faded to black, a lens covered) has
/// quality and scores 0: nothing can be seen there, though the model's peaks on a dark
/// one are as high as on a blurred face.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub points: Vec<Point>,
    pub quality: Option<f32>,
    /// Per point, the peak score of its heat map (`quality` is their mean), averaged with
    /// the mirrored crop's when flip averaging is on; empty for point-regression models.
    pub point_scores: Vec<f32>,
    /// Per point, how far the votes for it scatter ([`crate::inference::pip::Decoded::spread`],
    /// grid cells; averaged like the scores); empty for point-regression models.
    pub point_spread: Vec<f32>,
}

/// A crop the middle 90 % of whose pixels (inside the frame) span at most this many gray
/// levels shows nothing. Measured without this rule, the shipped model's landmark quality
/// on crops of one level is 0.43-0.48 from black to level 48, above the tracker's lost
/// threshold, where faces score 0.63 at the lowest (`examples/calibrate_quality.rs`,
/// commit 0de5a35's parent). Two levels leave room for a coded black frame's noise; a
/// face that covers a twentieth of the crop's pixels in the frame spans more.
pub const FLAT_CROP_SPAN: f32 = 2.0;

/// Whether a crop's values (normalised with `norm`) are of one level: the 5th to 95th
/// percentile of its samples inside the frame span at most [`FLAT_CROP_SPAN`] gray levels.
/// Samples outside the frame are exactly 0 (the mean grey) and are left out, and the
/// percentiles ignore the thin band that blends the frame's edge with them, so a face at
/// the edge of a black frame is flat too, while a face entering a plain wall is not. A
/// crop mostly outside the frame is not judged (`false`).
fn crop_is_flat(values: &[f32], norm: crate::core::contract::Normalization) -> bool {
    // every sixth sample (about 2,000 of a 112 x 112 crop): plenty for percentiles, and
    // cheap beside the model
    let mut inside: Vec<f32> = values
        .iter()
        .step_by(6)
        .copied()
        .filter(|&v| v != 0.0)
        .collect();
    if inside.len() * 10 < values.len() / 6 {
        return false;
    }
    let n = inside.len();
    let (lo, hi) = (n / 20, n - 1 - n / 20);
    let low = *inside.select_nth_unstable_by(lo, f32::total_cmp).1;
    let high = *inside[lo..]
        .select_nth_unstable_by(hi - lo, f32::total_cmp)
        .1;
    (high - low) * 255.0 * norm.std <= FLAT_CROP_SPAN
}

impl Prediction {
    /// Each point's confidence, 0-1 ([`crate::inference::pip::point_confidence`] of its
    /// peak score and vote spread); empty for point-regression models.
    pub fn point_confidence(&self) -> Vec<f32> {
        self.point_scores
            .iter()
            .zip(&self.point_spread)
            .map(|(&p, &s)| crate::inference::pip::point_confidence(p, s))
            .collect()
    }
}

/// Metadata key of a model's numeric precision (written by tools/quantize.py).
pub const PRECISION_KEY: &str = "facetrack.precision";

/// A loaded landmark model with reusable input and output buffers.
pub struct LandmarkModel {
    session: Session,
    contract: ModelContract,
    source_name: String,
    input: Vec<f32>,
    /// The input reordered for a model that takes it in 2×2 blocks (`InputLayout::Blocks2`).
    blocks: Vec<f32>,
    /// Average each prediction with the one for the mirrored crop.
    flip_average: bool,
    mirror: Vec<usize>,
    /// `fp32`, or `int8` for a quantized model (`facetrack.precision` in its metadata).
    precision: String,
}

impl LandmarkModel {
    /// Load a model file.
    pub fn from_file(path: &Path, opts: ModelOptions) -> Result<Self, ModelError> {
        if path.is_dir() {
            return Err(ModelError::Folder {
                path: path.to_path_buf(),
            });
        }
        if !path.exists() {
            return Err(ModelError::NotFound {
                path: path.to_path_buf(),
            });
        }
        // a model is read once per session, and several sessions may read it (parallel
        // video workers, eval's clips): a pipe or a device could not be read again
        let meta = std::fs::metadata(path).map_err(|e| ModelError::Load {
            source_name: path.display().to_string(),
            source: Box::new(e),
        })?;
        let unusable = |why: &str| ModelError::Unusable {
            path: path.to_path_buf(),
            why: why.to_string(),
        };
        if !meta.is_file() {
            return Err(unusable(
                "it is not a file (a device, a pipe or a socket); give the .onnx file itself",
            ));
        }
        if meta.len() == 0 {
            return Err(unusable("the file is empty"));
        }
        if meta.len() > MAX_MODEL_BYTES {
            return Err(unusable(
                "the file is larger than 2 GiB, which no ONNX model file is",
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| ModelError::Load {
            source_name: path.display().to_string(),
            source: Box::new(e),
        })?;
        // the trainer's weight files (best.ot, checkpoint-N.ot) are zip archives, which
        // ONNX Runtime called a protobuf parsing failure
        if bytes.starts_with(b"PK\x03\x04") {
            return Err(unusable(
                "it is a zip archive, as the trainer's weight files (best.ot, checkpoint-N.ot) \
                 are, not an ONNX model; make one with `cargo run --release --bin train -- \
                 export RUN_FOLDER`",
            ));
        }
        Self::from_bytes(&bytes, &path.display().to_string(), opts)
    }

    /// Load a model from memory (`source_name` is used in messages).
    pub fn from_bytes(
        bytes: &[u8],
        source_name: &str,
        opts: ModelOptions,
    ) -> Result<Self, ModelError> {
        let flavor = match opts.device {
            Device::Cpu => Flavor::Cpu,
            Device::Cuda(_) => Flavor::Cuda,
        };
        let rt = runtime::ensure_loaded(flavor)?;
        // builder errors carry the builder (not Send): keep the error, drop the builder
        fn load_err<E: Into<ort::Error>>(source_name: &str) -> impl Fn(E) -> ModelError + '_ {
            move |e| ModelError::Load {
                source_name: source_name.to_string(),
                source: Box::new(e.into()),
            }
        }
        if opts.threads > MAX_THREADS {
            return Err(ModelError::TooManyThreads {
                threads: opts.threads,
            });
        }
        let mut builder = Session::builder(&rt.env).map_err(load_err(source_name))?;
        if opts.threads > 0 {
            builder = builder
                .with_intra_threads(opts.threads)
                .map_err(load_err(source_name))?;
        }
        // Idle intra-op threads spin by default; in the pipelines they would take the
        // core the decoder and writer threads need (ModelOptions::spin_within_run).
        builder = builder
            .with_intra_op_spinning(opts.spin_within_run)
            .map_err(load_err(source_name))?;
        if opts.spin_within_run {
            builder = builder
                .with_config_entry("session.force_spinning_stop", "1")
                .map_err(load_err(source_name))?;
        }
        if let Device::Cuda(id) = opts.device {
            use ort::ep::ExecutionProvider;
            let cuda = ort::ep::CUDA::default().with_device_id(id);
            cuda.register(&mut builder)
                .map_err(|source| ModelError::CudaUnavailable { source })?;
        }
        let session = builder
            .commit_from_memory(bytes)
            .map_err(load_err(source_name))?;
        let mut contract = read_contract(&session).map_err(|source| ModelError::Contract {
            source_name: source_name.to_string(),
            source,
        })?;
        if let Some(w) = opts.window_weight {
            let checked = if contract.pip_window == 0 {
                Err(ContractError::Mismatch {
                    what: "a vote window weight",
                    expected: "a model with a vote window (facetrack.pip_window)".into(),
                    got: "a model that reads each point's best cell alone".into(),
                })
            } else {
                contract.pip_window_weight = w;
                contract.validate()
            };
            checked.map_err(|source| ModelError::Contract {
                source_name: source_name.to_string(),
                source,
            })?;
        }
        let mirror = contract.point_set.mirror();
        let precision = session
            .metadata()
            .ok()
            .and_then(|m| m.custom(PRECISION_KEY))
            .unwrap_or_else(|| "fp32".into());
        let mut model = LandmarkModel {
            session,
            contract,
            source_name: source_name.to_string(),
            input: Vec::new(),
            blocks: Vec::new(),
            flip_average: opts.flip_average,
            mirror,
            precision,
        };
        if let Device::Cuda(_) = opts.device {
            // cuDNN picks each convolution's algorithm by timing them all on a session's
            // first run of each input shape (ONNX Runtime's default, "exhaustive"): done
            // here for one face, so that it lands in the loading time and not inside the
            // first frames a video or a benchmark times
            let runs = if model.flip_average { 2 } else { 1 };
            let zeros = vec![0f32; model.contract.input_len() * runs];
            model.run_raw(&zeros, runs)?;
        }
        Ok(model)
    }

    pub fn contract(&self) -> &ModelContract {
        &self.contract
    }

    /// `fp32`, or `int8` for a model quantized by tools/quantize.py.
    pub fn precision(&self) -> &str {
        &self.precision
    }

    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// Whether predictions are averaged with those of the mirrored crop
    /// ([`ModelOptions::flip_average`]).
    pub fn flip_average(&self) -> bool {
        self.flip_average
    }

    /// The crop this model wants for a face known by a box (a calibrated detection):
    /// [`crop_rule::crop_from_box`].
    pub fn crop_for(&self, b: &FaceBox, frame_w: u32, frame_h: u32) -> CropTransform {
        crop_rule::crop_from_box(b, &self.contract, (frame_w, frame_h))
    }

    /// The crop this model wants for a face whose points are known (the previous frame's
    /// landmarks): [`crop_rule::crop_from_points`].
    pub fn crop_for_points(&self, points: &[Point], frame_w: u32, frame_h: u32) -> CropTransform {
        crop_rule::crop_from_points(points, &self.contract, (frame_w, frame_h))
    }

    /// Landmarks for several crops of one frame, in image pixels, one `Vec` per crop.
    pub fn predict<P: Pixels + ?Sized>(
        &mut self,
        img: &P,
        crops: &[CropTransform],
    ) -> Result<Vec<Vec<Point>>, ModelError> {
        Ok(self
            .predict_faces(img, crops)?
            .into_iter()
            .map(|p| p.points)
            .collect())
    }

    /// Landmarks and the model's own quality signal for several crops of one frame.
    pub fn predict_faces<P: Pixels + ?Sized>(
        &mut self,
        img: &P,
        crops: &[CropTransform],
    ) -> Result<Vec<Prediction>, ModelError> {
        if crops.is_empty() {
            return Ok(Vec::new());
        }
        let c = &self.contract;
        let per_face = c.input_len();
        let n = crops.len();
        let runs = if self.flip_average { 2 * n } else { n };
        let mut input = std::mem::take(&mut self.input);
        input.resize(per_face * runs, 0.0);
        let (plain, mirrored) = input.split_at_mut(per_face * n);
        for (t, chunk) in crops.iter().zip(plain.chunks_exact_mut(per_face)) {
            match img.as_gray() {
                Some(g) => sample_crop(g, t, c.input_width, c.input_height, c.normalization, chunk),
                None => {
                    // only the part of the frame the crop covers is read
                    let (part, origin) = crop_region(img, t, c.input_width, c.input_height);
                    sample_crop_from_part(
                        &part,
                        origin,
                        (img.width(), img.height()),
                        t,
                        c.input_width,
                        c.input_height,
                        c.normalization,
                        chunk,
                    )
                }
            }
        }
        let flat: Vec<bool> = plain
            .chunks_exact(per_face)
            .map(|chunk| crop_is_flat(chunk, c.normalization))
            .collect();
        if self.flip_average {
            mirrored.copy_from_slice(plain);
            for crop in mirrored.chunks_exact_mut(per_face) {
                mirror_rows(crop, c.input_width as usize);
            }
        }
        let raw = self.run_raw(&input, runs);
        self.input = input;
        let (xy_all, peaks, spreads) = self.decode(&raw?, runs);
        let np = self.contract.num_points();
        let out_len = self.contract.output_len();
        let mut back = vec![0f32; out_len];
        Ok(crops
            .iter()
            .enumerate()
            .map(|(f, t)| {
                let xy = &xy_all[f * out_len..(f + 1) * out_len];
                let run_of = |v: &[f32], run: usize| {
                    v.get(run * np..(run + 1) * np)
                        .map(<[f32]>::to_vec)
                        .unwrap_or_default()
                };
                let mut point_scores = run_of(&peaks, f);
                let mut point_spread = run_of(&spreads, f);
                if self.flip_average {
                    let flipped = &xy_all[(n + f) * out_len..(n + f + 1) * out_len];
                    unmirror_points(flipped, &self.mirror, &mut back);
                    // the mirrored crop's point `mirror[i]` is this crop's point `i`
                    for (mine, all) in [(&mut point_scores, &peaks), (&mut point_spread, &spreads)]
                    {
                        let m = run_of(all, n + f);
                        if m.len() == mine.len() {
                            for (i, s) in mine.iter_mut().enumerate() {
                                *s = 0.5 * (*s + m[self.mirror[i]]);
                            }
                        }
                    }
                }
                if flat[f] {
                    point_scores.iter_mut().for_each(|s| *s = 0.0);
                }
                let q = (!point_scores.is_empty())
                    .then(|| point_scores.iter().sum::<f32>() / point_scores.len() as f32);
                let points = xy
                    .chunks_exact(2)
                    .enumerate()
                    .map(|(i, p)| {
                        let (mut x, mut y) = (p[0], p[1]);
                        if self.flip_average {
                            x = 0.5 * (x + back[2 * i]);
                            y = 0.5 * (y + back[2 * i + 1]);
                        }
                        let q = t.to_image(CropPoint { x, y });
                        if self.flip_average {
                            // the two passes sit the labels' offset either side of the
                            // mirror-symmetric place; their mean needs it added back
                            Point::new(q.x + self.contract.flip_offset_px, q.y)
                        } else {
                            q
                        }
                    })
                    .collect();
                Prediction {
                    points,
                    quality: q,
                    point_scores,
                    point_spread,
                }
            })
            .collect())
    }

    /// Turn raw outputs of `faces` runs into `faces` × 2N crop coordinates, and for
    /// heat-map models `faces` × N peak scores and vote spreads (empty for point models).
    fn decode(&self, raw: &[f32], faces: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        match &self.contract.output {
            OutputKind::Points => (raw.to_vec(), Vec::new(), Vec::new()),
            OutputKind::Pip {
                grid_w,
                grid_h,
                neighbors_per_point,
                neighbors,
            } => {
                let layout = crate::inference::pip::PipLayout {
                    points: self.contract.num_points(),
                    neighbors: *neighbors_per_point as usize,
                    grid_w: *grid_w as usize,
                    grid_h: *grid_h as usize,
                    maps: self.contract.maps_layout,
                };
                let per = layout.len();
                let mut xy = Vec::with_capacity(faces * self.contract.output_len());
                let mut q = Vec::with_capacity(faces * layout.points);
                let mut spread = Vec::with_capacity(faces * layout.points);
                for f in 0..faces {
                    let d = crate::inference::pip::decode_windowed(
                        &raw[f * per..(f + 1) * per],
                        layout,
                        neighbors,
                        crate::inference::pip::Window {
                            radius: self.contract.pip_window as usize,
                            weight: self.contract.pip_window_weight,
                        },
                    );
                    xy.extend_from_slice(&d.xy);
                    q.extend_from_slice(&d.peak);
                    spread.extend_from_slice(&d.spread);
                }
                (xy, q, spread)
            }
        }
    }

    /// Run on a prepared input batch (`faces` × contract input, normalised, each crop
    /// planar `[channels, height, width]` whatever the model's input layout: a model
    /// that takes 2×2 blocks gets them reordered here) and return the raw outputs:
    /// `faces` × 2N crop coordinates for point models, `faces` × the maps for heat-map
    /// models, in the model's layout (see [`ModelContract::output_shape`]).
    pub fn run_raw(&mut self, input: &[f32], faces: usize) -> Result<Vec<f32>, ModelError> {
        let c = &self.contract;
        let per_face = c.input_len();
        if input.len() != per_face * faces {
            return Err(ModelError::InputSize {
                got: input.len(),
                faces,
                per_face,
            });
        }
        let shape: Vec<i64> = std::iter::once(faces as i64)
            .chain(c.input_shape())
            .collect();
        let out_len = c.raw_output_len();
        let out_name = c.output_name();
        let run_err = |source: ort::Error| ModelError::Run { source };
        let input = match c.input_layout {
            InputLayout::Planar => input,
            InputLayout::Blocks2 => {
                to_blocks2(
                    input,
                    c.channels as usize,
                    c.input_width as usize,
                    c.input_height as usize,
                    &mut self.blocks,
                );
                &self.blocks[..]
            }
        };
        let tensor = TensorRef::from_array_view((shape, input)).map_err(run_err)?;
        let outputs = self
            .session
            .run(ort::inputs![INPUT_NAME => tensor])
            .map_err(run_err)?;
        let value = outputs.get(out_name).ok_or_else(|| ModelError::Output {
            message: format!("the model produced no '{out_name}' output"),
        })?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(run_err)?;
        if data.len() != faces * out_len {
            return Err(ModelError::Output {
                message: format!(
                    "output shape {:?} does not hold {faces} x {out_len} values",
                    &shape[..]
                ),
            });
        }
        Ok(data.to_vec())
    }
}

/// Read the contract from the session's metadata and check the graph's inputs and
/// outputs against it.
fn read_contract(session: &Session) -> Result<ModelContract, ContractError> {
    let meta = session.metadata().map_err(|e| ContractError::Invalid {
        key: "metadata".into(),
        value: e.to_string(),
    })?;
    let contract = ModelContract::from_metadata(|k| meta.custom(k))?;
    let mismatch = |what: &'static str, expected: String, got: String| ContractError::Mismatch {
        what,
        expected,
        got,
    };
    let inputs = session.inputs();
    let input = inputs
        .iter()
        .find(|i| i.name() == INPUT_NAME)
        .ok_or_else(|| {
            mismatch(
                "input name",
                INPUT_NAME.into(),
                inputs
                    .iter()
                    .map(|i| i.name().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
    let want_in: Vec<i64> = std::iter::once(-1).chain(contract.input_shape()).collect();
    let got_in: Vec<i64> = input
        .dtype()
        .tensor_shape()
        .map(|s| s.to_vec())
        .unwrap_or_default();
    if !shape_matches(&got_in, &want_in) {
        return Err(mismatch(
            "input shape",
            format!("{want_in:?} (-1 = any batch)"),
            format!("{got_in:?}"),
        ));
    }
    let outputs = session.outputs();
    let out_name = contract.output_name();
    let output = outputs
        .iter()
        .find(|o| o.name() == out_name)
        .ok_or_else(|| {
            mismatch(
                "output name",
                out_name.into(),
                outputs
                    .iter()
                    .map(|o| o.name().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
    let want_out: Vec<i64> = std::iter::once(-1).chain(contract.output_shape()).collect();
    let got_out: Vec<i64> = output
        .dtype()
        .tensor_shape()
        .map(|s| s.to_vec())
        .unwrap_or_default();
    if !shape_matches(&got_out, &want_out) {
        return Err(mismatch(
            "output shape",
            format!(
                "{want_out:?} ({} points, {} output)",
                contract.num_points(),
                contract.output.name()
            ),
            format!("{got_out:?}"),
        ));
    }
    Ok(contract)
}

/// Same rank and every fixed dimension equal (-1 in `want` or `got` matches anything).
fn shape_matches(got: &[i64], want: &[i64]) -> bool {
    got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(&g, &w)| w < 0 || g < 0 || g == w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_with_dynamic_batch() {
        assert!(shape_matches(&[-1, 1, 128, 128], &[-1, 1, 128, 128]));
        assert!(shape_matches(&[4, 1, 128, 128], &[-1, 1, 128, 128]));
        assert!(!shape_matches(&[-1, 3, 128, 128], &[-1, 1, 128, 128]));
        assert!(!shape_matches(&[-1, 1, 128], &[-1, 1, 128, 128]));
    }

    #[test]
    fn a_missing_model_file_is_a_clear_error() {
        let e = LandmarkModel::from_file(Path::new("/nonexistent/m.onnx"), ModelOptions::default())
            .err()
            .unwrap();
        assert!(e.to_string().contains("does not exist"), "{e}");
        // what exists but is no model file says what it is (it said "does not exist")
        let null = Path::new("/dev/null");
        if null.exists() {
            let e = LandmarkModel::from_file(null, ModelOptions::default())
                .err()
                .unwrap();
            assert!(e.to_string().contains("it is not a file (a device"), "{e}");
        }
        let empty = std::env::temp_dir().join(format!("ft-empty-{}.onnx", std::process::id()));
        std::fs::write(&empty, b"").unwrap();
        let e = LandmarkModel::from_file(&empty, ModelOptions::default())
            .err()
            .unwrap();
        let _ = std::fs::remove_file(&empty);
        assert!(e.to_string().contains("the file is empty"), "{e}");
    }
}
