//! The model contract, written once: what a landmark model takes and returns. The
//! exporter stores it as ONNX metadata (`facetrack.*` keys); the tracker reads it back
//! and refuses a model whose graph does not match it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::core::layout::PointSet;

/// Prefix of every metadata key.
pub const META_PREFIX: &str = "facetrack.";
/// Version of this contract; bumped on any incompatible change. Version 2 added the
/// `aligned` crop rule and the PIP heat-map output; version 3 the channels-last layouts
/// of the input ([`InputLayout::Blocks2`]) and of the maps ([`MapsLayout::ChannelsLast`]),
/// which only version 3 models use. Version 1 models (face-box crop, point output) are
/// still read.
pub const CONTRACT_VERSION: u32 = 3;
/// Oldest contract version still read.
pub const OLDEST_CONTRACT_VERSION: u32 = 1;
/// Name of the model's only input: `[batch, channels, height, width]` float32 (or, with
/// [`InputLayout::Blocks2`], `[batch, height / 2, width / 2, 4 * channels]`).
pub const INPUT_NAME: &str = "image";
/// Name of the model's only output: `[batch, 2 * points]` float32, `x0, y0, x1, y1, ...`
/// in normalised crop coordinates ([`crate::core::geometry::CropPoint`]).
pub const OUTPUT_NAME: &str = "landmarks";
/// Name of a PIP model's only output: `[batch, (3 + 2K) * points, grid_h, grid_w]`
/// float32 maps (or, with [`MapsLayout::ChannelsLast`], `[batch, grid_h, grid_w, (3 + 2K)
/// * points]`), decoded by [`crate::inference::pip`].
pub const MAPS_OUTPUT_NAME: &str = "pip_maps";

/// What the model's output holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputKind {
    /// `[N, 2K]` points in normalised crop coordinates (direct regression).
    Points,
    /// Pixel-in-pixel maps (Jin et al., IJCV 2021) on a `grid_w` × `grid_h` grid over
    /// the crop: per point a score map, x and y offsets within the cell, and the offsets
    /// of its `neighbors_per_point` nearest neighbours in the mean shape; `neighbors`
    /// lists those neighbours, `neighbors_per_point` per point.
    Pip {
        grid_w: u32,
        grid_h: u32,
        neighbors_per_point: u32,
        neighbors: Vec<u32>,
    },
}

impl OutputKind {
    pub fn name(&self) -> &'static str {
        match self {
            OutputKind::Points => "points",
            OutputKind::Pip { .. } => "pip",
        }
    }
}

/// How the model's input holds the crop. The crop itself is the same either way: a
/// `channels × height × width` image the preprocessor samples row by row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputLayout {
    /// `[N, channels, height, width]`, rows of pixels (PyTorch's layout, the trainer's).
    #[default]
    Planar,
    /// The crop's 2×2 blocks, channels last: `[N, height / 2, width / 2, 4 * channels]`,
    /// pixel `(x, y)` of channel `c` at depth `((y % 2) * 2 + x % 2) * channels + c` of
    /// block `[y / 2, x / 2]`: ONNX's `SpaceToDepth` (block 2) of the planar crop,
    /// transposed to channels last. A model whose first convolution runs over 2×2 blocks (`tools/s2d_stem.py`)
    /// takes it as it is; with `tools/channels_last.py` it is handed over so instead of
    /// being made and reordered inside ONNX Runtime. Needs an even height and width.
    Blocks2,
}

impl InputLayout {
    pub fn name(self) -> &'static str {
        match self {
            InputLayout::Planar => "nchw",
            InputLayout::Blocks2 => "blocks2_nhwc",
        }
    }
}

impl FromStr for InputLayout {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "nchw" => Ok(InputLayout::Planar),
            "blocks2_nhwc" => Ok(InputLayout::Blocks2),
            _ => Err(()),
        }
    }
}

/// How a PIP model's maps are laid out in its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapsLayout {
    /// `[N, channels, grid_h, grid_w]`: one whole map after another (the trainer's).
    #[default]
    ChannelsFirst,
    /// `[N, grid_h, grid_w, channels]`: every map's value at one cell, cell after cell;
    /// the layout ONNX Runtime's CPU kernels compute in, so no reorder is needed at the end.
    ChannelsLast,
}

impl MapsLayout {
    pub fn name(self) -> &'static str {
        match self {
            MapsLayout::ChannelsFirst => "nchw",
            MapsLayout::ChannelsLast => "nhwc",
        }
    }
}

impl FromStr for MapsLayout {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "nchw" => Ok(MapsLayout::ChannelsFirst),
            "nhwc" => Ok(MapsLayout::ChannelsLast),
            _ => Err(()),
        }
    }
}

/// How the crop handed to the model is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CropMode {
    /// A square around the face box, `crop_scale` times the box's longer side.
    FaceBox,
    /// The whole frame resized to the input size (the IMM models).
    FullFrame,
    /// A square fitted to the stable points and turned with the face
    /// ([`crate::core::crop_rule::aligned_crop`]); contract version 2.
    Aligned,
}

impl CropMode {
    pub fn name(self) -> &'static str {
        match self {
            CropMode::FaceBox => "face_box",
            CropMode::FullFrame => "full_frame",
            CropMode::Aligned => "aligned",
        }
    }
}

impl FromStr for CropMode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "face_box" => Ok(CropMode::FaceBox),
            "full_frame" => Ok(CropMode::FullFrame),
            "aligned" => Ok(CropMode::Aligned),
            _ => Err(()),
        }
    }
}

/// Pixel normalisation: `value = (byte / 255 - mean) / std`. Outside the image the
/// input is 0, i.e. the mean grey.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalization {
    pub mean: f32,
    pub std: f32,
}

impl Default for Normalization {
    fn default() -> Self {
        Normalization {
            mean: 0.5,
            std: 0.25,
        }
    }
}

/// Everything the tracker must know to feed a model and read its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelContract {
    pub point_set: PointSet,
    pub input_width: u32,
    pub input_height: u32,
    /// Input channels; 1 = grayscale (the only kind the preprocessor writes).
    pub channels: u32,
    pub normalization: Normalization,
    pub crop_mode: CropMode,
    /// Crop side over the longer side of the landmarks' bounding box (FaceBox mode).
    pub crop_scale: f32,
    /// Informational: the network that produced the weights.
    pub architecture: String,
    pub output: OutputKind,
    /// How far (image pixels, to the right) the labels the model learnt sit from the
    /// mirror-symmetric place: a model trained with `train fit --flip-offset D` places its
    /// points D px right of where a mirror-symmetric network would, and its mirrored
    /// pass D px left, so flip averaging ([`crate::inference::model::ModelOptions::flip_average`])
    /// adds D back. 0 for models without it (`facetrack.flip_offset_px`, optional).
    pub flip_offset_px: f32,
    /// PIP models: how many cells on each side of a point's best cell also cast its votes
    /// ([`crate::inference::pip::Window`]). A model trained with `train fit
    /// --offset-window R` learnt its offsets on the `(2R+1)²` cells around each point, so
    /// its point is the weighted mean of all of them. 0 (one cell, PIPNet's rule) for
    /// models without it (`facetrack.pip_window`, optional).
    pub pip_window: u32,
    /// The weight of the window's other cells against the best cell's 1
    /// (`facetrack.pip_window_weight`, optional, 1).
    pub pip_window_weight: f32,
    /// How the input holds the crop (`facetrack.input_layout`, optional, `nchw`).
    pub input_layout: InputLayout,
    /// How a PIP model's output holds its maps (`facetrack.maps_layout`, optional, `nchw`).
    pub maps_layout: MapsLayout,
}

/// The largest vote window a contract may ask for (`facetrack.pip_window`, cells on each
/// side of a point's best cell).
pub const MAX_PIP_WINDOW: u32 = 2;

/// Default crop scale: the landmark box plus room for the forehead and for the box
/// error of a detector or of the previous frame's landmarks.
pub const DEFAULT_CROP_SCALE: f32 = 1.5;

impl ModelContract {
    /// The contract of a face-box model for the given points and square input size.
    pub fn face_box(point_set: PointSet, size: u32, architecture: &str) -> Self {
        ModelContract {
            point_set,
            input_width: size,
            input_height: size,
            channels: 1,
            normalization: Normalization::default(),
            crop_mode: CropMode::FaceBox,
            crop_scale: DEFAULT_CROP_SCALE,
            architecture: architecture.to_string(),
            output: OutputKind::Points,
            flip_offset_px: 0.0,
            pip_window: 0,
            pip_window_weight: 1.0,
            input_layout: InputLayout::Planar,
            maps_layout: MapsLayout::ChannelsFirst,
        }
    }

    /// The contract of a model that takes the aligned crop (contract version 2).
    pub fn aligned(point_set: PointSet, size: u32, architecture: &str) -> Self {
        ModelContract {
            crop_mode: CropMode::Aligned,
            ..Self::face_box(point_set, size, architecture)
        }
    }

    /// The output tensor's name.
    pub fn output_name(&self) -> &'static str {
        match self.output {
            OutputKind::Points => OUTPUT_NAME,
            OutputKind::Pip { .. } => MAPS_OUTPUT_NAME,
        }
    }

    /// The input's shape per face (after the batch dimension), as the model takes it.
    pub fn input_shape(&self) -> Vec<i64> {
        let (c, h, w) = (
            self.channels as i64,
            self.input_height as i64,
            self.input_width as i64,
        );
        match self.input_layout {
            InputLayout::Planar => vec![c, h, w],
            InputLayout::Blocks2 => vec![h / 2, w / 2, 4 * c],
        }
    }

    /// The output's shape per face (after the batch dimension).
    pub fn output_shape(&self) -> Vec<i64> {
        match &self.output {
            OutputKind::Points => vec![self.output_len() as i64],
            OutputKind::Pip {
                grid_w,
                grid_h,
                neighbors_per_point,
                ..
            } => {
                let c = ((3 + 2 * *neighbors_per_point as usize) * self.num_points()) as i64;
                let (h, w) = (*grid_h as i64, *grid_w as i64);
                match self.maps_layout {
                    MapsLayout::ChannelsFirst => vec![c, h, w],
                    MapsLayout::ChannelsLast => vec![h, w, c],
                }
            }
        }
    }

    /// Output floats per face.
    pub fn raw_output_len(&self) -> usize {
        self.output_shape().iter().product::<i64>() as usize
    }

    /// The oldest version that can say this contract: 1 for a face-box points model, 2
    /// for the aligned crop or maps, 3 for a channels-last input or maps (so that a
    /// tracker older than these layouts refuses such a model instead of misreading it).
    pub fn version(&self) -> u32 {
        if self.input_layout != InputLayout::Planar || self.maps_layout != MapsLayout::ChannelsFirst
        {
            3
        } else if self.crop_mode == CropMode::Aligned || self.output != OutputKind::Points {
            2
        } else {
            OLDEST_CONTRACT_VERSION
        }
    }

    pub fn num_points(&self) -> usize {
        self.point_set.len()
    }

    /// Output length per face.
    pub fn output_len(&self) -> usize {
        2 * self.num_points()
    }

    /// Input length per face.
    pub fn input_len(&self) -> usize {
        (self.channels * self.input_width * self.input_height) as usize
    }

    /// The metadata entries the exporter writes.
    pub fn to_metadata(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(format!("{META_PREFIX}{k}"), v);
        };
        put("contract_version", self.version().to_string());
        put("point_set", self.point_set.name().to_string());
        put("input_width", self.input_width.to_string());
        put("input_height", self.input_height.to_string());
        put("channels", self.channels.to_string());
        put("pixel_mean", self.normalization.mean.to_string());
        put("pixel_std", self.normalization.std.to_string());
        put("crop_mode", self.crop_mode.name().to_string());
        put("crop_scale", self.crop_scale.to_string());
        put("architecture", self.architecture.clone());
        put("input", INPUT_NAME.to_string());
        put("output", self.output_name().to_string());
        put("output_coordinates", "crop_normalised_xy".to_string());
        if self.flip_offset_px != 0.0 {
            put("flip_offset_px", self.flip_offset_px.to_string());
        }
        if self.pip_window != 0 {
            put("pip_window", self.pip_window.to_string());
            put("pip_window_weight", self.pip_window_weight.to_string());
        }
        if self.input_layout != InputLayout::Planar {
            put("input_layout", self.input_layout.name().to_string());
        }
        if self.maps_layout != MapsLayout::ChannelsFirst {
            put("maps_layout", self.maps_layout.name().to_string());
        }
        if let OutputKind::Pip {
            grid_w,
            grid_h,
            neighbors_per_point,
            neighbors,
        } = &self.output
        {
            put("output_kind", "pip".to_string());
            put("pip_grid_width", grid_w.to_string());
            put("pip_grid_height", grid_h.to_string());
            put("pip_neighbors_per_point", neighbors_per_point.to_string());
            put(
                "pip_neighbors",
                neighbors
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        m
    }

    /// Read the contract back from metadata (`get` looks a full key up).
    pub fn from_metadata(get: impl Fn(&str) -> Option<String>) -> Result<Self, ContractError> {
        let req = |k: &str| -> Result<String, ContractError> {
            get(&format!("{META_PREFIX}{k}")).ok_or_else(|| ContractError::Missing {
                key: format!("{META_PREFIX}{k}"),
            })
        };
        fn parse<T: FromStr>(k: &str, v: String) -> Result<T, ContractError> {
            v.trim().parse().map_err(|_| ContractError::Invalid {
                key: format!("{META_PREFIX}{k}"),
                value: v,
            })
        }
        let version: u32 = parse("contract_version", req("contract_version")?)?;
        if !(OLDEST_CONTRACT_VERSION..=CONTRACT_VERSION).contains(&version) {
            return Err(ContractError::Mismatch {
                what: "contract version",
                expected: format!("{OLDEST_CONTRACT_VERSION} to {CONTRACT_VERSION}"),
                got: version.to_string(),
            });
        }
        let output = match get(&format!("{META_PREFIX}output_kind")).as_deref() {
            None | Some("points") => OutputKind::Points,
            Some("pip") if version >= 2 => OutputKind::Pip {
                grid_w: parse("pip_grid_width", req("pip_grid_width")?)?,
                grid_h: parse("pip_grid_height", req("pip_grid_height")?)?,
                neighbors_per_point: parse(
                    "pip_neighbors_per_point",
                    req("pip_neighbors_per_point")?,
                )?,
                neighbors: {
                    let v = req("pip_neighbors")?;
                    v.split(',')
                        .filter(|t| !t.trim().is_empty())
                        .map(|t| parse::<u32>("pip_neighbors", t.to_string()))
                        .collect::<Result<Vec<_>, _>>()?
                },
            },
            Some(other) => {
                return Err(ContractError::Mismatch {
                    what: "output kind",
                    expected: format!("points, or pip (contract version 2) (version {version})"),
                    got: other.to_string(),
                })
            }
        };
        let c = ModelContract {
            point_set: parse("point_set", req("point_set")?)?,
            input_width: parse("input_width", req("input_width")?)?,
            input_height: parse("input_height", req("input_height")?)?,
            channels: parse("channels", req("channels")?)?,
            normalization: Normalization {
                mean: parse("pixel_mean", req("pixel_mean")?)?,
                std: parse("pixel_std", req("pixel_std")?)?,
            },
            crop_mode: parse("crop_mode", req("crop_mode")?)?,
            crop_scale: parse("crop_scale", req("crop_scale")?)?,
            architecture: get(&format!("{META_PREFIX}architecture")).unwrap_or_default(),
            output,
            flip_offset_px: match get(&format!("{META_PREFIX}flip_offset_px")) {
                Some(v) => parse("flip_offset_px", v)?,
                None => 0.0,
            },
            pip_window: match get(&format!("{META_PREFIX}pip_window")) {
                Some(v) => parse("pip_window", v)?,
                None => 0,
            },
            pip_window_weight: match get(&format!("{META_PREFIX}pip_window_weight")) {
                Some(v) => parse("pip_window_weight", v)?,
                None => 1.0,
            },
            input_layout: match get(&format!("{META_PREFIX}input_layout")) {
                Some(v) => v.trim().parse().map_err(|_| ContractError::Mismatch {
                    what: "input_layout",
                    expected: "nchw or blocks2_nhwc".into(),
                    got: v,
                })?,
                None => InputLayout::Planar,
            },
            maps_layout: match get(&format!("{META_PREFIX}maps_layout")) {
                Some(v) => v.trim().parse().map_err(|_| ContractError::Mismatch {
                    what: "maps_layout",
                    expected: "nchw or nhwc".into(),
                    got: v,
                })?,
                None => MapsLayout::ChannelsFirst,
            },
        };
        if c.version() == 3 && version < 3 {
            return Err(ContractError::Mismatch {
                what: "contract version of a model with channels-last layouts",
                expected: "3".into(),
                got: version.to_string(),
            });
        }
        if c.crop_mode == CropMode::Aligned && version < 2 {
            return Err(ContractError::Mismatch {
                what: "contract version of an aligned-crop model",
                expected: "2".into(),
                got: version.to_string(),
            });
        }
        c.validate()?;
        Ok(c)
    }

    /// Values the preprocessor can honour.
    pub fn validate(&self) -> Result<(), ContractError> {
        if self.channels != 1 {
            return Err(ContractError::Mismatch {
                what: "input channels",
                expected: "1 (grayscale)".into(),
                got: self.channels.to_string(),
            });
        }
        let bad = |what: &'static str, v: String| ContractError::Mismatch {
            what,
            expected: "a positive, finite value".into(),
            got: v,
        };
        if !(8..=4096).contains(&self.input_width) || !(8..=4096).contains(&self.input_height) {
            return Err(ContractError::Mismatch {
                what: "input size",
                expected: "8..4096 pixels a side".into(),
                got: format!("{}x{}", self.input_width, self.input_height),
            });
        }
        if !(self.normalization.std.is_finite() && self.normalization.std > 0.0) {
            return Err(bad("pixel_std", self.normalization.std.to_string()));
        }
        if !self.normalization.mean.is_finite() {
            return Err(bad("pixel_mean", self.normalization.mean.to_string()));
        }
        if !(self.crop_scale.is_finite() && self.crop_scale > 0.0) {
            return Err(bad("crop_scale", self.crop_scale.to_string()));
        }
        if !(self.flip_offset_px.is_finite() && self.flip_offset_px.abs() <= 10.0) {
            return Err(ContractError::Mismatch {
                what: "flip_offset_px",
                expected: "-10 to 10 pixels".into(),
                got: self.flip_offset_px.to_string(),
            });
        }
        if self.pip_window > 0 && !matches!(self.output, OutputKind::Pip { .. }) {
            return Err(ContractError::Mismatch {
                what: "pip_window",
                expected: "0 for a points model".into(),
                got: self.pip_window.to_string(),
            });
        }
        if self.pip_window > MAX_PIP_WINDOW {
            return Err(ContractError::Mismatch {
                what: "pip_window",
                expected: format!("0 to {MAX_PIP_WINDOW}"),
                got: self.pip_window.to_string(),
            });
        }
        if !(self.pip_window_weight.is_finite() && (0.0..=1.0).contains(&self.pip_window_weight)) {
            return Err(ContractError::Mismatch {
                what: "pip_window_weight",
                expected: "0 to 1".into(),
                got: self.pip_window_weight.to_string(),
            });
        }
        if self.input_layout == InputLayout::Blocks2
            && !(self.input_width.is_multiple_of(2) && self.input_height.is_multiple_of(2))
        {
            return Err(ContractError::Mismatch {
                what: "input size of a 2x2-block input",
                expected: "an even width and height".into(),
                got: format!("{}x{}", self.input_width, self.input_height),
            });
        }
        if self.maps_layout != MapsLayout::ChannelsFirst
            && !matches!(self.output, OutputKind::Pip { .. })
        {
            return Err(ContractError::Mismatch {
                what: "maps_layout",
                expected: "nchw for a points model".into(),
                got: self.maps_layout.name().into(),
            });
        }
        if self.crop_mode == CropMode::Aligned && self.point_set != PointSet::Ibug68 {
            return Err(ContractError::Mismatch {
                what: "point set of an aligned-crop model",
                expected: "ibug68".into(),
                got: self.point_set.name().into(),
            });
        }
        if let OutputKind::Pip {
            grid_w,
            grid_h,
            neighbors_per_point,
            neighbors,
        } = &self.output
        {
            let n = self.num_points();
            if !(1..=256).contains(grid_w) || !(1..=256).contains(grid_h) {
                return Err(ContractError::Mismatch {
                    what: "PIP grid",
                    expected: "1..256 cells a side".into(),
                    got: format!("{grid_w}x{grid_h}"),
                });
            }
            if neighbors.len() != n * *neighbors_per_point as usize
                || neighbors.iter().any(|&j| j as usize >= n)
            {
                return Err(ContractError::Mismatch {
                    what: "PIP neighbour table",
                    expected: format!("{} indices below {n}", n * *neighbors_per_point as usize),
                    got: format!("{} indices", neighbors.len()),
                });
            }
        }
        Ok(())
    }
}

/// A model that does not follow the contract.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ContractError {
    #[error("the model has no '{key}' metadata; it was not exported by facetrack's trainer")]
    Missing { key: String },
    #[error("the model's metadata '{key}' has an invalid value '{value}'")]
    Invalid { key: String, value: String },
    #[error(
        "the model does not match facetrack's contract: {what}: expected {expected}, got {got}"
    )]
    Mismatch {
        what: &'static str,
        expected: String,
        got: String,
    },
}

impl fmt::Display for ModelContract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} point{} ({} output), {}x{}x{} input, {} crop x{}, {}",
            self.num_points(),
            if self.num_points() == 1 { "" } else { "s" },
            self.output.name(),
            self.channels,
            self.input_height,
            self.input_width,
            self.crop_mode.name(),
            self.crop_scale,
            if self.architecture.is_empty() {
                "unknown architecture"
            } else {
                &self.architecture
            }
        )?;
        if self.input_layout != InputLayout::Planar || self.maps_layout != MapsLayout::ChannelsFirst
        {
            write!(
                f,
                ", input {} and maps {} (contract version 3)",
                self.input_layout.name(),
                self.maps_layout.name()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trip() {
        let c = ModelContract::face_box(PointSet::Ibug68, 128, "resnet18");
        let m = c.to_metadata();
        let back = ModelContract::from_metadata(|k| m.get(k).cloned()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn missing_and_bad_keys_are_named() {
        let c = ModelContract::face_box(PointSet::Ibug68, 128, "resnet18");
        let mut m = c.to_metadata();
        m.remove("facetrack.input_width");
        let e = ModelContract::from_metadata(|k| m.get(k).cloned()).unwrap_err();
        assert!(e.to_string().contains("facetrack.input_width"), "{e}");
        let mut m = c.to_metadata();
        m.insert("facetrack.channels".into(), "3".into());
        let e = ModelContract::from_metadata(|k| m.get(k).cloned()).unwrap_err();
        assert!(e.to_string().contains("expected 1"), "{e}");
        let mut m = c.to_metadata();
        m.insert("facetrack.point_set".into(), "ibug99".into());
        assert!(ModelContract::from_metadata(|k| m.get(k).cloned()).is_err());
    }

    fn pip_contract() -> ModelContract {
        let mut c = ModelContract::aligned(PointSet::Ibug68, 112, "resnet18-pip");
        c.output = OutputKind::Pip {
            grid_w: 7,
            grid_h: 7,
            neighbors_per_point: 2,
            neighbors: (0..68u32)
                .flat_map(|i| [(i + 1) % 68, (i + 67) % 68])
                .collect(),
        };
        c
    }

    #[test]
    fn the_flip_offset_round_trips_and_is_optional() {
        let mut c = pip_contract();
        let m = c.to_metadata();
        assert!(!m.contains_key("facetrack.flip_offset_px"));
        assert_eq!(
            ModelContract::from_metadata(|k| m.get(k).cloned())
                .unwrap()
                .flip_offset_px,
            0.0
        );
        c.flip_offset_px = 0.75;
        let mut m = c.to_metadata();
        assert_eq!(m["facetrack.flip_offset_px"], "0.75");
        assert_eq!(
            ModelContract::from_metadata(|k| m.get(k).cloned()).unwrap(),
            c
        );
        m.insert("facetrack.flip_offset_px".into(), "99".into());
        assert!(ModelContract::from_metadata(|k| m.get(k).cloned()).is_err());
    }

    #[test]
    fn the_vote_window_round_trips_is_optional_and_bounded() {
        let mut c = pip_contract();
        let m = c.to_metadata();
        assert!(!m.contains_key("facetrack.pip_window"));
        let back = ModelContract::from_metadata(|k| m.get(k).cloned()).unwrap();
        assert_eq!((back.pip_window, back.pip_window_weight), (0, 1.0));
        c.pip_window = 1;
        c.pip_window_weight = 0.5;
        let m = c.to_metadata();
        assert_eq!(m["facetrack.pip_window"], "1");
        assert_eq!(m["facetrack.pip_window_weight"], "0.5");
        assert_eq!(
            ModelContract::from_metadata(|k| m.get(k).cloned()).unwrap(),
            c
        );
        for (k, v) in [
            ("facetrack.pip_window", "9"),
            ("facetrack.pip_window_weight", "2"),
            ("facetrack.pip_window_weight", "nan"),
        ] {
            let mut bad = m.clone();
            bad.insert(k.into(), v.into());
            assert!(
                ModelContract::from_metadata(|k| bad.get(k).cloned()).is_err(),
                "{k} = {v} accepted"
            );
        }
    }

    #[test]
    fn version_2_metadata_round_trips_and_version_1_still_reads() {
        let c = pip_contract();
        let m = c.to_metadata();
        assert_eq!(m["facetrack.contract_version"], "2");
        assert_eq!(
            ModelContract::from_metadata(|k| m.get(k).cloned()).unwrap(),
            c
        );
        assert_eq!(c.output_shape(), vec![68 * 7, 7, 7]);
        assert_eq!(c.output_name(), MAPS_OUTPUT_NAME);
        // a version 1 model, as the trainer wrote them before version 2
        let old = ModelContract::face_box(PointSet::Ibug68, 112, "resnet18");
        let m = old.to_metadata();
        assert_eq!(m["facetrack.contract_version"], "1");
        assert_eq!(
            ModelContract::from_metadata(|k| m.get(k).cloned()).unwrap(),
            old
        );
    }

    #[test]
    fn bad_version_2_metadata_is_refused_with_expected_and_got() {
        let mut m = pip_contract().to_metadata();
        m.insert("facetrack.contract_version".into(), "1".into());
        let e = ModelContract::from_metadata(|k| m.get(k).cloned()).unwrap_err();
        assert!(e.to_string().contains("expected"), "{e}");
        let mut m = pip_contract().to_metadata();
        m.insert("facetrack.contract_version".into(), "4".into());
        let e = ModelContract::from_metadata(|k| m.get(k).cloned()).unwrap_err();
        assert!(e.to_string().contains("expected 1 to 3, got 4"), "{e}");
        let mut m = pip_contract().to_metadata();
        m.insert("facetrack.pip_neighbors".into(), "1,2,99".into());
        let e = ModelContract::from_metadata(|k| m.get(k).cloned()).unwrap_err();
        assert!(e.to_string().contains("neighbour"), "{e}");
        let mut m = pip_contract().to_metadata();
        m.insert("facetrack.output_kind".into(), "heatmap3d".into());
        assert!(ModelContract::from_metadata(|k| m.get(k).cloned()).is_err());
    }

    #[test]
    fn channels_last_layouts_round_trip_need_version_3_and_are_checked() {
        let plain = pip_contract();
        assert_eq!(plain.input_shape(), vec![1, 112, 112]);
        let mut c = plain.clone();
        c.input_layout = InputLayout::Blocks2;
        c.maps_layout = MapsLayout::ChannelsLast;
        let m = c.to_metadata();
        assert_eq!(m["facetrack.contract_version"], "3");
        assert_eq!(m["facetrack.input_layout"], "blocks2_nhwc");
        assert_eq!(m["facetrack.maps_layout"], "nhwc");
        assert_eq!(
            ModelContract::from_metadata(|k| m.get(k).cloned()).unwrap(),
            c
        );
        assert_eq!(c.input_shape(), vec![56, 56, 4]);
        assert!(
            c.to_string()
                .ends_with(", input blocks2_nhwc and maps nhwc (contract version 3)"),
            "{c}"
        );
        assert!(!plain.to_string().contains("version 3"), "{plain}");
        assert_eq!(c.output_shape(), vec![7, 7, 68 * 7]);
        assert_eq!(c.input_len(), plain.input_len());
        assert_eq!(c.raw_output_len(), plain.raw_output_len());
        // either layout alone needs version 3; neither writes its key
        for (i, o) in [
            (InputLayout::Blocks2, MapsLayout::ChannelsFirst),
            (InputLayout::Planar, MapsLayout::ChannelsLast),
        ] {
            let one = ModelContract {
                input_layout: i,
                maps_layout: o,
                ..plain.clone()
            };
            assert_eq!(one.version(), 3);
            let m = one.to_metadata();
            assert_eq!(
                ModelContract::from_metadata(|k| m.get(k).cloned()).unwrap(),
                one
            );
        }
        let m = plain.to_metadata();
        assert!(
            !m.contains_key("facetrack.input_layout") && !m.contains_key("facetrack.maps_layout")
        );
        // a layout under an older version, an unknown layout, an odd size, maps on points
        let mut bad = c.to_metadata();
        bad.insert("facetrack.contract_version".into(), "2".into());
        let e = ModelContract::from_metadata(|k| bad.get(k).cloned()).unwrap_err();
        assert!(e.to_string().contains("expected 3, got 2"), "{e}");
        for (k, v, says) in [
            (
                "facetrack.input_layout",
                "nhwc",
                "expected nchw or blocks2_nhwc, got nhwc",
            ),
            (
                "facetrack.maps_layout",
                "chw",
                "expected nchw or nhwc, got chw",
            ),
            ("facetrack.input_width", "111", "an even width and height"),
        ] {
            let mut bad = c.to_metadata();
            bad.insert(k.into(), v.into());
            let e = ModelContract::from_metadata(|k| bad.get(k).cloned()).unwrap_err();
            assert!(e.to_string().contains(says), "{k} = {v}: {e}");
        }
        let mut points = ModelContract::face_box(PointSet::Ibug68, 112, "resnet18");
        points.maps_layout = MapsLayout::ChannelsLast;
        assert!(points.validate().is_err());
    }
}
