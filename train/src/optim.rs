//! AdamW with its moments kept as named tensors, so a checkpoint holds the whole
//! optimiser state and a resumed run continues exactly (tch's built-in optimisers keep
//! their state inside libtorch, out of reach of a checkpoint).

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
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl AdamW {
    pub fn new(vs: &VarStore, weight_decay: f64) -> Self {
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let m = vars.iter().map(|(_, t)| t.zeros_like()).collect();
        let v = vars.iter().map(|(_, t)| t.zeros_like()).collect();
        let (names, params) = vars.into_iter().unzip();
        AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            step: 0,
            names,
            params,
            m,
            v,
        }
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// One update with learning rate `lr`. Decay is skipped for biases and norms (1-D).
    pub fn step(&mut self, lr: f64) {
        self.step += 1;
        let bc1 = 1.0 - self.beta1.powi(self.step as i32);
        let bc2 = 1.0 - self.beta2.powi(self.step as i32);
        tch::no_grad(|| {
            for ((p, m), v) in self.params.iter_mut().zip(&mut self.m).zip(&mut self.v) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let _ = m
                    .g_mul_scalar_(self.beta1)
                    .g_add_(&(&g * (1.0 - self.beta1)));
                let _ = v
                    .g_mul_scalar_(self.beta2)
                    .g_add_(&(g.square() * (1.0 - self.beta2)));
                if self.weight_decay > 0.0 && p.dim() > 1 {
                    let _ = p.g_mul_scalar_(1.0 - lr * self.weight_decay);
                }
                let denom = (&*v / bc2).sqrt() + self.eps;
                let upd = (&*m / bc1) / denom * lr;
                let _ = p.g_sub_(&upd);
            }
        });
    }

    /// Save moments and step count.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (i, n) in self.names.iter().enumerate() {
            named.push((format!("m.{n}"), self.m[i].shallow_clone()));
            named.push((format!("v.{n}"), self.v[i].shallow_clone()));
        }
        named.push(("step".into(), Tensor::from_slice(&[self.step])));
        Tensor::save_multi(&named, path).with_context(|| format!("writing {}", path.display()))
    }

    pub fn load(&mut self, path: &Path) -> Result<()> {
        let device = self
            .params
            .first()
            .map(|p| p.device())
            .unwrap_or(tch::Device::Cpu);
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
                for (dst, src, what) in [(&mut self.m[i], &m, "m"), (&mut self.v[i], &v, "v")] {
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
        let _ = Kind::Float;
        Ok(())
    }
}
