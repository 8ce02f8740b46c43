//! Quantization-aware fine-tuning (`train fit --fake-quant`): the values that ONNX
//! Runtime's 8-bit model holds as 8-bit tensors (the input, every ReLU and residual sum,
//! a batch norm that feeds a sum, the head's output) are rounded to 256 levels in the
//! forward pass during training, with straight-through gradients, so that the network
//! learns weights whose output does not jump when a value crosses a rounding step. The
//! float weights are exported as usual and quantized afterwards (tools/quantize.py);
//! the ranges here are calibrated the way its percentile method sets them.

use tch::Tensor;

use crate::net::{Net, Op};

/// Percentile of a value's distribution taken as its 8-bit range's top (and, for values
/// that can be negative, 100 minus it as its bottom): the shipped model's quantization
/// recipe (`tools/quantize.py --method percentile`, 99.99).
pub const PERCENTILE: f64 = 99.99;

/// At most this many elements of a value are sorted to find its percentiles.
const SAMPLE: i64 = 200_000;

/// Which of `net`'s values (0: the input, k: node k's output) are 8-bit in the
/// quantized model: those rounding acts on.
pub fn quantized_values(net: &Net) -> Vec<bool> {
    let n = net.nodes.len() + 1;
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (k, node) in net.nodes.iter().enumerate() {
        for &i in &node.inputs {
            consumers[i].push(k);
        }
    }
    let only_relu = |v: usize| {
        !consumers[v].is_empty()
            && consumers[v]
                .iter()
                .all(|&k| matches!(net.nodes[k].op, Op::Relu))
    };
    let mut q = vec![false; n];
    q[0] = true;
    for (k, node) in net.nodes.iter().enumerate() {
        let v = k + 1;
        q[v] = match node.op {
            Op::Relu | Op::Add | Op::Linear(_) => true,
            // folded into the convolution before it; 8-bit where it is not fused with a ReLU
            Op::BatchNorm { .. } => !only_relu(v),
            // a convolution without a batch norm after it: the head
            Op::Conv { .. } => consumers[v].is_empty(),
            _ => false,
        };
    }
    q
}

/// The `p`-th percentile (0-100) of a tensor's elements (an even subsample of large ones).
fn percentile(t: &Tensor, p: f64) -> f64 {
    let flat = t.flatten(0, -1);
    let n = flat.size()[0];
    let step = (n / SAMPLE).max(1);
    let sample = flat.slice(0, 0, n, step);
    let (sorted, _) = sample.sort(0, false);
    let m = sorted.size()[0];
    let at = (((m - 1) as f64) * p / 100.0).round() as i64;
    sorted.double_value(&[at.clamp(0, m - 1)])
}

/// Calibrate the 8-bit ranges of `net`'s quantized values on `batches` (eval mode, no
/// rounding) and switch fake quantization on: per value a scale and zero point for
/// unsigned 8 bits, the mean over the batches of its percentile range (0 at the bottom
/// for values that are never negative). Returns how many values are rounded.
pub fn calibrate(net: &mut Net, batches: &[Tensor]) -> usize {
    net.fake_quant = None;
    let which = quantized_values(net);
    let mut sums = vec![(0.0f64, 0.0f64); which.len()];
    tch::no_grad(|| {
        for b in batches {
            let values = net.values(&b.to_device(net.vs.device()));
            for (k, v) in values.iter().enumerate() {
                if which[k] {
                    sums[k].0 += percentile(v, 100.0 - PERCENTILE).min(0.0);
                    sums[k].1 += percentile(v, PERCENTILE).max(0.0);
                }
            }
        }
    });
    let nb = batches.len().max(1) as f64;
    let params: Vec<Option<(f64, i64)>> = which
        .iter()
        .zip(&sums)
        .map(|(&q, &(lo, hi))| {
            let (lo, hi) = (lo / nb, hi / nb);
            (q && hi > lo).then(|| {
                let scale = (hi - lo) / 255.0;
                (scale, ((-lo / scale).round() as i64).clamp(0, 255))
            })
        })
        .collect();
    let count = params.iter().flatten().count();
    net.fake_quant = Some(params);
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Arch;

    #[test]
    fn rounding_follows_the_calibrated_steps_and_passes_gradients() {
        tch::manual_seed(3);
        let mut net = Net::new(Arch::ResNet18Pip, 112, 112, 68, tch::Device::Cpu);
        let which = quantized_values(&net);
        // the input, the 17 ReLUs, the 8 residual sums, the 3 downsampling batch norms
        // (they feed a sum) and the 8 other block ends' batch norms, the head
        assert!(which[0] && *which.last().unwrap());
        let batches: Vec<Tensor> = (0..2)
            .map(|_| Tensor::randn([4, 1, 112, 112], (tch::Kind::Float, tch::Device::Cpu)))
            .collect();
        let n = calibrate(&mut net, &batches);
        assert_eq!(n, which.iter().filter(|&&q| q).count());
        let x = &batches[0];
        let exact = {
            let q = net.fake_quant.take();
            let y = net.forward_t(x, false);
            net.fake_quant = q;
            y
        };
        let rounded = net.forward_t(x, false);
        let diff = (&rounded - &exact)
            .abs()
            .mean(tch::Kind::Float)
            .double_value(&[]);
        let size = exact.abs().mean(tch::Kind::Float).double_value(&[]);
        // rounding moves the output, but by a small fraction of it
        assert!(diff > 0.0 && diff < 0.2 * size, "{diff} against {size}");
        // the input itself lands on 256 levels
        let (s, z) = net.fake_quant.as_ref().unwrap()[0].unwrap();
        let q = x.fake_quantize_per_tensor_affine(s, z, 0, 255);
        let v = &q / s + z as f64;
        assert!((v.round() - &v).abs().max().double_value(&[]) < 1e-3);
        // straight-through gradients reach the weights
        let xg = x.shallow_clone();
        let loss = net.forward_t(&xg, true).square().mean(tch::Kind::Float);
        loss.backward();
        let grads: f64 = net
            .vs
            .trainable_variables()
            .iter()
            .map(|v| v.grad().abs().sum(tch::Kind::Float).double_value(&[]))
            .sum();
        assert!(grads > 0.0);
    }

    #[test]
    fn noise_mode_draws_noise_in_training_and_rounds_in_evaluation() {
        tch::manual_seed(5);
        let mut net = Net::new(Arch::ResNet18Pip, 112, 112, 68, tch::Device::Cpu);
        let batches: Vec<Tensor> = (0..2)
            .map(|_| Tensor::randn([4, 1, 112, 112], (tch::Kind::Float, tch::Device::Cpu)))
            .collect();
        calibrate(&mut net, &batches);
        let x = &batches[1];
        net.quant_noise = true;
        let (a, b, e) = tch::no_grad(|| {
            (
                net.forward_t(x, true),
                net.forward_t(x, true),
                net.forward_t(x, false),
            )
        });
        // (the training passes moved the batch norms' running statistics: compare after)
        net.quant_noise = false;
        let rounded = tch::no_grad(|| net.forward_t(x, false));
        let mean = |t: Tensor| t.abs().mean(tch::Kind::Float).double_value(&[]);
        // evaluation rounds exactly as without the noise mode
        assert_eq!(mean(&e - &rounded), 0.0);
        // two training passes draw different noise: different maps, but close ones
        let d = mean(&a - &b);
        assert!(d > 0.0 && d < 0.2 * mean(a.shallow_clone()), "{d}");
        // the consistency loss is zero for one pass against itself and positive here
        let spec = net.pip.as_ref().unwrap();
        let target = Tensor::rand([4, 136], (tch::Kind::Float, tch::Device::Cpu)) * 1.6 - 0.8;
        let same = crate::pip::consistency(spec, &a, &a, &target).double_value(&[]);
        let apart = crate::pip::consistency(spec, &a, &b, &target).double_value(&[]);
        assert_eq!(same, 0.0);
        assert!(apart > 0.0);
        // known differences: a score at any cell counts (squared, × SCORE_WEIGHT, over every
        // score value), an offset only at the point's true cell (L1, over the 2N own offsets
        // read there, times 2)
        let (b, c, g) = (4i64, spec.channels(), spec.grid_w * spec.grid_h);
        let zero = Tensor::zeros(
            [b, c, spec.grid_h, spec.grid_w],
            (tch::Kind::Float, tch::Device::Cpu),
        );
        // every point of every face at the first cell: target (-1 + 0.5/grid) in both axes
        let at_first = Tensor::full(
            [b, 136],
            -1.0 + 0.5 / spec.grid_w as f64,
            (tch::Kind::Float, tch::Device::Cpu),
        );
        let score = zero.copy();
        let _ = score.get(0).get(0).get(3).get(4).fill_(2.0);
        let got = crate::pip::consistency(spec, &score, &zero, &at_first).double_value(&[]);
        let want = crate::pip::SCORE_WEIGHT * 4.0 / (b * 68 * g) as f64;
        assert!((got - want).abs() < 1e-9, "{got} against {want}");
        let off_far = zero.copy();
        let _ = off_far.get(0).get(68).get(3).get(4).fill_(1.0);
        assert_eq!(
            crate::pip::consistency(spec, &off_far, &zero, &at_first).double_value(&[]),
            0.0,
            "an offset away from the true cell does not count"
        );
        let off_here = zero.copy();
        let _ = off_here.get(0).get(68).get(0).get(0).fill_(1.0);
        let got = crate::pip::consistency(spec, &off_here, &zero, &at_first).double_value(&[]);
        let want = 2.0 / (b * 2 * 68) as f64;
        assert!((got - want).abs() < 1e-9, "{got} against {want}");
    }
}
