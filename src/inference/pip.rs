//! Decoding of pixel-in-pixel (PIP) heat maps (Jin, Liao and Shao, "Pixel-in-Pixel Net",
//! IJCV 2021) into points. The network predicts, on a coarse grid over the crop, per
//! point: a score map, the x and y offset of the point from the centre of each cell, and
//! the offsets of its K nearest neighbours (in the mean shape) from that cell. A point is
//! its best cell plus that cell's offset, averaged with the votes its neighbours cast
//! for it from their own best cells.
//!
//! Layout of one face's maps, `[(3 + 2K) * N, H, W]` (N points, K neighbours):
//! channels `0..N` scores, `N..2N` x offsets, `2N..3N` y offsets, then `N*K` neighbour x
//! offsets (point `i`'s `k`-th neighbour at `3N + i*K + k`), then `N*K` neighbour y
//! offsets. Offsets are in cells, from the cell centre. The trainer's loss and its tch
//! decoder use this same layout, and a test checks the two decoders agree. A model may
//! also give its maps channels last, `[H, W, (3 + 2K) * N]` (contract version 3,
//! [`MapsLayout::ChannelsLast`]): the same channels, every channel's value at one cell
//! after another; [`PipLayout::maps`] says which.

use crate::core::contract::MapsLayout;
use crate::core::crop_rule::MEAN_SHAPE_68;

/// Neighbours per point the trainer uses (PIPNet uses 10 on 300-W).
pub const DEFAULT_NEIGHBORS: usize = 10;

/// The `k` nearest neighbours of each of the 68 points in the mean shape, `k` per point,
/// nearest first (ties by index).
pub fn neighbor_table(k: usize) -> Vec<u32> {
    let n = MEAN_SHAPE_68.len();
    let k = k.min(n - 1);
    let mut out = Vec::with_capacity(n * k);
    for (i, a) in MEAN_SHAPE_68.iter().enumerate() {
        let mut d: Vec<(f32, usize)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| {
                let b = MEAN_SHAPE_68[j];
                ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2), j)
            })
            .collect();
        d.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        out.extend(d.iter().take(k).map(|&(_, j)| j as u32));
    }
    out
}

/// The geometry of one model's maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipLayout {
    pub points: usize,
    pub neighbors: usize,
    pub grid_w: usize,
    pub grid_h: usize,
    /// Channels first (one whole map after another) or last (cell after cell).
    pub maps: MapsLayout,
}

impl PipLayout {
    /// Maps per face.
    pub fn channels(&self) -> usize {
        (3 + 2 * self.neighbors) * self.points
    }

    /// Floats of one face's maps.
    pub fn len(&self) -> usize {
        self.channels() * self.grid_w * self.grid_h
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Vote spread (grid cells) at which [`point_confidence`] falls to `1/e` of the peak.
/// Chosen on the shipped model with `facetrack eval --signals` on the 300-W test split
/// (tracked crops): 0.01-0.04 kept the lowest confidence tenth at about three times the
/// mean error of the highest (3.1 / 3.1 / 3.0), and 0.04 leaves clear points near
/// 0.7-0.8 instead of crowding them near 0.
pub const CONFIDENCE_SPREAD: f32 = 0.04;

/// A point's confidence, 0-1, from its heat-map peak and its vote spread
/// ([`Decoded::spread`]): `clamp(peak, 0, 1) * exp(-spread / CONFIDENCE_SPREAD)`. The
/// peak alone says little about a point's error on the shipped model (its lowest tenth
/// has 1.3 times the error of its highest); the spread, whether the face's other points
/// agree on where this one is, says much more; both fall on hidden points.
pub fn point_confidence(peak: f32, spread: f32) -> f32 {
    if !(peak.is_finite() && spread.is_finite()) {
        return 0.0;
    }
    peak.clamp(0.0, 1.0) * (-spread.max(0.0) / CONFIDENCE_SPREAD).exp()
}

/// One face's decoded points.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// `x0, y0, x1, y1, ...` in normalised crop coordinates.
    pub xy: Vec<f32>,
    /// Per point, the score of its best cell (about 1 where the model is sure, near 0
    /// where it sees no such point).
    pub peak: Vec<f32>,
    /// Per point, how far its votes (its own estimate and its neighbours') scatter: the
    /// root mean square distance of the votes from their mean, in grid cells. Small where
    /// the face's points agree on it, large where they disagree (a hidden or unclear point).
    pub spread: Vec<f32>,
}

/// The largest vote window a contract may ask for (`facetrack.pip_window`).
pub const MAX_WINDOW: usize = crate::core::contract::MAX_PIP_WINDOW as usize;

/// Which cells around a point's best cell cast its votes. PIPNet reads the offsets at the
/// best cell alone (`radius` 0). A model trained with offsets on the `(2·radius+1)²`
/// cells around each point (`train fit --offset-window`) gives one estimate of the point
/// and of its neighbours per cell of that window; the decoder averages them, the best
/// cell's at weight 1 and the others' at `weight`. Cells outside the grid are skipped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub radius: usize,
    pub weight: f32,
}

impl Window {
    /// The best cell alone (PIPNet's rule; models without `facetrack.pip_window`).
    pub const NONE: Window = Window {
        radius: 0,
        weight: 1.0,
    };
}

/// Decode one face's maps. `neighbors` is the contract's table (`K` per point).
pub fn decode(maps: &[f32], layout: PipLayout, neighbors: &[u32]) -> Decoded {
    decode_windowed(maps, layout, neighbors, Window::NONE)
}

/// [`decode`] with the votes of a [`Window`] of cells around each best cell. The peak and
/// the spread are the best cell's (as [`decode`]), so confidences keep their scale.
pub fn decode_windowed(
    maps: &[f32],
    layout: PipLayout,
    neighbors: &[u32],
    window: Window,
) -> Decoded {
    let PipLayout {
        points: n,
        neighbors: k,
        grid_w: gw,
        grid_h: gh,
        maps: order,
    } = layout;
    let cells = gw * gh;
    let channels = layout.channels();
    // map `ch`'s value at cell `c`, the two layouts' one difference
    let at = |ch: usize, c: usize| match order {
        MapsLayout::ChannelsFirst => maps[ch * cells + c],
        MapsLayout::ChannelsLast => maps[c * channels + ch],
    };
    // best cell of each point (the first of equal scores)
    let mut best = vec![0usize; n];
    let mut peak = vec![f32::NEG_INFINITY; n];
    match order {
        MapsLayout::ChannelsFirst => {
            for i in 0..n {
                for (c, &v) in maps[i * cells..(i + 1) * cells].iter().enumerate() {
                    if v > peak[i] {
                        peak[i] = v;
                        best[i] = c;
                    }
                }
            }
        }
        // cell by cell, each cell's scores side by side
        MapsLayout::ChannelsLast => {
            for c in 0..cells {
                let scores = &maps[c * channels..c * channels + n];
                for (i, &v) in scores.iter().enumerate() {
                    if v > peak[i] {
                        peak[i] = v;
                        best[i] = c;
                    }
                }
            }
        }
    }
    // own estimate plus neighbour votes, in cell units
    let centre = |c: usize| ((c % gw) as f32 + 0.5, (c / gw) as f32 + 0.5);
    // the votes point i casts from cell c, in cell units: (for point, x, y), its own
    // estimate, then one for each of its neighbours
    let votes_from = |i: usize, c: usize| {
        let (cx, cy) = centre(c);
        let own = (i, cx + at(n + i, c), cy + at(2 * n + i, c));
        std::iter::once(own).chain((0..k).map(move |kk| {
            (
                neighbors[i * k + kk] as usize,
                cx + at(3 * n + i * k + kk, c),
                cy + at(3 * n + n * k + i * k + kk, c),
            )
        }))
    };
    // every vote from the best cells
    let best = &best;
    let votes = || (0..n).flat_map(move |i| votes_from(i, best[i]));
    let mut sx = vec![0f32; n];
    let mut sy = vec![0f32; n];
    let mut cnt = vec![0f32; n];
    for (j, x, y) in votes() {
        sx[j] += x;
        sy[j] += y;
        cnt[j] += 1.0;
    }
    // the window's other cells: the same votes read at each cell beside the best one
    let r = window.radius.min(MAX_WINDOW) as isize;
    let windowed = (r > 0 && window.weight > 0.0).then(|| {
        let (mut wx, mut wy, mut wsum) = (sx.clone(), sy.clone(), cnt.clone());
        let w = window.weight;
        for (i, &b) in best.iter().enumerate() {
            let (bx, by) = ((b % gw) as isize, (b / gw) as isize);
            for dy in -r..=r {
                for dx in -r..=r {
                    let (x, y) = (bx + dx, by + dy);
                    if (dx == 0 && dy == 0)
                        || x < 0
                        || y < 0
                        || x >= gw as isize
                        || y >= gh as isize
                    {
                        continue;
                    }
                    for (j, vx, vy) in votes_from(i, y as usize * gw + x as usize) {
                        wx[j] += w * vx;
                        wy[j] += w * vy;
                        wsum[j] += w;
                    }
                }
            }
        }
        (wx, wy, wsum)
    });
    let (wx, wy, wsum) = match &windowed {
        Some((wx, wy, wsum)) => (wx, wy, wsum),
        None => (&sx, &sy, &cnt),
    };
    let mut xy = Vec::with_capacity(2 * n);
    for i in 0..n {
        xy.push(2.0 * wx[i] / wsum[i] / gw as f32 - 1.0);
        xy.push(2.0 * wy[i] / wsum[i] / gh as f32 - 1.0);
    }
    // the votes' scatter about their mean (a second pass: exact, the points unchanged)
    let mut sq = vec![0f32; n];
    for (j, x, y) in votes() {
        let (dx, dy) = (x - sx[j] / cnt[j], y - sy[j] / cnt[j]);
        sq[j] += dx * dx + dy * dy;
    }
    let spread = (0..n).map(|i| (sq[i] / cnt[i]).sqrt()).collect();
    Decoded { xy, peak, spread }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout of `points` points with 1 neighbour each on a `grid_w × grid_h` grid,
    /// and its maps, all zero.
    fn blank(points: usize, grid_w: usize, grid_h: usize) -> (PipLayout, Vec<f32>) {
        let l = PipLayout {
            points,
            neighbors: 1,
            grid_w,
            grid_h,
            maps: MapsLayout::ChannelsFirst,
        };
        (l, vec![0f32; l.len()])
    }

    /// Hand-made maps for 3 points, 1 neighbour each, on a 4×2 grid.
    #[test]
    fn hand_made_maps_decode_to_cell_plus_offset_averaged_with_votes() {
        let (l, mut m) = blank(3, 4, 2);
        let set = |m: &mut Vec<f32>, ch: usize, cell: usize, v: f32| m[ch * 8 + cell] = v;
        // point 0 best at cell (1,0) = 1; point 1 at (3,1) = 7; point 2 at (0,1) = 4
        set(&mut m, 0, 1, 0.9);
        set(&mut m, 0, 2, 0.5);
        set(&mut m, 1, 7, 0.8);
        set(&mut m, 2, 4, 0.7);
        // own offsets
        set(&mut m, 3, 1, 0.25); // x0
        set(&mut m, 6, 1, -0.25); // y0
        set(&mut m, 3 + 1, 7, 0.0);
        set(&mut m, 6 + 1, 7, 0.5);
        set(&mut m, 3 + 2, 4, -0.5);
        set(&mut m, 6 + 2, 4, 0.0);
        // neighbours: 0 -> 1, 1 -> 0, 2 -> 1; nb x at 9 + i, nb y at 12 + i
        let nb = [1u32, 0, 1];
        set(&mut m, 9, 1, 2.0); // from point 0's cell (1.5, 0.5): point 1 at x 3.5
        set(&mut m, 12, 1, 1.0); //                                     y 1.5
        set(&mut m, 9 + 1, 7, -2.0); // from point 1's cell (3.5, 1.5): point 0 at x 1.5
        set(&mut m, 12 + 1, 7, -1.0); //                                 y 0.5
        set(&mut m, 9 + 2, 4, 3.0); // from point 2's cell (0.5, 1.5): point 1 at x 3.5
        set(&mut m, 12 + 2, 4, 0.5); //                                 y 2.0
        let d = decode(&m, l, &nb);
        // point 0: own (1.75, 0.25), vote (1.5, 0.5) -> (1.625, 0.375)
        // point 1: own (3.5, 2.0), votes (3.5, 1.5), (3.5, 2.0) -> (3.5, 11/6)
        // point 2: own (0.0, 1.5)
        let want = [
            (1.625, 0.375),
            (3.5, 2.0 * (2.0 + 1.5 + 2.0) / 6.0),
            (0.0, 1.5),
        ];
        for (i, (u, v)) in want.iter().enumerate() {
            let (x, y) = (2.0 * u / 4.0 - 1.0, 2.0 * v / 2.0 - 1.0);
            assert!(
                (d.xy[2 * i] - x).abs() < 1e-6 && (d.xy[2 * i + 1] - y).abs() < 1e-6,
                "point {i}: {:?} want ({x}, {y})",
                &d.xy[2 * i..2 * i + 2]
            );
        }
        assert_eq!(d.peak, vec![0.9, 0.8, 0.7]);
        // point 0's two votes are (1.75, 0.25) and (1.5, 0.5): each sqrt(2)/8 from the mean;
        // point 2 has one vote
        assert!(
            (d.spread[0] - 2f32.sqrt() / 8.0).abs() < 1e-5,
            "{:?}",
            d.spread
        );
        assert!(d.spread[2] < 1e-3);
    }

    /// With a window, each cell around the best one casts the same kinds of votes; with
    /// radius 0 (or weight 0) the decode is [`decode`]'s.
    #[test]
    fn window_cells_add_weighted_votes_and_radius_zero_is_the_plain_decode() {
        let (l, mut m) = blank(2, 3, 3);
        let cells = 9;
        let set = |m: &mut Vec<f32>, ch: usize, cell: usize, v: f32| m[ch * cells + cell] = v;
        // point 0 best at the corner cell (0,0): its window inside the grid is 4 cells;
        // point 1 best at the centre (1,1): all 9
        set(&mut m, 0, 0, 1.0);
        set(&mut m, 1, 4, 1.0);
        // every cell's own offsets say point 0 is at (0.8, 0.6), point 1 at (1.5, 1.4),
        // and its neighbour votes (0 -> 1, 1 -> 0) say the same
        let nb = [1u32, 0];
        for c in 0..cells {
            let (cx, cy) = ((c % 3) as f32 + 0.5, (c / 3) as f32 + 0.5);
            set(&mut m, 2, c, 0.8 - cx);
            set(&mut m, 4, c, 0.6 - cy);
            set(&mut m, 3, c, 1.5 - cx);
            set(&mut m, 5, c, 1.4 - cy);
            set(&mut m, 6, c, 1.5 - cx); // point 0's vote for point 1
            set(&mut m, 8, c, 1.4 - cy);
            set(&mut m, 7, c, 0.8 - cx); // point 1's vote for point 0
            set(&mut m, 9, c, 0.6 - cy);
        }
        let uv = |d: &Decoded, i: usize| ((d.xy[2 * i] + 1.0) * 1.5, (d.xy[2 * i + 1] + 1.0) * 1.5);
        let w1 = Window {
            radius: 1,
            weight: 0.5,
        };
        let d = decode_windowed(&m, l, &nb, w1);
        for (i, want) in [(0.8, 0.6), (1.5, 1.4)].into_iter().enumerate() {
            let got = uv(&d, i);
            assert!(
                (got.0 - want.0).abs() < 1e-5 && (got.1 - want.1).abs() < 1e-5,
                "point {i}: {got:?}"
            );
        }
        // one cell beside point 1's best one disagrees: the point moves by its weight's share
        set(&mut m, 3, 5, 1.5 - 2.5 + 0.9); // cell (2,1) says x = 2.4
        let d = decode_windowed(&m, l, &nb, w1);
        // point 1's votes: own 1 + 8 × 0.5, point 0's vote from (0,0) 1 and its 3 other
        // in-grid cells × 0.5: total 1 + 4 + 1 + 1.5 = 7.5; one vote of weight 0.5 is off by 0.9
        let want = 1.5 + 0.5 * 0.9 / 7.5;
        assert!(
            (uv(&d, 1).0 - want).abs() < 1e-5,
            "{:?} want {want}",
            uv(&d, 1)
        );
        // radius 0 and weight 0 both give the plain decode
        let plain = decode(&m, l, &nb);
        assert_eq!(decode_windowed(&m, l, &nb, Window::NONE), plain);
        let w0 = Window {
            radius: 1,
            weight: 0.0,
        };
        assert_eq!(decode_windowed(&m, l, &nb, w0), plain);
        // the peak and the spread stay the best cell's
        let d = decode_windowed(&m, l, &nb, w1);
        assert_eq!(
            (d.peak.clone(), d.spread.clone()),
            (plain.peak, plain.spread)
        );
    }

    /// The same maps laid out channels last decode to the same points, peaks and spreads,
    /// with and without a window; ties keep the first cell in both layouts.
    #[test]
    fn channels_last_maps_decode_as_channels_first() {
        let table = neighbor_table(3);
        let first = PipLayout {
            points: 68,
            neighbors: 3,
            grid_w: 5,
            grid_h: 4,
            maps: MapsLayout::ChannelsFirst,
        };
        let last = PipLayout {
            maps: MapsLayout::ChannelsLast,
            ..first
        };
        let (ch, cells) = (first.channels(), 20);
        // a fixed pseudo-random fill (a linear congruential sequence), in -1..1
        let mut state = 12345u32;
        let mut maps: Vec<f32> = (0..first.len())
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect();
        // point 5's score ties at cells 3 and 9: both layouts pick cell 3
        maps[5 * cells + 3] = 2.0;
        maps[5 * cells + 9] = 2.0;
        let mut moved = vec![0f32; maps.len()];
        for c in 0..ch {
            for cell in 0..cells {
                moved[cell * ch + c] = maps[c * cells + cell];
            }
        }
        for window in [
            Window::NONE,
            Window {
                radius: 1,
                weight: 0.5,
            },
        ] {
            let a = decode_windowed(&maps, first, &table, window);
            let b = decode_windowed(&moved, last, &table, window);
            assert_eq!(a, b);
        }
        // and reading the maps in the wrong layout does not
        assert_ne!(decode(&maps, last, &table), decode(&maps, first, &table));
        assert_eq!(decode(&moved, last, &table).peak[5], 2.0);
    }

    #[test]
    fn confidence_falls_with_the_spread_and_the_peak() {
        assert_eq!(point_confidence(1.2, 0.0), 1.0);
        assert!(
            (point_confidence(0.8, CONFIDENCE_SPREAD) - 0.8 / std::f32::consts::E).abs() < 1e-6
        );
        assert!(point_confidence(0.9, 0.01) > point_confidence(0.9, 0.05));
        assert!(point_confidence(0.9, 0.01) > point_confidence(0.5, 0.01));
        assert_eq!(point_confidence(-0.3, 0.0), 0.0);
        assert_eq!(point_confidence(f32::NAN, 0.0), 0.0);
    }

    #[test]
    fn neighbour_table_is_k_distinct_other_points_nearest_first() {
        let t = neighbor_table(DEFAULT_NEIGHBORS);
        assert_eq!(t.len(), 68 * DEFAULT_NEIGHBORS);
        for i in 0..68 {
            let row = &t[i * DEFAULT_NEIGHBORS..(i + 1) * DEFAULT_NEIGHBORS];
            assert!(row.iter().all(|&j| j as usize != i && j < 68));
            let mut u = row.to_vec();
            u.sort();
            u.dedup();
            assert_eq!(u.len(), DEFAULT_NEIGHBORS);
        }
        // the eye's outer corner (36) has its own eye's points among its nearest
        let row36 = &t[36 * DEFAULT_NEIGHBORS..37 * DEFAULT_NEIGHBORS];
        assert!(row36.contains(&37) && row36.contains(&41));
    }
}
