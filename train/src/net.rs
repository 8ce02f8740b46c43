//! The networks of the original work and their successors, defined once as a small layer graph that
//! both runs in tch (training, evaluation) and is written out as ONNX (export), so the
//! two cannot drift apart.
//!
//! * `nosenet`: a small 3-convolution CNN for the IMM nose tip (1 point, 80×60 input).
//! * `facenet`: a 5-convolution CNN for the 58 IMM points (240×180 input).
//! * `resnet18`: ResNet-18 with a 1-channel first convolution and a 2N-output head.
//! * `resnet18-pip`: the ResNet-18 trunk to stride 16 (its last stage at 256 channels
//!   and stride 1, so it costs about what ResNet-18 does) and a pixel-in-pixel head: a
//!   1×1 convolution giving score, offset and neighbour-offset maps (`facetrack::inference::pip`).
//! * `resnet18-pip-slim`: `resnet18-pip` with half the channels between the two
//!   convolutions of each residual block (the same shapes in and out of every block),
//!   about 0.7× the model's time; `tools/prune.py` cuts a trained `resnet18-pip` to it.
//! * `resnet18-pip-lean34`: half the inner channels in the two 256-channel stages only
//!   (layer3 and layer4; layer1 and layer2 as `resnet18-pip`), about 0.8× the 8-bit
//!   model's time; `tools/prune.py --stages 3,4` cuts a trained `resnet18-pip` to it.
//! * `resnet18-pip-lean12`: the same in the first two stages only (layer1 and layer2),
//!   about 0.83× the 8-bit model's time; `tools/prune.py --stages 1,2`.
//! * `resnet18-pip-lean1`: the same in the first stage only (layer1), 0.89× the 8-bit
//!   model's time (two threads, an AVX2-only EPYC); `tools/prune.py --stages 1`.
//!
//! The regression networks map a `[N, 1, H, W]` normalised crop to `[N, 2K]` points in
//! normalised crop coordinates (`facetrack::core::contract`); the PIP network maps it to its
//! maps, which [`Net::points`] decodes.

use std::fmt;
use std::str::FromStr;

use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

/// The architectures the trainer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    NoseNet,
    FaceNet,
    ResNet18,
    ResNet18Pip,
    /// `ResNet18Pip` with half the channels inside each residual block (between its two
    /// convolutions): the same inputs, outputs and shortcuts, about half the trunk's
    /// multiply-adds. `tools/prune.py` cuts a trained `ResNet18Pip` down to it.
    ResNet18PipSlim,
    /// `ResNet18Pip` with half the inner channels in its two 256-channel stages only
    /// (layer3 and layer4). `tools/prune.py --stages 3,4` cuts a trained `ResNet18Pip`
    /// down to it.
    ResNet18PipLean34,
    /// `ResNet18Pip` with half the inner channels in its first two stages only (layer1
    /// and layer2). `tools/prune.py --stages 1,2` cuts a trained `ResNet18Pip` down to it.
    ResNet18PipLean12,
    /// `ResNet18Pip` with half the inner channels in its first stage only (layer1).
    /// `tools/prune.py --stages 1` cuts a trained `ResNet18Pip` down to it.
    ResNet18PipLean1,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::NoseNet => "nosenet",
            Arch::FaceNet => "facenet",
            Arch::ResNet18 => "resnet18",
            Arch::ResNet18Pip => "resnet18-pip",
            Arch::ResNet18PipSlim => "resnet18-pip-slim",
            Arch::ResNet18PipLean34 => "resnet18-pip-lean34",
            Arch::ResNet18PipLean12 => "resnet18-pip-lean12",
            Arch::ResNet18PipLean1 => "resnet18-pip-lean1",
        }
    }

    /// Whether the network outputs PIP maps rather than points.
    pub fn is_pip(self) -> bool {
        matches!(
            self,
            Arch::ResNet18Pip
                | Arch::ResNet18PipSlim
                | Arch::ResNet18PipLean34
                | Arch::ResNet18PipLean12
                | Arch::ResNet18PipLean1
        )
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "nosenet" => Ok(Arch::NoseNet),
            "facenet" => Ok(Arch::FaceNet),
            "resnet18" => Ok(Arch::ResNet18),
            "resnet18-pip" => Ok(Arch::ResNet18Pip),
            "resnet18-pip-slim" => Ok(Arch::ResNet18PipSlim),
            "resnet18-pip-lean34" => Ok(Arch::ResNet18PipLean34),
            "resnet18-pip-lean12" => Ok(Arch::ResNet18PipLean12),
            "resnet18-pip-lean1" => Ok(Arch::ResNet18PipLean1),
            _ => Err(format!(
                "unknown architecture '{s}' (nosenet, facenet, resnet18, resnet18-pip, resnet18-pip-slim, resnet18-pip-lean34, resnet18-pip-lean12, resnet18-pip-lean1)"
            )),
        }
    }
}

/// Batch-norm epsilon (PyTorch's default), written into the ONNX node too.
pub const BN_EPS: f64 = 1e-5;

/// One layer of the graph. Values are numbered: 0 is the input, node `i` makes value `i + 1`.
pub enum Op {
    Conv {
        conv: nn::Conv2D,
        stride: i64,
        pad: i64,
        kernel: i64,
    },
    BatchNorm {
        bn: nn::BatchNorm,
        eps: f64,
    },
    Relu,
    MaxPool {
        kernel: i64,
        stride: i64,
        pad: i64,
    },
    /// Elementwise sum of two values (residual connection).
    Add,
    GlobalAvgPool,
    Flatten,
    Linear(nn::Linear),
}

pub struct Node {
    pub op: Op,
    /// Value indices read by the node.
    pub inputs: Vec<usize>,
}

/// A network: the variable store that owns its weights and the layer graph.
pub struct Net {
    pub arch: Arch,
    pub vs: nn::VarStore,
    pub nodes: Vec<Node>,
    pub in_h: i64,
    pub in_w: i64,
    /// Output values (regression) or channels (PIP) per face.
    pub outputs: i64,
    /// The PIP head's geometry, for PIP networks.
    pub pip: Option<crate::pip::PipSpec>,
    /// Quantization-aware training ([`crate::qat`]): per value (0: the input, k: node k's
    /// output) the 8-bit scale and zero point it is rounded with in the forward pass.
    pub fake_quant: Option<Vec<Option<(f64, i64)>>>,
    /// With `fake_quant`: in training passes, add uniform noise of one rounding step to
    /// each 8-bit value (clipped to its range) instead of rounding it, so that the network
    /// learns to be flat across a step ([`crate::qat`]); evaluation still rounds.
    pub quant_noise: bool,
}

/// Builds a graph node by node, tracking the current value index.
struct Builder<'a> {
    root: nn::Path<'a>,
    nodes: Vec<Node>,
}

impl<'a> Builder<'a> {
    /// Add a node reading `inputs`; returns the index of the value it makes.
    fn push(&mut self, op: Op, inputs: Vec<usize>) -> usize {
        self.nodes.push(Node { op, inputs });
        self.nodes.len()
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        x: usize,
        name: &str,
        cin: i64,
        cout: i64,
        k: i64,
        s: i64,
        p: i64,
        bias: bool,
    ) -> usize {
        let cfg = nn::ConvConfig {
            stride: s,
            padding: p,
            bias,
            ..Default::default()
        };
        let conv = nn::conv2d(&self.root / name, cin, cout, k, cfg);
        self.push(
            Op::Conv {
                conv,
                stride: s,
                pad: p,
                kernel: k,
            },
            vec![x],
        )
    }

    fn bn(&mut self, x: usize, name: &str, c: i64) -> usize {
        let cfg = nn::BatchNormConfig {
            eps: BN_EPS,
            ..Default::default()
        };
        let bn = nn::batch_norm2d(&self.root / name, c, cfg);
        self.push(Op::BatchNorm { bn, eps: BN_EPS }, vec![x])
    }

    fn relu(&mut self, x: usize) -> usize {
        self.push(Op::Relu, vec![x])
    }

    fn pool(&mut self, x: usize, k: i64, s: i64, p: i64) -> usize {
        self.push(
            Op::MaxPool {
                kernel: k,
                stride: s,
                pad: p,
            },
            vec![x],
        )
    }

    fn linear(&mut self, x: usize, name: &str, i: i64, o: i64) -> usize {
        let l = nn::linear(&self.root / name, i, o, Default::default());
        self.push(Op::Linear(l), vec![x])
    }

    /// `conv → ReLU → 2×2 max-pool` per `(in, out, kernel)` layer, then two fully
    /// connected layers (`hidden` units, then `outputs`). Returns the output value.
    fn plain_cnn(
        &mut self,
        layers: &[(i64, i64, i64)],
        hidden: i64,
        in_h: i64,
        in_w: i64,
        outputs: i64,
    ) -> usize {
        let (mut h, mut w) = (in_h, in_w);
        let mut x = 0;
        let mut channels = 1;
        for (i, &(cin, cout, k)) in layers.iter().enumerate() {
            x = self.conv(x, &format!("conv{}", i + 1), cin, cout, k, 1, k / 2, true);
            x = self.relu(x);
            x = self.pool(x, 2, 2, 0);
            h = out_size(h, 2, 2, 0);
            w = out_size(w, 2, 2, 0);
            channels = cout;
        }
        x = self.push(Op::Flatten, vec![x]);
        x = self.linear(x, "fc1", channels * h * w, hidden);
        x = self.relu(x);
        self.linear(x, "fc2", hidden, outputs)
    }

    /// ResNet basic block: two 3×3 convolutions with batch norm and a shortcut.
    fn basic_block(&mut self, x: usize, name: &str, cin: i64, cout: i64, stride: i64) -> usize {
        self.basic_block_inner(x, name, cin, cout, cout, stride)
    }

    /// A basic block with `mid` channels between its two convolutions.
    fn basic_block_inner(
        &mut self,
        x: usize,
        name: &str,
        cin: i64,
        mid: i64,
        cout: i64,
        stride: i64,
    ) -> usize {
        let a = self.conv(x, &format!("{name}_conv1"), cin, mid, 3, stride, 1, false);
        let a = self.bn(a, &format!("{name}_bn1"), mid);
        let a = self.relu(a);
        let a = self.conv(a, &format!("{name}_conv2"), mid, cout, 3, 1, 1, false);
        let a = self.bn(a, &format!("{name}_bn2"), cout);
        let short = if stride != 1 || cin != cout {
            let s = self.conv(
                x,
                &format!("{name}_down_conv"),
                cin,
                cout,
                1,
                stride,
                0,
                false,
            );
            self.bn(s, &format!("{name}_down_bn"), cout)
        } else {
            x
        };
        let sum = self.push(Op::Add, vec![a, short]);
        self.relu(sum)
    }
}

/// The PIP head's grid `(w, h)` for an input of `in_w` × `in_h`: stride 16.
pub fn pip_grid(in_w: i64, in_h: i64) -> (i64, i64) {
    let down = |n: i64| {
        let n = out_size(out_size(n, 7, 2, 3), 3, 2, 1);
        out_size(out_size(n, 3, 2, 1), 3, 2, 1)
    };
    (down(in_w), down(in_h))
}

/// Spatial size after a convolution or pooling (floor mode).
fn out_size(n: i64, k: i64, s: i64, p: i64) -> i64 {
    (n + 2 * p - k) / s + 1
}

/// The first line of a libtorch error: its message, without the C++ stack trace that
/// follows it.
pub fn torch_message(e: &tch::TchError) -> String {
    let m = e.to_string();
    m.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

impl Net {
    /// Load the weights of `path` (a `.ot` file) into this network, kept in single
    /// precision: a half-precision file (what `tools/gpu/train.sh` brings back, or `train
    /// weights --to f16` writes) is widened as it is loaded. Errors name the file and
    /// give libtorch's message without its stack trace.
    pub fn load_weights(&mut self, path: &std::path::Path) -> anyhow::Result<()> {
        if !path.is_file() {
            anyhow::bail!(
                "{}: {}",
                path.display(),
                if path.exists() {
                    "not a file"
                } else {
                    "no such file"
                }
            );
        }
        self.vs.load(path).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a weight file of this network: {}",
                path.display(),
                torch_message(&e)
            )
        })?;
        self.vs.float();
        Ok(())
    }

    /// A new network with freshly initialised weights on `device`.
    pub fn new(arch: Arch, in_w: i64, in_h: i64, points: i64, device: tch::Device) -> Self {
        let vs = nn::VarStore::new(device);
        let mut outputs = 2 * points;
        let mut pip = None;
        let nodes = {
            let mut b = Builder {
                root: vs.root(),
                nodes: Vec::new(),
            };
            let _output = match arch {
                // 3 conv + 2 fc, as the nose-tip network of the original work
                Arch::NoseNet => b.plain_cnn(
                    &[(1, 12, 5), (12, 24, 5), (24, 32, 3)],
                    128,
                    in_h,
                    in_w,
                    outputs,
                ),
                // 5 conv + 2 fc, as the 58-point network of the original work
                Arch::FaceNet => b.plain_cnn(
                    &[
                        (1, 16, 7),
                        (16, 32, 5),
                        (32, 64, 3),
                        (64, 64, 3),
                        (64, 128, 3),
                    ],
                    256,
                    in_h,
                    in_w,
                    outputs,
                ),
                Arch::ResNet18 => {
                    let mut x = b.conv(0, "conv1", 1, 64, 7, 2, 3, false);
                    x = b.bn(x, "bn1", 64);
                    x = b.relu(x);
                    x = b.pool(x, 3, 2, 1);
                    let mut cin = 64;
                    for (li, cout) in [64, 128, 256, 512].into_iter().enumerate() {
                        for bi in 0..2 {
                            let stride = if li > 0 && bi == 0 { 2 } else { 1 };
                            x = b.basic_block(
                                x,
                                &format!("layer{}_{bi}", li + 1),
                                cin,
                                cout,
                                stride,
                            );
                            cin = cout;
                        }
                    }
                    x = b.push(Op::GlobalAvgPool, vec![x]);
                    x = b.push(Op::Flatten, vec![x]);
                    b.linear(x, "fc", 512, outputs)
                }
                Arch::ResNet18Pip
                | Arch::ResNet18PipSlim
                | Arch::ResNet18PipLean34
                | Arch::ResNet18PipLean12
                | Arch::ResNet18PipLean1 => {
                    // the channels between a block's two convolutions, by stage (0-3)
                    let inner = |stage: usize, c: i64| match arch {
                        Arch::ResNet18PipSlim => c / 2,
                        Arch::ResNet18PipLean34 if stage >= 2 => c / 2,
                        Arch::ResNet18PipLean12 if stage < 2 => c / 2,
                        Arch::ResNet18PipLean1 if stage < 1 => c / 2,
                        _ => c,
                    };
                    let mut x = b.conv(0, "conv1", 1, 64, 7, 2, 3, false);
                    x = b.bn(x, "bn1", 64);
                    x = b.relu(x);
                    x = b.pool(x, 3, 2, 1);
                    let (mut h, mut w) = (
                        out_size(out_size(in_h, 7, 2, 3), 3, 2, 1),
                        out_size(out_size(in_w, 7, 2, 3), 3, 2, 1),
                    );
                    let mut cin = 64;
                    for (li, (cout, stride)) in [(64, 1), (128, 2), (256, 2), (256, 1)]
                        .into_iter()
                        .enumerate()
                    {
                        for bi in 0..2 {
                            let s = if bi == 0 { stride } else { 1 };
                            x = b.basic_block_inner(
                                x,
                                &format!("layer{}_{bi}", li + 1),
                                cin,
                                inner(li, cout),
                                cout,
                                s,
                            );
                            cin = cout;
                        }
                        h = out_size(h, 3, stride, 1);
                        w = out_size(w, 3, stride, 1);
                    }
                    let table = facetrack::inference::pip::neighbor_table(
                        facetrack::inference::pip::DEFAULT_NEIGHBORS,
                    );
                    // its index tensors on the network's device once, not copied there
                    // (a blocking copy on a GPU) at every loss and decode
                    let spec = crate::pip::PipSpec::new(points, w, h, &table).on_device(device);
                    outputs = spec.channels();
                    pip = Some(spec);
                    b.conv(x, "pip_head", cin, outputs, 1, 1, 0, true)
                }
            };
            b.nodes
        };
        if pip.is_some() {
            // PIPNet starts its heads near zero (normal, std 0.001): the score maps begin
            // flat instead of at the trunk's scale
            if let Some(Node {
                op: Op::Conv { conv, .. },
                ..
            }) = nodes.last()
            {
                tch::no_grad(|| {
                    let _ = conv.ws.shallow_clone().normal_(0.0, 0.001);
                    if let Some(b) = &conv.bs {
                        let _ = b.shallow_clone().zero_();
                    }
                });
            }
        }
        Net {
            arch,
            vs,
            nodes,
            in_h,
            in_w,
            outputs,
            pip,
            fake_quant: None,
            quant_noise: false,
        }
    }

    /// Train and decode a PIP head's offsets on the contract's window of cells
    /// (`facetrack.pip_window`); nothing for other networks.
    pub fn use_window(&mut self, contract: &facetrack::core::contract::ModelContract) {
        if let Some(spec) = self.pip.as_mut() {
            spec.window = contract.pip_window as i64;
            spec.window_weight = contract.pip_window_weight as f64;
        }
    }

    /// Points `[N, 2K]` in crop coordinates for a batch (eval mode): the output itself
    /// for regression networks, the decoded maps for PIP networks.
    pub fn points(&self, input: &Tensor) -> Tensor {
        let y = self.forward_t(input, false);
        match &self.pip {
            Some(spec) => crate::pip::decode(spec, &y),
            None => y,
        }
    }

    /// Forward pass; `train` switches batch norm to batch statistics.
    pub fn forward_t(&self, input: &Tensor, train: bool) -> Tensor {
        let round = |k: usize, t: Tensor| match self
            .fake_quant
            .as_ref()
            .and_then(|q| q.get(k).copied().flatten())
        {
            Some((scale, zero)) if train && self.quant_noise => {
                let (lo, hi) = (-(zero as f64) * scale, (255 - zero) as f64 * scale);
                t.clamp(lo, hi) + (t.rand_like() - 0.5) * scale
            }
            Some((scale, zero)) => t.fake_quantize_per_tensor_affine(scale, zero, 0, 255),
            None => t,
        };
        let mut values: Vec<Tensor> = Vec::with_capacity(self.nodes.len() + 1);
        values.push(round(0, input.shallow_clone()));
        for (k, node) in self.nodes.iter().enumerate() {
            let x = &values[node.inputs[0]];
            let y = match &node.op {
                Op::BatchNorm { bn, .. } => bn.forward_t(x, train),
                _ => self.apply(node, x, &values),
            };
            values.push(round(k + 1, y));
        }
        values.pop().unwrap_or_else(|| input.shallow_clone())
    }

    /// The eval-mode output without the rounding of quantization-aware training: what the
    /// exported float network computes.
    pub fn forward_exact(&self, input: &Tensor) -> Tensor {
        self.values(input)
            .pop()
            .unwrap_or_else(|| input.shallow_clone())
    }

    /// Every value of an eval-mode forward pass without rounding (0: the input, k: node
    /// k's output), for calibration.
    pub fn values(&self, input: &Tensor) -> Vec<Tensor> {
        let mut values: Vec<Tensor> = Vec::with_capacity(self.nodes.len() + 1);
        values.push(input.shallow_clone());
        for node in &self.nodes {
            let y = self.apply(node, &values[node.inputs[0]], &values);
            values.push(y);
        }
        values
    }

    /// Re-estimate every batch norm's running statistics as the exact average of the
    /// batch statistics over `batches` (run in train mode, no gradients). Running averages
    /// kept during training lag behind the weights; with a high learning rate they can
    /// disagree with them badly, which shows as an erratic validation error.
    pub fn recalibrate_batch_norm(&self, batches: &[Tensor]) {
        if batches.is_empty() {
            return;
        }
        tch::no_grad(|| {
            let mut sums: Vec<Option<(Tensor, Tensor)>> =
                (0..self.nodes.len()).map(|_| None).collect();
            for input in batches {
                let mut values: Vec<Tensor> = vec![input.to_device(self.vs.device())];
                for (k, node) in self.nodes.iter().enumerate() {
                    let x = &values[node.inputs[0]];
                    let y = match &node.op {
                        Op::BatchNorm { bn, eps } => {
                            let m = x.mean_dim(&[0i64, 2, 3][..], false, tch::Kind::Float);
                            let v = x.var_dim(&[0i64, 2, 3][..], true, false);
                            let n = x.size()[1];
                            let out =
                                (x - m.view([1, n, 1, 1])) / (v.view([1, n, 1, 1]) + *eps).sqrt();
                            let out = match (&bn.ws, &bn.bs) {
                                (Some(w), Some(b)) => {
                                    out * w.view([1, n, 1, 1]) + b.view([1, n, 1, 1])
                                }
                                _ => out,
                            };
                            sums[k] = Some(match sums[k].take() {
                                Some((sm, sv)) => (sm + &m, sv + &v),
                                None => (m, v),
                            });
                            out
                        }
                        _ => self.apply(node, x, &values),
                    };
                    values.push(y);
                }
            }
            let n = batches.len() as f64;
            for (k, node) in self.nodes.iter().enumerate() {
                if let (Op::BatchNorm { bn, .. }, Some((sm, sv))) = (&node.op, &sums[k]) {
                    bn.running_mean.shallow_clone().copy_(&(sm / n));
                    bn.running_var.shallow_clone().copy_(&(sv / n));
                }
            }
        });
    }

    /// One node's eval-mode output.
    fn apply(&self, node: &Node, x: &Tensor, values: &[Tensor]) -> Tensor {
        match &node.op {
            Op::Conv { conv, .. } => conv.forward(x),
            Op::BatchNorm { bn, .. } => bn.forward_t(x, false),
            Op::Relu => x.relu(),
            Op::MaxPool {
                kernel,
                stride,
                pad,
            } => x.max_pool2d(
                [*kernel, *kernel],
                [*stride, *stride],
                [*pad, *pad],
                [1, 1],
                false,
            ),
            Op::Add => x + &values[node.inputs[1]],
            Op::GlobalAvgPool => x.adaptive_avg_pool2d([1, 1]),
            Op::Flatten => x.flatten(1, -1),
            Op::Linear(l) => l.forward(x),
        }
    }

    /// The first convolution's filters `[out, 1, k, k]` (for the filter picture).
    pub fn first_conv_weights(&self) -> Option<Tensor> {
        self.nodes.iter().find_map(|n| match &n.op {
            Op::Conv { conv, .. } => Some(conv.ws.shallow_clone()),
            _ => None,
        })
    }

    /// Number of trainable parameters.
    pub fn num_params(&self) -> i64 {
        self.vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum()
    }
}
