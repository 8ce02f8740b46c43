//! Export each of the three networks with random weights and non-default batch-norm
//! statistics, run the ONNX file in ONNX Runtime through facetrack's `LandmarkModel`, and
//! compare with the tch forward in eval mode.

use facetrack::core::contract::{CropMode, ModelContract};
use facetrack::PointSet;
use ftrain::export::{check_export, to_bytes};
use ftrain::net::{Arch, Net, Op};
use tch::{Device, Kind, Tensor};

/// Tolerance relative to the output range (the acceptance figure).
const REL_TOL: f32 = 1e-3;

fn randomise_batch_norm(net: &Net) {
    tch::no_grad(|| {
        for node in &net.nodes {
            if let Op::BatchNorm { bn, .. } = &node.op {
                let c = bn.running_mean.size()[0];
                let mut m = bn.running_mean.shallow_clone();
                m.copy_(&(Tensor::randn([c], (Kind::Float, Device::Cpu)) * 0.1));
                let mut v = bn.running_var.shallow_clone();
                v.copy_(&(Tensor::rand([c], (Kind::Float, Device::Cpu)) + 0.5));
                if let (Some(w), Some(b)) = (&bn.ws, &bn.bs) {
                    let mut w = w.shallow_clone();
                    w.copy_(&(Tensor::rand([c], (Kind::Float, Device::Cpu)) + 0.5));
                    let mut b = b.shallow_clone();
                    b.copy_(&(Tensor::randn([c], (Kind::Float, Device::Cpu)) * 0.1));
                }
            }
        }
    });
}

fn check(arch: Arch, w: i64, h: i64, set: PointSet) {
    tch::manual_seed(1);
    let net = Net::new(arch, w, h, set.len() as i64, Device::Cpu);
    randomise_batch_norm(&net);
    let mut c = ModelContract::face_box(set, w as u32, arch.name());
    c.input_width = w as u32;
    c.input_height = h as u32;
    match arch {
        Arch::ResNet18 => {}
        a if a.is_pip() => {
            c.crop_mode = CropMode::Aligned;
            c.output = ftrain::run::pip_output(w as u32, h as u32);
        }
        _ => c.crop_mode = CropMode::FullFrame,
    }
    let bytes = to_bytes(&net, &c).expect("export");
    let input = Tensor::randn([3, 1, h, w], (Kind::Float, Device::Cpu));
    let r = check_export(&net, &bytes, &input).expect("check");
    assert!(r.output_range > 0.0, "{arch}: degenerate outputs");
    assert!(
        r.max_abs_diff <= REL_TOL * r.output_range,
        "{arch}: max |onnx - tch| = {} over an output range of {}",
        r.max_abs_diff,
        r.output_range
    );
    eprintln!(
        "{arch}: max diff {:.3e}, range {:.3}",
        r.max_abs_diff, r.output_range
    );
}

#[test]
fn nosenet_export_matches_tch() {
    check(Arch::NoseNet, 80, 60, PointSet::NoseTip);
}

#[test]
fn facenet_export_matches_tch() {
    check(Arch::FaceNet, 240, 180, PointSet::Imm58);
}

#[test]
fn resnet18_export_matches_tch() {
    check(Arch::ResNet18, 112, 112, PointSet::Ibug68);
}

#[test]
fn resnet18_pip_export_matches_tch() {
    check(Arch::ResNet18Pip, 112, 112, PointSet::Ibug68);
}

/// The lean networks halve the inner channels of layer3 and layer4 only (lean34), of
/// layer1 and layer2 only (lean12) or of layer1 only (lean1): exactly the weights of those
/// blocks' halves are gone (each block's two 3x3 convolutions and its first batch norm's scale and shift),
/// slim halves all eight, and each exports as it trains.
#[test]
fn resnet18_pip_lean_networks_halve_only_their_stages() {
    check(Arch::ResNet18PipLean34, 112, 112, PointSet::Ibug68);
    check(Arch::ResNet18PipLean12, 112, 112, PointSet::Ibug68);
    check(Arch::ResNet18PipLean1, 112, 112, PointSet::Ibug68);
    let params = |a| Net::new(a, 112, 112, 68, Device::Cpu).num_params();
    let full = params(Arch::ResNet18Pip);
    // `half` of a block's `c` inner channels go; it reads `cin` and writes `c`
    let block = |cin: i64, c: i64| {
        let half = c / 2;
        cin * 9 * half + 2 * half + half * 9 * c
    };
    let late = block(128, 256) + 3 * block(256, 256);
    let first = 2 * block(64, 64);
    let early = first + block(64, 128) + block(128, 128);
    assert_eq!(full - params(Arch::ResNet18PipLean34), late);
    assert_eq!(full - params(Arch::ResNet18PipLean12), early);
    assert_eq!(full - params(Arch::ResNet18PipLean1), first);
    assert_eq!(full - params(Arch::ResNet18PipSlim), late + early);
}

#[test]
fn a_model_whose_graph_contradicts_its_contract_is_refused() {
    // weights for a 96x96 input, metadata claiming 112x112
    let net = Net::new(Arch::ResNet18, 96, 96, 68, Device::Cpu);
    let c = ModelContract::face_box(PointSet::Ibug68, 112, "resnet18");
    let bytes = to_bytes(&net, &c).unwrap();
    let e = facetrack::LandmarkModel::from_bytes(
        &bytes,
        "mismatch.onnx",
        facetrack::ModelOptions::default(),
    )
    .err()
    .expect("refused");
    let msg = e.to_string();
    assert!(
        msg.contains("input shape") && msg.contains("expected") && msg.contains("got"),
        "{msg}"
    );
    // a 58-point network labelled as 68 points
    let net = Net::new(Arch::ResNet18, 112, 112, 58, Device::Cpu);
    let bytes = to_bytes(&net, &c).unwrap();
    let msg = facetrack::LandmarkModel::from_bytes(
        &bytes,
        "points.onnx",
        facetrack::ModelOptions::default(),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(msg.contains("output shape"), "{msg}");
}

#[test]
fn cuda_on_a_cpu_runtime_is_a_clear_error() {
    let net = Net::new(Arch::NoseNet, 80, 60, 1, Device::Cpu);
    let mut c = ModelContract::face_box(PointSet::NoseTip, 80, "nosenet");
    c.input_height = 60;
    c.crop_mode = CropMode::FullFrame;
    let bytes = to_bytes(&net, &c).unwrap();
    let mut opts = facetrack::ModelOptions::with_threads(1);
    opts.device = facetrack::Device::Cuda(0);
    match facetrack::LandmarkModel::from_bytes(&bytes, "nose.onnx", opts) {
        // a machine with onnxruntime-gpu and a GPU: fine
        Ok(_) => eprintln!("CUDA execution provider available here"),
        Err(e) => assert!(
            e.to_string()
                .contains("CUDA execution provider is not available"),
            "{e}"
        ),
    }
}
