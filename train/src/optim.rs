//! AdamW with its moments kept as named tensors, so a checkpoint holds the whole
//! optimiser state and a resumed run continues exactly (tch's built-in optimisers keep
//! their state inside libtorch, out of reach of a checkpoint).
//!
//! The parameters and the two moments each live end to end in one flat tensor (every
//! parameter is a view into `flat`, the decayed ones first), so that a step is 11
//! operations over the whole network, all in place, instead of about 16 per parameter
//! tensor (about 950 for the 59 of the ResNet-18 heat-map network, counting the zeroing
//! and accumulation of the gradients). On a GPU each operation is a kernel launch of some
//! microseconds whatever its size, about as many as the network's own forward and backward
//! passes launch; on a CPU the two forms take the same time (memory-bound). Gradients come
//! from `Tensor::run_backward`, which returns them without accumulating them in each
//! parameter's `.grad`. The in-place updates of `flat` are not seen by autograd's checks
//! on the parameters' versions: a graph kept across a step (gradient accumulation over
//! several backward passes of one forward) would go unwarned; the training loop frees each
//! step's graph in its backward pass.

use std::path::Path;

use anyhow::{Context, Result};
use tch::{nn::VarStore, Kind, Tensor};

pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Steps taken (for bias correction).
    pub step: i64,
    names: Vec<String>,
    params: Vec<Tensor>,
    shapes: Vec<Vec<i64>>,
    offsets: Vec<i64>,
    numels: Vec<i64>,
    /// Every parameter's values, end to end; each parameter is a view into it.
    flat: Tensor,
    /// How many of `flat`'s values, from its start, are decayed (the parameters with
    /// more than one dimension, which come first: not biases and norms).
    decayed: i64,
    m: Tensor,
    v: Tensor,
    /// Room for the gradients end to end, then for the update's denominator: every
    /// operation of a step works in place (a new tensor of the network's size each time
    /// costs more than the arithmetic on a CPU, where fresh memory is faulted in page by
    /// page).
    scratch: Tensor,
}

impl AdamW {
    pub fn new(vs: &VarStore, weight_decay: f64) -> Self {
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        // the decayed parameters (more than one dimension) first, so that the decay is
        // one operation on the front of `flat`; by name within each group
        vars.sort_by(|a, b| (a.1.dim() <= 1, &a.0).cmp(&(b.1.dim() <= 1, &b.0)));
        let (names, params): (Vec<String>, Vec<Tensor>) = vars.into_iter().unzip();
        let shapes: Vec<Vec<i64>> = params.iter().map(|p| p.size()).collect();
        let numels: Vec<i64> = params.iter().map(|p| p.numel() as i64).collect();
        let mut offsets = Vec::with_capacity(numels.len());
        let (mut total, mut decayed) = (0i64, 0i64);
        for (n, shape) in numels.iter().zip(&shapes) {
            offsets.push(total);
            total += n;
            if shape.len() > 1 {
                decayed = total;
            }
        }
        let device = params.first().map(|p| p.device()).unwrap_or(vs.device());
        let flat = tch::no_grad(|| {
            if params.is_empty() {
                Tensor::zeros([0], (Kind::Float, device))
            } else {
                Tensor::cat(
                    &params
                        .iter()
                        .map(|p| p.detach().reshape([-1]))
                        .collect::<Vec<_>>(),
                    0,
                )
            }
        });
        let m = flat.zeros_like();
        let v = flat.zeros_like();
        let scratch = flat.zeros_like();
        let mut opt = AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            step: 0,
            names,
            params,
            shapes,
            offsets,
            numels,
            flat,
            decayed,
            m,
            v,
            scratch,
        };
        // the parameters were read into `flat` just above: binding them cannot fail
        let _ = opt.bind();
        opt
    }

    /// Parameter `i`'s slice of a flat tensor, in the parameter's shape.
    fn part(&self, t: &Tensor, i: usize) -> Tensor {
        t.narrow(0, self.offsets[i], self.numels[i])
            .view(self.shapes[i].as_slice())
    }

    /// Make every parameter a view into `flat` again where something replaced its data
    /// since (loading weights into the variable store, or changing its precision, gives
    /// the variables new storage): their present values are copied into `flat` first (a
    /// precision change is undone: the optimiser works in `flat`'s). Only pointers are
    /// compared when nothing changed. A parameter moved to another device or given another
    /// shape is an error: such a network needs a new optimiser.
    fn bind(&mut self) -> Result<()> {
        let base = self.flat.data_ptr() as usize;
        let elem = self.flat.kind().elt_size_in_bytes();
        tch::no_grad(|| {
            for i in 0..self.params.len() {
                let at = base + elem * self.offsets[i] as usize;
                let p = &self.params[i];
                if p.data_ptr() as usize == at && p.kind() == self.flat.kind() {
                    continue;
                }
                if p.device() != self.flat.device() || p.size() != self.shapes[i] {
                    anyhow::bail!(
                        "parameter {} is now {:?} on {:?}, the optimiser's {:?} on {:?}: make a new optimiser",
                        self.names[i],
                        p.size(),
                        p.device(),
                        self.shapes[i],
                        self.flat.device()
                    );
                }
                let mut view = self.part(&self.flat, i);
                view.f_copy_(p).map_err(|e| {
                    anyhow::anyhow!("{}: {}", self.names[i], crate::net::torch_message(&e))
                })?;
                self.params[i].set_data(&view);
            }
            Ok(())
        })
    }

    /// Backward pass of `loss` and one update with learning rate `lr`. Decay is skipped
    /// for biases and norms (1-D).
    pub fn backward_step(&mut self, loss: &Tensor, lr: f64) -> Result<()> {
        let grads = Tensor::f_run_backward(&[loss], &self.params, false, false)
            .map_err(|e| anyhow::anyhow!("backward pass: {}", crate::net::torch_message(&e)))?;
        self.bind()?;
        self.step += 1;
        let bc1 = 1.0 - self.beta1.powi(self.step as i32);
        let bc2 = 1.0 - self.beta2.powi(self.step as i32);
        tch::no_grad(|| {
            if grads.iter().any(|g| !g.defined()) {
                // a parameter the loss does not reach keeps its value and moments
                // (as PyTorch's optimisers skip a parameter without a gradient)
                self.step_each(&grads, lr, bc1, bc2);
                return;
            }
            let g = &mut self.scratch;
            let _ = Tensor::cat_out(
                g,
                &grads.iter().map(|g| g.reshape([-1])).collect::<Vec<_>>(),
                0,
            );
            // m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²
            let _ = self.m.lerp_(g, 1.0 - self.beta1);
            let g2 = g.shallow_clone();
            let _ = g.g_mul_(&g2);
            let _ = self.v.lerp_(g, 1.0 - self.beta2);
            if self.weight_decay > 0.0 && self.decayed > 0 {
                let _ = self
                    .flat
                    .narrow(0, 0, self.decayed)
                    .g_mul_scalar_(1.0 - lr * self.weight_decay);
            }
            // p ← p − lr / bc1 · m / (√(v / bc2) + ε)
            let d = g;
            let _ = self.v.sqrt_out(d);
            let _ = d.g_mul_scalar_(1.0 / bc2.sqrt());
            let _ = d.g_add_scalar_(self.eps);
            let _ = self.m.div_out(d, &d.shallow_clone());
            let _ = d.g_mul_scalar_(-lr / bc1);
            let _ = self.flat.g_add_(d);
        });
        Ok(())
    }

    /// The update one parameter at a time, for a step where some have no gradient.
    fn step_each(&mut self, grads: &[Tensor], lr: f64, bc1: f64, bc2: f64) {
        for (i, g) in grads.iter().enumerate() {
            if !g.defined() {
                continue;
            }
            let (mut p, mut m, mut v) = (
                self.part(&self.flat, i),
                self.part(&self.m, i),
                self.part(&self.v, i),
            );
            let _ = m.lerp_(g, 1.0 - self.beta1);
            let _ = v.lerp_(&g.square(), 1.0 - self.beta2);
            if self.weight_decay > 0.0 && self.shapes[i].len() > 1 {
                let _ = p.g_mul_scalar_(1.0 - lr * self.weight_decay);
            }
            let mut denom = (&v * (1.0 / bc2)).sqrt();
            let _ = denom.g_add_scalar_(self.eps);
            let _ = p.g_sub_(&((&m / &denom) * (lr / bc1)));
        }
    }

    /// Save moments and step count (each parameter's moments under its own name, in its
    /// own storage, as before the moments were kept flat).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (i, n) in self.names.iter().enumerate() {
            named.push((format!("m.{n}"), self.part(&self.m, i).copy()));
            named.push((format!("v.{n}"), self.part(&self.v, i).copy()));
        }
        named.push(("step".into(), Tensor::from_slice(&[self.step])));
        Tensor::save_multi(&named, path).with_context(|| format!("writing {}", path.display()))
    }

    pub fn load(&mut self, path: &Path) -> Result<()> {
        let device = self.flat.device();
        let loaded = Tensor::load_multi_with_device(path, device)
            .with_context(|| format!("reading {}", path.display()))?;
        let get = |k: &str| {
            loaded
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, t)| t.shallow_clone())
        };
        tch::no_grad(|| -> Result<()> {
            for (i, n) in self.names.iter().enumerate() {
                let m = get(&format!("m.{n}"))
                    .with_context(|| format!("optimiser state lacks m.{n}"))?;
                let v = get(&format!("v.{n}"))
                    .with_context(|| format!("optimiser state lacks v.{n}"))?;
                // a foreign or corrupt file: shapes checked, errors returned, no panic
                for (flat, src, what) in [(&self.m, &m, "m"), (&self.v, &v, "v")] {
                    let mut dst = self.part(flat, i);
                    if src.size() != dst.size() {
                        anyhow::bail!(
                            "{}: optimiser state {what}.{n} has shape {:?}, the network {:?}",
                            path.display(),
                            src.size(),
                            dst.size()
                        );
                    }
                    dst.f_copy_(src)
                        .with_context(|| format!("{}: {what}.{n}", path.display()))?;
                }
            }
            Ok(())
        })?;
        self.step = match get("step") {
            Some(t) if t.numel() == 1 => t
                .f_int64_value(&[0])
                .with_context(|| format!("{}: bad step", path.display()))?,
            _ => anyhow::bail!("{}: optimiser state lacks step", path.display()),
        };
        if self.step < 0 {
            anyhow::bail!("{}: negative step count {}", path.display(), self.step);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, nn::Module, Device};

    /// A small network with 2-D weights (decayed) and 1-D biases (not decayed), and a
    /// fixed batch whose loss it learns.
    fn small() -> (nn::VarStore, nn::Sequential, Tensor, Tensor) {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = nn::seq()
            .add(nn::linear(vs.root() / "a", 5, 8, Default::default()))
            .add_fn(|x| x.tanh())
            .add(nn::linear(vs.root() / "b", 8, 3, Default::default()));
        let x = Tensor::randn([16, 5], (Kind::Float, Device::Cpu));
        let y = Tensor::randn([16, 3], (Kind::Float, Device::Cpu));
        (vs, net, x, y)
    }

    fn loss(net: &nn::Sequential, x: &Tensor, y: &Tensor) -> Tensor {
        (net.forward(x) - y).square().mean(Kind::Float)
    }

    /// AdamW written out parameter by parameter in double precision, as the optimiser
    /// was before its state went flat.
    struct Reference {
        params: Vec<(String, Tensor)>,
        m: Vec<Tensor>,
        v: Vec<Tensor>,
        step: i32,
    }

    impl Reference {
        fn new(vs: &nn::VarStore) -> Self {
            let mut params: Vec<(String, Tensor)> = vs
                .variables()
                .into_iter()
                .map(|(n, t)| (n, t.to_kind(Kind::Double)))
                .collect();
            params.sort_by(|a, b| a.0.cmp(&b.0));
            let m = params.iter().map(|(_, t)| t.zeros_like()).collect();
            let v = params.iter().map(|(_, t)| t.zeros_like()).collect();
            Reference {
                params,
                m,
                v,
                step: 0,
            }
        }

        fn step(&mut self, grads: &[(String, Tensor)], lr: f64, wd: f64) {
            self.step += 1;
            let bc1 = 1.0 - 0.9f64.powi(self.step);
            let bc2 = 1.0 - 0.999f64.powi(self.step);
            for (i, (name, p)) in self.params.iter_mut().enumerate() {
                let g = &grads.iter().find(|(n, _)| n == name).unwrap().1;
                let g = g.to_kind(Kind::Double);
                self.m[i] = &self.m[i] * 0.9 + &g * 0.1;
                self.v[i] = &self.v[i] * 0.999 + g.square() * 0.001;
                if p.dim() > 1 {
                    *p = &*p * (1.0 - lr * wd);
                }
                let denom = (&self.v[i] / bc2).sqrt() + 1e-8;
                *p = &*p - (&self.m[i] / bc1) / denom * lr;
            }
        }
    }

    fn largest_difference(vs: &nn::VarStore, r: &Reference) -> f64 {
        let vars = vs.variables();
        r.params
            .iter()
            .map(|(n, p)| {
                (vars[n].to_kind(Kind::Double) - p)
                    .abs()
                    .max()
                    .double_value(&[])
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn the_flat_update_is_adamw_parameter_by_parameter() {
        let (vs, net, x, y) = small();
        let mut opt = AdamW::new(&vs, 0.05);
        let mut reference = Reference::new(&vs);
        let first = loss(&net, &x, &y).double_value(&[]);
        for step in 0..20 {
            // the reference's gradients, from the same weights the optimiser will move
            let l = loss(&net, &x, &y);
            let names: Vec<String> = reference.params.iter().map(|(n, _)| n.clone()).collect();
            let vars = vs.variables();
            let inputs: Vec<&Tensor> = names.iter().map(|n| &vars[n]).collect();
            let grads = Tensor::run_backward(&[&l], &inputs, false, false);
            let named: Vec<(String, Tensor)> = names.into_iter().zip(grads).collect();
            let lr = if step == 0 { 0.0 } else { 0.01 };
            reference.step(&named, lr, 0.05);
            opt.backward_step(&loss(&net, &x, &y), lr).unwrap();
            let d = largest_difference(&vs, &reference);
            assert!(d < 1e-6, "step {step}: {d}");
        }
        let last = loss(&net, &x, &y).double_value(&[]);
        assert!(last < 0.8 * first, "{first} → {last}");
        assert_eq!(opt.step, 20);
    }

    #[test]
    fn weights_loaded_after_the_optimiser_was_made_are_the_ones_trained() {
        let dir = std::env::temp_dir().join(format!("ftrain-optim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (vs, net, x, y) = small();
        let mut opt = AdamW::new(&vs, 0.0);
        // other weights in half precision (as the GPU script brings them back), loaded
        // into the same variables as Net::load_weights does: they get new storage
        let (mut other, _, _, _) = small();
        tch::no_grad(|| {
            for (_, mut t) in other.variables() {
                let _ = t.fill_(0.25);
            }
        });
        other.half();
        let file = dir.join("w.ot");
        other.save(&file).unwrap();
        let mut vs = vs;
        vs.load(&file).unwrap();
        vs.float();
        opt.backward_step(&loss(&net, &x, &y), 1e-3).unwrap();
        // every value moved from 0.25 by about the learning rate (Adam's first step)
        for (n, t) in vs.variables() {
            let moved = (t - 0.25).abs();
            let (lo, hi) = (moved.min().double_value(&[]), moved.max().double_value(&[]));
            assert!(lo > 0.5e-3 && hi < 1.5e-3, "{n}: moved {lo}..{hi}");
        }
        // the moments, saved and loaded into a new optimiser, continue the same run
        opt.save(&dir.join("o.ot")).unwrap();
        let mut again = AdamW::new(&vs, 0.0);
        again.load(&dir.join("o.ot")).unwrap();
        assert_eq!(again.step, 1);
        assert!((&opt.m - &again.m).abs().max().double_value(&[]) == 0.0);
        assert!((&opt.v - &again.v).abs().max().double_value(&[]) == 0.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_parameter_the_loss_does_not_reach_is_left_alone() {
        let (vs, net, x, y) = small();
        let unused = vs.root().var("unused", &[4, 2], nn::Init::Const(0.5));
        let mut opt = AdamW::new(&vs, 0.1);
        let before = vs.variables()["b.weight"].copy();
        for _ in 0..3 {
            opt.backward_step(&loss(&net, &x, &y), 1e-2).unwrap();
        }
        // neither moved by the update nor decayed, as PyTorch's optimisers skip it
        assert_eq!((&unused - 0.5).abs().max().double_value(&[]), 0.0);
        let moved = (vs.variables()["b.weight"].copy() - before).abs().max();
        assert!(moved.double_value(&[]) > 1e-3);
    }
}
