//! The PIP head's training targets, loss and batched decoder in tch. The map layout and
//! the decoding rule are the library's (`facetrack::inference::pip`); a test checks this decoder
//! against the library's on the same maps.

use tch::{Kind, Tensor};

/// Weight of the score-map loss against the offset losses (PIPNet's 10 : 1).
pub const SCORE_WEIGHT: f64 = 10.0;

/// The geometry of a PIP head.
#[derive(Debug)]
pub struct PipSpec {
    pub points: i64,
    pub neighbors: i64,
    pub grid_w: i64,
    pub grid_h: i64,
    /// `[points * neighbors]` int64: point `i`'s neighbours at `i*K..(i+1)*K`.
    pub table: Tensor,
    /// `[points]` float: 1 + how often each point is someone's neighbour (its votes).
    pub votes: Tensor,
    /// Cells on each side of a point's cell whose offsets are also trained and read
    /// (`facetrack::inference::pip::Window`); 0: the point's cell alone.
    pub window: i64,
    /// The decoder's weight of the window's other cells (the best cell's is 1).
    pub window_weight: f64,
}

impl PipSpec {
    pub fn new(points: i64, grid_w: i64, grid_h: i64, table: &[u32]) -> Self {
        let neighbors = table.len() as i64 / points.max(1);
        let t: Vec<i64> = table.iter().map(|&j| j as i64).collect();
        let mut votes = vec![1f32; points as usize];
        for &j in table {
            votes[j as usize] += 1.0;
        }
        PipSpec {
            points,
            neighbors,
            grid_w,
            grid_h,
            table: Tensor::from_slice(&t),
            votes: Tensor::from_slice(&votes),
            window: 0,
            window_weight: 1.0,
        }
    }

    /// Output channels of the head.
    pub fn channels(&self) -> i64 {
        (3 + 2 * self.neighbors) * self.points
    }

    /// The same spec with its index tensors on `device`, where the network's maps are.
    pub fn on_device(mut self, device: tch::Device) -> Self {
        self.table = self.table.to_device(device);
        self.votes = self.votes.to_device(device);
        self
    }

    /// The index tensors on `device` (the index tensors must live with the maps; no copy
    /// when they are there already, see [`PipSpec::on_device`]).
    fn on(&self, device: tch::Device) -> (Tensor, Tensor) {
        (self.table.to_device(device), self.votes.to_device(device))
    }

    /// The window's cell offsets other than `(0, 0)`.
    fn window_offsets(&self) -> Vec<(i64, i64)> {
        let r = self.window;
        (-r..=r)
            .flat_map(|dy| (-r..=r).map(move |dx| (dx, dy)))
            .filter(|&d| d != (0, 0))
            .collect()
    }
}

/// The own and neighbour offsets' L1 error at the cells `(cx + dx, cy + dy)` (cell
/// indices `[B, N]` as floats), each offset measured from that cell's centre; cells
/// outside the grid are left out. `(u, v)`: the points in cells.
fn offset_error(
    spec: &PipSpec,
    m: &Tensor,
    table: &Tensor,
    (u, v): (&Tensor, &Tensor),
    (cx, cy): (&Tensor, &Tensor),
    (dx, dy): (i64, i64),
) -> Tensor {
    let (n, k) = (spec.points, spec.neighbors);
    let b = m.size()[0];
    let x = cx + dx as f64;
    let y = cy + dy as f64;
    let inside = x
        .ge(0.0)
        .logical_and(&x.le((spec.grid_w - 1) as f64))
        .logical_and(&y.ge(0.0))
        .logical_and(&y.le((spec.grid_h - 1) as f64))
        .to_kind(Kind::Float); // [B, N]
    let xc = x.clamp(0.0, (spec.grid_w - 1) as f64);
    let yc = y.clamp(0.0, (spec.grid_h - 1) as f64);
    let idx = (&yc * spec.grid_w as f64 + &xc).to_kind(Kind::Int64);
    let (ccx, ccy) = (xc + 0.5, yc + 0.5);
    let own = ((at(m, n, n, &idx) - (u - &ccx)).abs() + (at(m, 2 * n, n, &idx) - (v - &ccy)).abs())
        * &inside;
    let wide = |t: &Tensor| t.unsqueeze(-1).expand([b, n, k], false).reshape([b, n * k]);
    let idx_nk = wide(&idx);
    let uj = u.index_select(1, table);
    let vj = v.index_select(1, table);
    let nb = ((at(m, 3 * n, n * k, &idx_nk) - (uj - wide(&ccx))).abs()
        + (at(m, 3 * n + n * k, n * k, &idx_nk) - (vj - wide(&ccy))).abs())
        * wide(&inside);
    // as the centre cell's terms: means over points (and slots), both axes summed
    let cells = inside.sum(Kind::Float).clamp_min(1.0);
    own.sum(Kind::Float) / &cells + nb.sum(Kind::Float) / (cells * k as f64)
}

/// Grid coordinates (cells) of target points `[B, 2N]` in crop coordinates:
/// `(u, v)`, each `[B, N]`.
fn to_grid(spec: &PipSpec, target: &Tensor) -> (Tensor, Tensor) {
    let b = target.size()[0];
    let t = target.view([b, spec.points, 2]);
    let u = (t.select(2, 0) + 1.0) * (spec.grid_w as f64 / 2.0);
    let v = (t.select(2, 1) + 1.0) * (spec.grid_h as f64 / 2.0);
    (u, v)
}

/// Gather channel block `[start, start+count)` of `m` (`[B, C, G]`) at cell `idx`
/// (`[B, count]` int64) -> `[B, count]`.
fn at(m: &Tensor, start: i64, count: i64, idx: &Tensor) -> Tensor {
    m.narrow(1, start, count)
        .gather(2, &idx.unsqueeze(-1), false)
        .squeeze_dim(-1)
}

/// The PIP loss: mean squared error of the score maps against a one-hot map at each
/// point's cell (times [`SCORE_WEIGHT`]), plus the L1 error of the own and neighbour
/// offsets read at that cell, in cells.
pub fn loss(spec: &PipSpec, maps: &Tensor, target: &Tensor) -> Tensor {
    let dev = maps.device();
    let (table, _) = spec.on(dev);
    let (n, k) = (spec.points, spec.neighbors);
    let b = maps.size()[0];
    let g = spec.grid_w * spec.grid_h;
    let m = maps.view([b, spec.channels(), g]);
    let (u, v) = to_grid(spec, target);
    let cx = u.floor().clamp(0.0, (spec.grid_w - 1) as f64);
    let cy = v.floor().clamp(0.0, (spec.grid_h - 1) as f64);
    let idx = (&cy * spec.grid_w as f64 + &cx).to_kind(Kind::Int64);
    let (ccx, ccy) = (&cx + 0.5, &cy + 0.5);
    // scores
    let score = m.narrow(1, 0, n);
    let onehot = score.zeros_like().scatter_value(2, &idx.unsqueeze(-1), 1.0);
    let cls = (&score - onehot).square().mean(Kind::Float);
    // own offsets
    let ox = at(&m, n, n, &idx);
    let oy = at(&m, 2 * n, n, &idx);
    let reg_own =
        (&ox - (&u - &ccx)).abs().mean(Kind::Float) + (&oy - (&v - &ccy)).abs().mean(Kind::Float);
    // neighbour offsets: point i's k-th neighbour j, from i's cell
    let idx_nk = idx
        .unsqueeze(-1)
        .expand([b, n, k], false)
        .reshape([b, n * k]);
    let nbx = at(&m, 3 * n, n * k, &idx_nk);
    let nby = at(&m, 3 * n + n * k, n * k, &idx_nk);
    let uj = u.index_select(1, &table); // [B, N*K]
    let vj = v.index_select(1, &table);
    let cxi = ccx
        .unsqueeze(-1)
        .expand([b, n, k], false)
        .reshape([b, n * k]);
    let cyi = ccy
        .unsqueeze(-1)
        .expand([b, n, k], false)
        .reshape([b, n * k]);
    let reg_nb =
        (&nbx - (uj - cxi)).abs().mean(Kind::Float) + (&nby - (vj - cyi)).abs().mean(Kind::Float);
    let base = cls * SCORE_WEIGHT + reg_own + reg_nb;
    let offsets = spec.window_offsets();
    if offsets.is_empty() {
        return base;
    }
    // the window's other cells: each as much as the point's own cell, on average
    let mut win = Tensor::zeros([], (Kind::Float, dev));
    for d in &offsets {
        win += offset_error(spec, &m, &table, (&u, &v), (&cx, &cy), *d);
    }
    base + win / offsets.len() as f64
}

/// How far two passes' maps (`[B, C, H, W]` each) disagree where the loss reads them: the
/// squared difference of the score maps (times [`SCORE_WEIGHT`]) plus the L1 difference
/// (in cells) of the own and neighbour offsets at each point's true cell.
pub fn consistency(spec: &PipSpec, a: &Tensor, b: &Tensor, target: &Tensor) -> Tensor {
    let (n, k) = (spec.points, spec.neighbors);
    let bs = a.size()[0];
    let g = spec.grid_w * spec.grid_h;
    let (ma, mb) = (
        a.view([bs, spec.channels(), g]),
        b.view([bs, spec.channels(), g]),
    );
    let (u, v) = to_grid(spec, target);
    let cx = u.floor().clamp(0.0, (spec.grid_w - 1) as f64);
    let cy = v.floor().clamp(0.0, (spec.grid_h - 1) as f64);
    let idx = (cy * spec.grid_w as f64 + cx).to_kind(Kind::Int64);
    let cls = (ma.narrow(1, 0, n) - mb.narrow(1, 0, n))
        .square()
        .mean(Kind::Float);
    let idx_nk = idx
        .unsqueeze(-1)
        .expand([bs, n, k], false)
        .reshape([bs, n * k]);
    let own = (at(&ma, n, 2 * n, &idx.repeat([1, 2])) - at(&mb, n, 2 * n, &idx.repeat([1, 2])))
        .abs()
        .mean(Kind::Float)
        * 2.0;
    let nb = (at(&ma, 3 * n, 2 * n * k, &idx_nk.repeat([1, 2]))
        - at(&mb, 3 * n, 2 * n * k, &idx_nk.repeat([1, 2])))
    .abs()
    .mean(Kind::Float)
        * 2.0;
    cls * SCORE_WEIGHT + own + nb
}

/// How the maps of a crop's mirror image read as maps of the crop itself: each channel's
/// source channel in the mirrored maps (the mirrored point, and for a neighbour offset
/// the mirrored point's slot that holds the mirror of the neighbour), its sign (x offsets
/// change sign) and which channels are x and y offsets. A neighbour slot whose mirror is
/// not among the mirrored point's neighbours (the table comes from a mean shape that is
/// not exactly symmetric) has no source: [`MirrorMaps::average`] keeps the direct value
/// there.
pub struct MirrorMaps {
    src: Tensor,
    sign: Tensor,
    xmask: Tensor,
    ymask: Tensor,
    valid: Tensor,
}

impl MirrorMaps {
    /// `mirror`: the mirror permutation of `spec`'s points.
    pub fn new(spec: &PipSpec, mirror: &[usize]) -> anyhow::Result<Self> {
        let (n, k) = (spec.points as usize, spec.neighbors as usize);
        let table = Vec::<i64>::try_from(&spec.table)?;
        if table.len() != n * k || mirror.len() != n {
            anyhow::bail!(
                "mirror maps: a table of {} and a mirror of {} for {n} points with {k} neighbours",
                table.len(),
                mirror.len()
            );
        }
        let c = spec.channels() as usize;
        let mut src = vec![0i64; c];
        let mut sign = vec![1f32; c];
        let (mut xmask, mut ymask) = (vec![0f32; c], vec![0f32; c]);
        let mut valid = vec![1f32; c];
        for q in 0..n {
            let p = mirror[q];
            src[q] = p as i64;
            src[n + q] = (n + p) as i64;
            sign[n + q] = -1.0;
            xmask[n + q] = 1.0;
            src[2 * n + q] = (2 * n + p) as i64;
            ymask[2 * n + q] = 1.0;
            for kk in 0..k {
                let want = table[q * k + kk] as usize;
                let (cx, cy) = (3 * n + q * k + kk, 3 * n + n * k + q * k + kk);
                xmask[cx] = 1.0;
                sign[cx] = -1.0;
                ymask[cy] = 1.0;
                match (0..k).find(|&k2| mirror[table[p * k + k2] as usize] == want) {
                    Some(k2) => {
                        src[cx] = (3 * n + p * k + k2) as i64;
                        src[cy] = (3 * n + n * k + p * k + k2) as i64;
                    }
                    None => {
                        src[cx] = cx as i64;
                        src[cy] = cy as i64;
                        valid[cx] = 0.0;
                        valid[cy] = 0.0;
                    }
                }
            }
        }
        // on the spec's device, where the maps are: no copy a batch
        let dev = spec.table.device();
        let v = |x: &[f32]| {
            Tensor::from_slice(x)
                .view([1, c as i64, 1, 1])
                .to_device(dev)
        };
        Ok(MirrorMaps {
            src: Tensor::from_slice(&src).to_device(dev),
            sign: v(&sign),
            xmask: v(&xmask),
            ymask: v(&ymask),
            valid: v(&valid),
        })
    }

    /// The share of channels with a mirrored source.
    pub fn coverage(&self) -> f64 {
        self.valid.mean(Kind::Float).double_value(&[])
    }

    /// Maps `[B, C, H, W]` of the mirror images of a batch, as maps of the batch's own
    /// crops; `correction` `[B, 2]` (crop coordinates) moves every x/y offset, the label
    /// convention's shift (`augment::make_pair_with_crop`). A neighbour slot without a
    /// mirrored source holds no meaningful value here; [`MirrorMaps::average`] masks it.
    pub fn unmirror(&self, spec: &PipSpec, maps: &Tensor, correction: &Tensor) -> Tensor {
        let dev = maps.device();
        let b = maps.size()[0];
        let cu = correction
            .select(1, 0)
            .view([b, 1, 1, 1])
            .to_kind(maps.kind())
            * (spec.grid_w as f64 / 2.0);
        let cv = correction
            .select(1, 1)
            .view([b, 1, 1, 1])
            .to_kind(maps.kind())
            * (spec.grid_h as f64 / 2.0);
        maps.flip([3]).index_select(1, &self.src.to_device(dev)) * self.sign.to_device(dev)
            + cu * self.xmask.to_device(dev)
            + cv * self.ymask.to_device(dev)
    }

    /// The mirror-averaged maps: the mean of `direct` (maps of the crops) and
    /// [`MirrorMaps::unmirror`] of `mirrored` (maps of their mirror images), the direct
    /// value where a channel has no mirrored source.
    pub fn average(
        &self,
        spec: &PipSpec,
        direct: &Tensor,
        mirrored: &Tensor,
        correction: &Tensor,
    ) -> Tensor {
        let u = self.unmirror(spec, mirrored, correction);
        let w = self.valid.to_device(direct.device()) * 0.5;
        direct + (u - direct) * w
    }
}

/// Decode maps `[B, C, H, W]` into points `[B, 2N]` in crop coordinates, exactly as
/// `facetrack::inference::pip::decode` does (best cell plus offset, averaged with neighbour votes).
pub fn decode(spec: &PipSpec, maps: &Tensor) -> Tensor {
    let dev = maps.device();
    let (table, votes) = spec.on(dev);
    let (n, k) = (spec.points, spec.neighbors);
    let b = maps.size()[0];
    let g = spec.grid_w * spec.grid_h;
    let m = maps.view([b, spec.channels(), g]);
    let idx = m.narrow(1, 0, n).argmax(2, false); // [B, N]
    let cx = idx.remainder(spec.grid_w).to_kind(Kind::Float) + 0.5;
    let cy = idx
        .divide_scalar_mode(spec.grid_w, "floor")
        .to_kind(Kind::Float)
        + 0.5;
    let su = &cx + at(&m, n, n, &idx);
    let sv = &cy + at(&m, 2 * n, n, &idx);
    let idx_nk = idx
        .unsqueeze(-1)
        .expand([b, n, k], false)
        .reshape([b, n * k]);
    let cxi = cx
        .unsqueeze(-1)
        .expand([b, n, k], false)
        .reshape([b, n * k]);
    let cyi = cy
        .unsqueeze(-1)
        .expand([b, n, k], false)
        .reshape([b, n * k]);
    let vu = cxi + at(&m, 3 * n, n * k, &idx_nk);
    let vv = cyi + at(&m, 3 * n + n * k, n * k, &idx_nk);
    let mut su = su.index_add(1, &table, &vu);
    let mut sv = sv.index_add(1, &table, &vv);
    let mut den = votes.unsqueeze(0).expand([b, n], false).copy();
    let offsets = spec.window_offsets();
    if !offsets.is_empty() && spec.window_weight > 0.0 {
        // the same votes read at each other cell of the window, at the window's weight
        let (bx, by) = (&cx - 0.5, &cy - 0.5);
        let wide = |t: &Tensor| t.unsqueeze(-1).expand([b, n, k], false).reshape([b, n * k]);
        for (dx, dy) in offsets {
            let x = &bx + dx as f64;
            let y = &by + dy as f64;
            let w = x
                .ge(0.0)
                .logical_and(&x.le((spec.grid_w - 1) as f64))
                .logical_and(&y.ge(0.0))
                .logical_and(&y.le((spec.grid_h - 1) as f64))
                .to_kind(Kind::Float)
                * spec.window_weight; // [B, N]
            let xc = x.clamp(0.0, (spec.grid_w - 1) as f64);
            let yc = y.clamp(0.0, (spec.grid_h - 1) as f64);
            let idx = (&yc * spec.grid_w as f64 + &xc).to_kind(Kind::Int64);
            let (ccx, ccy) = (xc + 0.5, yc + 0.5);
            su += (&ccx + at(&m, n, n, &idx)) * &w;
            sv += (&ccy + at(&m, 2 * n, n, &idx)) * &w;
            den += &w;
            let (wk, idx_nk) = (wide(&w), wide(&idx));
            su = su.index_add(
                1,
                &table,
                &((wide(&ccx) + at(&m, 3 * n, n * k, &idx_nk)) * &wk),
            );
            sv = sv.index_add(
                1,
                &table,
                &((wide(&ccy) + at(&m, 3 * n + n * k, n * k, &idx_nk)) * &wk),
            );
            den = den.index_add(1, &table, &wk);
        }
    }
    let su = su / &den;
    let sv = sv / &den;
    let x = su * (2.0 / spec.grid_w as f64) - 1.0;
    let y = sv * (2.0 / spec.grid_h as f64) - 1.0;
    Tensor::stack(&[x, y], 2).view([b, 2 * n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use facetrack::core::layout::MIRROR68;
    use facetrack::inference::pip::{neighbor_table, PipLayout, DEFAULT_NEIGHBORS};

    fn points_of(t: &Tensor) -> Vec<f32> {
        Vec::try_from(t.flatten(0, -1)).unwrap()
    }

    #[test]
    fn mirrored_maps_decode_to_the_mirrored_points_moved_by_the_correction() {
        let table = neighbor_table(DEFAULT_NEIGHBORS);
        let spec = PipSpec::new(68, 7, 7, &table);
        let mm = MirrorMaps::new(&spec, &MIRROR68).unwrap();
        // the mean shape is nearly symmetric: almost every neighbour slot has its mirror
        let cov = mm.coverage();
        assert!(cov > 0.9 && cov <= 1.0, "coverage {cov}");
        tch::manual_seed(11);
        let maps = Tensor::randn([3, spec.channels(), 7, 7], (Kind::Float, tch::Device::Cpu));
        // maps with no neighbour votes, so that decoding reads only the mirrored channels
        // of own scores and offsets (valid everywhere)
        let n = spec.points;
        let own = maps.narrow(1, 0, 3 * n);
        let no_votes = Tensor::cat(
            &[
                own.shallow_clone(),
                Tensor::zeros(
                    [3, 2 * n * spec.neighbors, 7, 7],
                    (Kind::Float, tch::Device::Cpu),
                ),
            ],
            1,
        );
        let corr = Tensor::from_slice(&[0.0f32, 0.0, 0.02, -0.01, -0.03, 0.005]).view([3, 2]);
        let un = mm.unmirror(&spec, &no_votes, &corr);
        let a = points_of(&decode_own(&spec, &no_votes));
        let b = points_of(&decode_own(&spec, &un));
        let c = points_of(&corr);
        for f in 0..3 {
            for q in 0..68 {
                let p = MIRROR68[q];
                let (ax, ay) = (a[f * 136 + 2 * p], a[f * 136 + 2 * p + 1]);
                let (bx, by) = (b[f * 136 + 2 * q], b[f * 136 + 2 * q + 1]);
                assert!(
                    (bx - (-ax + c[2 * f])).abs() < 1e-5,
                    "x {bx} vs {}",
                    -ax + c[2 * f]
                );
                assert!(
                    (by - (ay + c[2 * f + 1])).abs() < 1e-5,
                    "y {by} vs {}",
                    ay + c[2 * f + 1]
                );
            }
        }
        // with votes: unmirroring twice (no correction) gives the maps back where valid
        let zero = Tensor::zeros([3, 2], (Kind::Float, tch::Device::Cpu));
        let twice = mm.unmirror(&spec, &mm.unmirror(&spec, &maps, &zero), &zero);
        let diff = ((twice - &maps) * &mm.valid).abs().max().double_value(&[]);
        assert!(diff < 1e-6, "twice off by {diff}");
        // maps whose mirror image's maps are exactly their mirror: the average is themselves
        let avg = mm.average(&spec, &maps, &mm.unmirror(&spec, &maps, &zero), &zero);
        let diff = (avg - &maps).abs().max().double_value(&[]);
        assert!(diff < 1e-6, "average off by {diff}");
    }

    /// The maps the loss wants for `points` (`[B, 2N]`, crop coordinates): a one at each
    /// point's cell, its own offsets and its neighbours' offsets from that cell.
    fn perfect_maps(spec: &PipSpec, table: &[u32], points: &[f32]) -> Tensor {
        let (n, k) = (spec.points as usize, spec.neighbors as usize);
        let (gw, gh) = (spec.grid_w as usize, spec.grid_h as usize);
        let (c, g) = (spec.channels() as usize, gw * gh);
        let b = points.len() / (2 * n);
        let mut maps = vec![0f32; b * c * g];
        for f in 0..b {
            let base = f * c * g;
            let uv = |i: usize| {
                (
                    (points[f * 2 * n + 2 * i] + 1.0) * gw as f32 / 2.0,
                    (points[f * 2 * n + 2 * i + 1] + 1.0) * gh as f32 / 2.0,
                )
            };
            for i in 0..n {
                let (u, v) = uv(i);
                let (cx, cy) = (u.floor(), v.floor());
                let cell = cy as usize * gw + cx as usize;
                maps[base + i * g + cell] = 1.0;
                maps[base + (n + i) * g + cell] = u - (cx + 0.5);
                maps[base + (2 * n + i) * g + cell] = v - (cy + 0.5);
                for kk in 0..k {
                    let (uj, vj) = uv(table[i * k + kk] as usize);
                    maps[base + (3 * n + i * k + kk) * g + cell] = uj - (cx + 0.5);
                    maps[base + (3 * n + n * k + i * k + kk) * g + cell] = vj - (cy + 0.5);
                }
            }
        }
        Tensor::from_slice(&maps).view([b as i64, c as i64, gh as i64, gw as i64])
    }

    /// A teacher that is exact on both the crop and its mirror image: the mirror-averaged
    /// maps decode, neighbour votes included, to the crop's own points. The mirror image's
    /// points are the mirror of the crop's points moved back by the correction, so a
    /// wrong neighbour slot, sign or correction on any channel moves the decoded points.
    #[test]
    fn a_teacher_exact_on_the_crop_and_its_mirror_averages_to_the_crop_points() {
        let table = neighbor_table(DEFAULT_NEIGHBORS);
        let spec = PipSpec::new(68, 7, 7, &table);
        let mm = MirrorMaps::new(&spec, &MIRROR68).unwrap();
        // points inside the middle of their cells (a correction of under 0.1 cell keeps
        // every point and its mirror in their cells), two crops with other corrections
        let mut pts = vec![0f32; 2 * 136];
        for (i, v) in pts.iter_mut().enumerate() {
            let cell = (i * 5 + i / 7) % 7;
            let inside = 0.25 + 0.5 * ((i * 37 % 101) as f32 / 100.0);
            *v = (cell as f32 + inside) * 2.0 / 7.0 - 1.0;
        }
        let corr = [0.02f32, -0.015, -0.025, 0.01];
        // the mirror image's points: mirror(points - correction)
        let mut mirrored = vec![0f32; 2 * 136];
        for f in 0..2 {
            let moved: Vec<f32> = pts[f * 136..(f + 1) * 136]
                .chunks_exact(2)
                .flat_map(|xy| [xy[0] - corr[2 * f], xy[1] - corr[2 * f + 1]])
                .collect();
            facetrack::inference::preprocess::unmirror_points(
                &moved,
                &MIRROR68,
                &mut mirrored[f * 136..(f + 1) * 136],
            );
        }
        let direct = perfect_maps(&spec, &table, &pts);
        let of_mirror = perfect_maps(&spec, &table, &mirrored);
        let c = Tensor::from_slice(&corr).view([2, 2]);
        let avg = mm.average(&spec, &direct, &of_mirror, &c);
        let got = points_of(&decode(&spec, &avg));
        for (a, b) in got.iter().zip(&pts) {
            assert!((a - b).abs() < 1e-5, "decoded {a}, the crop's point {b}");
        }
        // without the correction the points move: the test sees it
        let zero = Tensor::zeros([2, 2], (Kind::Float, tch::Device::Cpu));
        let off = points_of(&decode(
            &spec,
            &mm.average(&spec, &direct, &of_mirror, &zero),
        ));
        let worst = off
            .iter()
            .zip(&pts)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst > 5e-3,
            "a missing correction moved the points by {worst}"
        );
    }

    /// Decode from the own offsets alone (no neighbour votes).
    fn decode_own(spec: &PipSpec, maps: &Tensor) -> Tensor {
        let (n, b, g) = (spec.points, maps.size()[0], spec.grid_w * spec.grid_h);
        let m = maps.view([b, spec.channels(), g]);
        let idx = m.narrow(1, 0, n).argmax(2, false);
        let cx = idx.remainder(spec.grid_w).to_kind(Kind::Float) + 0.5;
        let cy = idx
            .divide_scalar_mode(spec.grid_w, "floor")
            .to_kind(Kind::Float)
            + 0.5;
        let x = (cx + at(&m, n, n, &idx)) * (2.0 / spec.grid_w as f64) - 1.0;
        let y = (cy + at(&m, 2 * n, n, &idx)) * (2.0 / spec.grid_h as f64) - 1.0;
        Tensor::stack(&[x, y], 2).view([b, 2 * n])
    }

    /// The tch decoder gives the library's points, with the best cell alone and with a
    /// window of cells around it (where the window's votes do move the points).
    #[test]
    fn tch_decoder_equals_the_library_decoder() {
        let table = neighbor_table(4);
        let layout = PipLayout {
            points: 68,
            neighbors: 4,
            grid_w: 5,
            grid_h: 4,
            maps: facetrack::core::contract::MapsLayout::ChannelsFirst,
        };
        for (radius, weight) in [(0usize, 1.0f32), (1, 0.4)] {
            let mut spec = PipSpec::new(68, 5, 4, &table);
            spec.window = radius as i64;
            spec.window_weight = weight as f64;
            tch::manual_seed(3 + radius as i64);
            let maps = Tensor::randn([3, spec.channels(), 4, 5], (Kind::Float, tch::Device::Cpu));
            let got: Vec<f32> = Vec::try_from(decode(&spec, &maps).flatten(0, -1)).unwrap();
            let flat: Vec<f32> = Vec::try_from(maps.flatten(0, -1)).unwrap();
            let window = facetrack::inference::pip::Window { radius, weight };
            let mut differs = 0f32;
            for f in 0..3 {
                let one = &flat[f * layout.len()..(f + 1) * layout.len()];
                let d = facetrack::inference::pip::decode_windowed(one, layout, &table, window);
                let plain = facetrack::inference::pip::decode(one, layout, &table);
                for ((a, b), p) in d.xy.iter().zip(&got[f * 136..(f + 1) * 136]).zip(&plain.xy) {
                    assert!((a - b).abs() < 1e-5, "radius {radius}: {a} vs {b}");
                    differs = differs.max((a - p).abs());
                }
            }
            // random maps: a window's votes do move the points
            assert_eq!(
                differs > 1e-2,
                radius > 0,
                "radius {radius}: moved {differs}"
            );
        }
    }

    /// Maps whose every cell holds the offsets of the points from its own centre: the
    /// window's loss is zero, a wrong window offset is not, and the windowed decode gives
    /// the points back.
    #[test]
    fn window_loss_is_zero_on_offsets_right_at_every_cell() {
        let table = neighbor_table(3);
        let mut spec = PipSpec::new(68, 7, 7, &table);
        spec.window = 1;
        spec.window_weight = 0.5;
        tch::manual_seed(9);
        let target = Tensor::rand([2, 136], (Kind::Float, tch::Device::Cpu)) * 1.6 - 0.8;
        let pts = points_of(&target);
        let mut m = perfect_maps(&spec, &table, &pts);
        // fill every cell's offsets, not only the point's own cell
        let (n, k, g) = (68usize, 3usize, 49usize);
        let c = spec.channels() as usize;
        let mut v: Vec<f32> = Vec::try_from(m.flatten(0, -1)).unwrap();
        for f in 0..2 {
            let uv = |i: usize| {
                (
                    (pts[f * 136 + 2 * i] + 1.0) * 3.5,
                    (pts[f * 136 + 2 * i + 1] + 1.0) * 3.5,
                )
            };
            for cell in 0..g {
                let (cx, cy) = ((cell % 7) as f32 + 0.5, (cell / 7) as f32 + 0.5);
                for i in 0..n {
                    let (u, w) = uv(i);
                    v[f * c * g + (n + i) * g + cell] = u - cx;
                    v[f * c * g + (2 * n + i) * g + cell] = w - cy;
                    for kk in 0..k {
                        let (uj, vj) = uv(table[i * k + kk] as usize);
                        v[f * c * g + (3 * n + i * k + kk) * g + cell] = uj - cx;
                        v[f * c * g + (3 * n + n * k + i * k + kk) * g + cell] = vj - cy;
                    }
                }
            }
        }
        m = Tensor::from_slice(&v).view([2, c as i64, 7, 7]);
        let l = loss(&spec, &m, &target).double_value(&[]);
        assert!(l.abs() < 1e-5, "loss {l}");
        let back = decode(&spec, &m);
        let d = (back - &target).abs().max().double_value(&[]);
        assert!(d < 1e-5, "decoded off by {d}");
        // the plain perfect maps (offsets at the own cell only) are right for window 0
        // but not for window 1
        let plain = perfect_maps(&spec, &table, &pts);
        assert!(loss(&spec, &plain, &target).double_value(&[]) > 0.1);
        spec.window = 0;
        assert!(loss(&spec, &plain, &target).double_value(&[]).abs() < 1e-5);
    }

    #[test]
    fn perfect_maps_have_zero_offset_loss_and_decode_to_the_targets() {
        // build the maps the loss wants for known targets; they decode back exactly
        let table = neighbor_table(3);
        let spec = PipSpec::new(68, 7, 7, &table);
        tch::manual_seed(5);
        let target = Tensor::rand([2, 136], (Kind::Float, tch::Device::Cpu)) * 1.6 - 0.8;
        let m = perfect_maps(&spec, &table, &points_of(&target));
        let l = loss(&spec, &m, &target).double_value(&[]);
        assert!(l.abs() < 1e-5, "loss {l}");
        let back = decode(&spec, &m);
        let d = (back - &target).abs().max().double_value(&[]);
        assert!(d < 1e-5, "decoded off by {d}");
    }
}
