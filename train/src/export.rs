//! ONNX export of a [`Net`]: walks the same layer graph the tch forward runs, writes
//! the ONNX protobuf (opset 17, dynamic batch) with the model contract as metadata, and
//! writes the file atomically.

use std::path::Path;

use anyhow::{Context, Result};
use facetrack::core::contract::{ModelContract, INPUT_NAME};
use prost::Message;
use tch::Tensor;

use crate::net::{Net, Op};
use crate::onnx_proto::*;

/// ONNX IR version written (ONNX 1.13+; ONNX Runtime reads it).
const IR_VERSION: i64 = 8;
/// Default-domain operator set.
const OPSET: i64 = 17;

fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        r#type: attribute_type::INT,
        ..Default::default()
    }
}
fn attr_ints(name: &str, ints: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints,
        r#type: attribute_type::INTS,
        ..Default::default()
    }
}
fn attr_float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f,
        r#type: attribute_type::FLOAT,
        ..Default::default()
    }
}

/// A float tensor as an initializer (copied to the CPU, little-endian raw data).
fn initializer(name: &str, t: &Tensor) -> Result<TensorProto> {
    let t = t
        .detach()
        .to_device(tch::Device::Cpu)
        .to_kind(tch::Kind::Float)
        .contiguous();
    let dims: Vec<i64> = t.size();
    let n = t.numel();
    let mut v = vec![0f32; n];
    t.f_copy_data(&mut v, n).context("copying weights")?;
    let mut raw = Vec::with_capacity(4 * n);
    for x in v {
        raw.extend_from_slice(&x.to_le_bytes());
    }
    Ok(TensorProto {
        dims,
        data_type: data_type::FLOAT,
        name: name.into(),
        raw_data: raw,
    })
}

fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => DimensionValue::DimValue(*v),
                None => DimensionValue::DimParam("batch".into()),
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

/// Build the ONNX model of `net` with `contract` as metadata.
pub fn to_onnx(net: &Net, contract: &ModelContract) -> Result<ModelProto> {
    let output_name = contract.output_name();
    let value_name = |i: usize, last: usize| -> String {
        if i == 0 {
            INPUT_NAME.to_string()
        } else if i == last {
            output_name.to_string()
        } else {
            format!("v{i}")
        }
    };
    let last = net.nodes.len();
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    for (k, node) in net.nodes.iter().enumerate() {
        let out = value_name(k + 1, last);
        let mut inputs: Vec<String> = node.inputs.iter().map(|&i| value_name(i, last)).collect();
        let p = |s: &str| format!("n{}.{s}", k + 1);
        let (op_type, attribute) = match &node.op {
            Op::Conv {
                conv,
                stride,
                pad,
                kernel,
            } => {
                inits.push(initializer(&p("w"), &conv.ws)?);
                inputs.push(p("w"));
                if let Some(b) = &conv.bs {
                    inits.push(initializer(&p("b"), b)?);
                    inputs.push(p("b"));
                }
                (
                    "Conv",
                    vec![
                        attr_ints("kernel_shape", vec![*kernel, *kernel]),
                        attr_ints("strides", vec![*stride, *stride]),
                        attr_ints("pads", vec![*pad, *pad, *pad, *pad]),
                        attr_ints("dilations", vec![1, 1]),
                        attr_int("group", 1),
                    ],
                )
            }
            Op::BatchNorm { bn, eps } => {
                let ws = bn.ws.as_ref().context("batch norm without scale")?;
                let bs = bn.bs.as_ref().context("batch norm without bias")?;
                for (s, t) in [
                    ("scale", ws),
                    ("bias", bs),
                    ("mean", &bn.running_mean),
                    ("var", &bn.running_var),
                ] {
                    inits.push(initializer(&p(s), t)?);
                    inputs.push(p(s));
                }
                (
                    "BatchNormalization",
                    vec![attr_float("epsilon", *eps as f32)],
                )
            }
            Op::Relu => ("Relu", vec![]),
            Op::MaxPool {
                kernel,
                stride,
                pad,
            } => (
                "MaxPool",
                vec![
                    attr_ints("kernel_shape", vec![*kernel, *kernel]),
                    attr_ints("strides", vec![*stride, *stride]),
                    attr_ints("pads", vec![*pad, *pad, *pad, *pad]),
                ],
            ),
            Op::Add => ("Add", vec![]),
            Op::GlobalAvgPool => ("GlobalAveragePool", vec![]),
            Op::Flatten => ("Flatten", vec![attr_int("axis", 1)]),
            Op::Linear(l) => {
                inits.push(initializer(&p("w"), &l.ws)?);
                inputs.push(p("w"));
                if let Some(b) = &l.bs {
                    inits.push(initializer(&p("b"), b)?);
                    inputs.push(p("b"));
                }
                ("Gemm", vec![attr_int("transB", 1)])
            }
        };
        nodes.push(NodeProto {
            input: inputs,
            output: vec![out],
            name: format!("n{}_{}", k + 1, op_type),
            op_type: op_type.into(),
            attribute,
        });
    }
    let graph = GraphProto {
        node: nodes,
        name: format!("facetrack_{}", net.arch),
        initializer: inits,
        doc_string: String::new(),
        input: vec![value_info(
            INPUT_NAME,
            &[None, Some(1), Some(net.in_h), Some(net.in_w)],
        )],
        output: vec![value_info(
            output_name,
            &std::iter::once(None)
                .chain(contract.output_shape().into_iter().map(Some))
                .collect::<Vec<_>>(),
        )],
    };
    Ok(ModelProto {
        ir_version: IR_VERSION,
        producer_name: "facetrack-train".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        domain: String::new(),
        model_version: 1,
        doc_string: format!("facetrack {} landmark model: {contract}", net.arch),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        metadata_props: contract
            .to_metadata()
            .into_iter()
            .map(|(key, value)| StringStringEntryProto { key, value })
            .collect(),
    })
}

/// Read and decode an ONNX model file.
fn read_onnx(path: &Path) -> Result<ModelProto> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ModelProto::decode(bytes.as_slice())
        .with_context(|| format!("{} is not an ONNX model", path.display()))
}

/// The facetrack contract in an ONNX model's metadata.
pub fn contract_of_onnx(path: &Path) -> Result<ModelContract> {
    let meta: std::collections::HashMap<String, String> = read_onnx(path)?
        .metadata_props
        .into_iter()
        .map(|p| (p.key, p.value))
        .collect();
    ModelContract::from_metadata(|k| meta.get(k).cloned())
        .with_context(|| format!("{}: no facetrack model contract", path.display()))
}

/// Copy weights from a facetrack ONNX model (its initializers, named by node as this
/// exporter names them) into `net`, node by node from the input, while the layers
/// agree in kind and shape; stops at the first layer that differs. Lets a new
/// architecture start from a shipped model's trunk. Returns the layers copied and the
/// layers with weights that `net` has.
pub fn init_from_onnx(net: &Net, path: &Path) -> Result<(usize, usize)> {
    let model = read_onnx(path)?;
    let graph = model.graph.context("the ONNX model has no graph")?;
    if graph.node.iter().any(|n| n.op_type == "DequantizeLinear") {
        anyhow::bail!(
            "{} is a quantized (INT8) model; start from its float original (models/facetrack68-fp32.onnx for the shipped default; the slim model's float weights are made by tools/prune.py, see the model card)",
            path.display()
        );
    }
    let inits: std::collections::HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let total = net
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Conv { .. } | Op::BatchNorm { .. } | Op::Linear(_)))
        .count();
    let mut copied = 0;
    for (k, node) in net.nodes.iter().enumerate() {
        let p = |s: &str| format!("n{}.{s}", k + 1);
        let targets: Vec<(String, &Tensor)> = match &node.op {
            Op::Conv { conv, .. } => {
                let mut v = vec![(p("w"), &conv.ws)];
                if let Some(b) = &conv.bs {
                    v.push((p("b"), b));
                }
                v
            }
            Op::BatchNorm { bn, .. } => {
                let (Some(w), Some(b)) = (&bn.ws, &bn.bs) else {
                    break;
                };
                vec![
                    (p("scale"), w),
                    (p("bias"), b),
                    (p("mean"), &bn.running_mean),
                    (p("var"), &bn.running_var),
                ]
            }
            Op::Linear(l) => {
                let mut v = vec![(p("w"), &l.ws)];
                if let Some(b) = &l.bs {
                    v.push((p("b"), b));
                }
                v
            }
            _ => continue,
        };
        let fits = targets.iter().all(|(name, t)| {
            inits
                .get(name.as_str())
                .is_some_and(|i| i.dims == t.size() && i.raw_data.len() == 4 * t.numel())
        });
        if !fits {
            break;
        }
        tch::no_grad(|| {
            for (name, t) in &targets {
                let raw = &inits[name.as_str()].raw_data;
                let v: Vec<f32> = raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                let src = Tensor::from_slice(&v)
                    .view(t.size().as_slice())
                    .to_device(t.device());
                t.shallow_clone().copy_(&src);
            }
        });
        copied += 1;
    }
    Ok((copied, total))
}

/// Serialise the model to bytes.
pub fn to_bytes(net: &Net, contract: &ModelContract) -> Result<Vec<u8>> {
    Ok(to_onnx(net, contract)?.encode_to_vec())
}

/// Write bytes to `path` through a temporary file and a rename, so a crash never leaves
/// a half-written file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    if path.is_dir() {
        anyhow::bail!("{} is a folder; give a file name", path.display());
    }
    // (said of the folder, not of the hidden temporary file the write would make)
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            anyhow::bail!(
                "cannot write {}: the folder {} does not exist",
                path.display(),
                dir.display()
            );
        }
    }
    let written = std::fs::write(&tmp, bytes)
        .with_context(|| format!("writing {}", tmp.display()))
        .and_then(|()| {
            std::fs::rename(&tmp, path)
                .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp); // never leave the temporary file behind
    }
    written
}

/// Largest absolute difference between the tch forward (eval mode) and ONNX Runtime on
/// `input`, and the range of the tch outputs, for checking an export.
pub struct ExportCheck {
    pub max_abs_diff: f32,
    pub output_range: f32,
}

/// Run `input` (`[N,1,H,W]`) through the net in tch and through the exported `onnx`
/// bytes in ONNX Runtime via facetrack's `LandmarkModel`, and compare.
pub fn check_export(net: &Net, onnx: &[u8], input: &Tensor) -> Result<ExportCheck> {
    // the file holds the float network (a quantization-aware run's rounding is not in it)
    let expected = tch::no_grad(|| net.forward_exact(&input.to_device(net.vs.device())))
        .to_device(tch::Device::Cpu)
        .to_kind(tch::Kind::Float)
        .contiguous();
    let n = input.size()[0] as usize;
    let flat: Vec<f32> = Vec::<f32>::try_from(
        input
            .to_device(tch::Device::Cpu)
            .contiguous()
            .flatten(0, -1),
    )
    .context("reading the check input")?;
    let mut model = facetrack::LandmarkModel::from_bytes(
        onnx,
        "exported model",
        facetrack::ModelOptions::default(),
    )
    .context("loading the exported model in ONNX Runtime")?;
    let got = model
        .run_raw(&flat, n)
        .context("running the exported model")?;
    let want: Vec<f32> =
        Vec::<f32>::try_from(expected.flatten(0, -1)).context("reading tch output")?;
    anyhow::ensure!(
        got.len() == want.len(),
        "ONNX output has {} values, tch {}",
        got.len(),
        want.len()
    );
    let max_abs_diff = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let lo = want.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = want.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    Ok(ExportCheck {
        max_abs_diff,
        output_range: hi - lo,
    })
}
