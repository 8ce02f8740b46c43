//! The model contract, written once: what a landmark model takes and returns. The
//! exporter stores it as ONNX metadata (`facetrack.*` keys); the tracker reads it back
//! and refuses a model whose graph does not match it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::layout::PointSet;
use crate::preprocess::Normalization;

/// Prefix of every metadata key.
pub const META_PREFIX: &str = "facetrack.";
/// Version of this contract; bumped on any incompatible change.
pub const CONTRACT_VERSION: u32 = 1;
/// Name of the model's only input: `[batch, channels, height, width]` float32.
pub const INPUT_NAME: &str = "image";
/// Name of the model's only output: `[batch, 2 * points]` float32, `x0, y0, x1, y1, ...`
/// in normalised crop coordinates ([`crate::geometry::CropPoint`]).
pub const OUTPUT_NAME: &str = "landmarks";

/// How the crop handed to the model is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CropMode {
    /// A square around the face box, `crop_scale` times the box's longer side.
    FaceBox,
    /// The whole frame resized to the input size (the IMM models).
    FullFrame,
}

impl CropMode {
    pub fn name(self) -> &'static str {
        match self {
            CropMode::FaceBox => "face_box",
            CropMode::FullFrame => "full_frame",
        }
    }
}

impl FromStr for CropMode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "face_box" => Ok(CropMode::FaceBox),
            "full_frame" => Ok(CropMode::FullFrame),
            _ => Err(()),
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
}

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
        put("contract_version", CONTRACT_VERSION.to_string());
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
        put("output", OUTPUT_NAME.to_string());
        put("output_coordinates", "crop_normalised_xy".to_string());
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
        if version != CONTRACT_VERSION {
            return Err(ContractError::Mismatch {
                what: "contract version",
                expected: CONTRACT_VERSION.to_string(),
                got: version.to_string(),
            });
        }
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
        };
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
        Ok(())
    }
}

/// A model that does not follow the contract.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
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
            "{} points, {}x{}x{} input, {} crop x{}, {}",
            self.num_points(),
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
        )
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
}
