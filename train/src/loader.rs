//! Batches built in worker threads beside training: each worker crops and augments whole
//! batches into plain `Vec<f32>`s; the training loop takes them in order. A sample's
//! augmentation depends only on (seed, epoch, position), so the batches are the same
//! however many workers run, and a resumed epoch can skip batches it has already seen.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use facetrack::data::jitter::tracked_crop;
use facetrack::{CropTransform, ModelContract};

use crate::augment::{make_pair, make_pair_with_crop, Augment, Rng};
use crate::data::Face;

/// A batch: `n` inputs of the contract's size and `n` targets of 2K values, and each
/// sample's mirror correction (2 values, crop coordinates; see
/// [`crate::augment::make_pair_with_crop`]).
pub struct Batch {
    pub n: usize,
    pub input: Vec<f32>,
    pub target: Vec<f32>,
    pub correction: Vec<f32>,
}

/// Build one batch of the faces at `order[range]`. `loop_crops`, indexed by position in
/// the epoch (empty: none), gives the samples cropped from the model's own prediction
/// (see [`crate::closed_loop`]); the others are cropped from their true points.
#[allow(clippy::too_many_arguments)]
pub fn build_batch(
    faces: &[Face],
    order: &[usize],
    contract: &ModelContract,
    mirror: &[usize],
    aug: &Augment,
    seed: u64,
    epoch: u64,
    first_pos: usize,
    loop_crops: &[Option<CropTransform>],
) -> Batch {
    let per_in = contract.input_len();
    let per_out = contract.output_len();
    let n = order.len();
    let mut input = vec![0.0f32; n * per_in];
    let mut target = vec![0.0f32; n * per_out];
    let mut correction = vec![0.0f32; n * 2];
    for (k, &fi) in order.iter().enumerate() {
        let pos = first_pos + k;
        let mut rng = Rng::for_sample(seed, epoch, pos as u64);
        let (inp, tgt) = (
            &mut input[k * per_in..(k + 1) * per_in],
            &mut target[k * per_out..(k + 1) * per_out],
        );
        let c = match loop_crops.get(pos).copied().flatten() {
            Some(t) => {
                make_pair_with_crop(&faces[fi], contract, &t, mirror, aug, &mut rng, inp, tgt)
            }
            None => make_pair(&faces[fi], contract, mirror, aug, &mut rng, inp, tgt),
        };
        correction[2 * k..2 * k + 2].copy_from_slice(&c);
    }
    Batch {
        n,
        input,
        target,
        correction,
    }
}

/// A validation batch: each face cropped as a tracked face
/// (`facetrack::data::jitter::tracked_crop`, drawn by its index in `faces`), no augmentation.
/// Returns the batch and the crops, to map predictions back to the image.
pub fn build_val_batch(
    faces: &[Face],
    idx: &[usize],
    contract: &ModelContract,
) -> (Batch, Vec<CropTransform>) {
    let per_in = contract.input_len();
    let per_out = contract.output_len();
    let n = idx.len();
    let mut input = vec![0.0f32; n * per_in];
    let mut target = vec![0.0f32; n * per_out];
    let mut crops = Vec::with_capacity(n);
    let none = Augment::none();
    for (k, &fi) in idx.iter().enumerate() {
        let f = &faces[fi];
        let t = tracked_crop(
            &f.points,
            contract,
            (f.image.width(), f.image.height()),
            fi as u64,
        );
        let mut rng = Rng::new(0);
        make_pair_with_crop(
            f,
            contract,
            &t,
            &[],
            &none,
            &mut rng,
            &mut input[k * per_in..(k + 1) * per_in],
            &mut target[k * per_out..(k + 1) * per_out],
        );
        crops.push(t);
    }
    let correction = vec![0.0; 2 * n];
    (
        Batch {
            n,
            input,
            target,
            correction,
        },
        crops,
    )
}

struct Shared {
    ready: Mutex<Ready>,
    cv: Condvar,
}

/// Batches made and not yet taken, and the first worker failure.
#[derive(Default)]
struct Ready {
    batches: BTreeMap<usize, Batch>,
    failed: Option<String>,
}

/// Why the loader could not give the next batch.
#[derive(Debug)]
pub enum LoaderError {
    Worker { batch: usize, message: String },
    Poisoned,
}

impl std::fmt::Display for LoaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoaderError::Worker { batch, message } => write!(
                f,
                "a data-loading worker failed (waiting for batch {batch}): {message}"
            ),
            LoaderError::Poisoned => {
                write!(f, "the data loader's state was lost after a worker failed")
            }
        }
    }
}

impl std::error::Error for LoaderError {}

/// An epoch's batches, produced ahead by worker threads (at most `ahead` waiting).
pub struct EpochLoader {
    shared: Arc<Shared>,
    next: usize,
    total: usize,
    consumed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl EpochLoader {
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        faces: Arc<Vec<Face>>,
        order: Arc<Vec<usize>>,
        batch_size: usize,
        start_batch: usize,
        contract: ModelContract,
        mirror: Arc<Vec<usize>>,
        aug: Augment,
        seed: u64,
        epoch: u64,
        loop_crops: Arc<Vec<Option<CropTransform>>>,
        workers: usize,
        ahead: usize,
    ) -> Self {
        let total = order.len() / batch_size; // drop the last partial batch (batch norm)
        let make = move |b: usize| {
            let idx = &order[b * batch_size..(b + 1) * batch_size];
            build_batch(
                &faces,
                idx,
                &contract,
                &mirror,
                &aug,
                seed,
                epoch,
                b * batch_size,
                &loop_crops,
            )
        };
        Self::with_maker(total, start_batch, workers, ahead, Arc::new(make))
    }

    /// Batches `start_batch..total` made by `make` on `workers` threads, at most `ahead`
    /// in front of the consumer.
    fn with_maker(
        total: usize,
        start_batch: usize,
        workers: usize,
        ahead: usize,
        make: Arc<dyn Fn(usize) -> Batch + Send + Sync>,
    ) -> Self {
        let shared = Arc::new(Shared {
            ready: Mutex::new(Ready::default()),
            cv: Condvar::new(),
        });
        let claim = Arc::new(AtomicUsize::new(start_batch));
        let consumed = Arc::new(AtomicUsize::new(start_batch));
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..workers.max(1))
            .map(|_| {
                let (make, shared, claim, consumed, stop) = (
                    make.clone(),
                    shared.clone(),
                    claim.clone(),
                    consumed.clone(),
                    stop.clone(),
                );
                std::thread::spawn(move || loop {
                    let b = claim.fetch_add(1, Ordering::SeqCst);
                    if b >= total || stop.load(Ordering::SeqCst) {
                        return;
                    }
                    // stay at most `ahead` batches in front of the consumer
                    while b >= consumed.load(Ordering::SeqCst) + ahead {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                    // a panic here is the training's error, not a batch that never comes
                    let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| make(b)));
                    let mut m = match shared.ready.lock() {
                        Ok(m) => m,
                        Err(p) => p.into_inner(),
                    };
                    let failed = match made {
                        Ok(batch) => {
                            m.batches.insert(b, batch);
                            false
                        }
                        Err(p) => {
                            let msg = p
                                .downcast_ref::<&str>()
                                .map(|s| s.to_string())
                                .or_else(|| p.downcast_ref::<String>().cloned())
                                .unwrap_or_else(|| "unknown panic".into());
                            m.failed.get_or_insert(format!("batch {b}: {msg}"));
                            true
                        }
                    };
                    drop(m);
                    shared.cv.notify_all();
                    if failed {
                        stop.store(true, Ordering::SeqCst);
                        return;
                    }
                })
            })
            .collect();
        EpochLoader {
            shared,
            next: start_batch,
            total,
            consumed,
            stop,
            handles,
        }
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// The next batch in order, `None` at the end of the epoch, or the error of a worker
    /// that failed (the others stop).
    pub fn next_batch(&mut self) -> Result<Option<Batch>, LoaderError> {
        if self.next >= self.total {
            return Ok(None);
        }
        let mut m = self
            .shared
            .ready
            .lock()
            .map_err(|_| LoaderError::Poisoned)?;
        loop {
            if let Some(b) = m.batches.remove(&self.next) {
                self.next += 1;
                self.consumed.store(self.next, Ordering::SeqCst);
                return Ok(Some(b));
            }
            if let Some(msg) = &m.failed {
                self.stop.store(true, Ordering::SeqCst);
                return Err(LoaderError::Worker {
                    batch: self.next,
                    message: msg.clone(),
                });
            }
            m = self.shared.cv.wait(m).map_err(|_| LoaderError::Poisoned)?;
        }
    }
}

impl Drop for EpochLoader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(v: f32) -> Batch {
        Batch {
            n: 1,
            input: vec![v],
            target: vec![v],
            correction: vec![0.0; 2],
        }
    }

    #[test]
    fn batches_come_in_order() {
        let mut l = EpochLoader::with_maker(6, 1, 3, 2, Arc::new(|b| batch(b as f32)));
        let got: Vec<f32> = std::iter::from_fn(|| l.next_batch().unwrap())
            .map(|b| b.input[0])
            .collect();
        assert_eq!(got, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn a_worker_that_panics_is_an_error_not_a_wait() {
        let mut l = EpochLoader::with_maker(
            8,
            0,
            2,
            3,
            Arc::new(|b| {
                if b == 3 {
                    panic!("bad face");
                }
                batch(b as f32)
            }),
        );
        let t = std::time::Instant::now();
        let mut n = 0;
        let e = loop {
            match l.next_batch() {
                Ok(Some(_)) => n += 1,
                Ok(None) => panic!("the epoch ended without the failed batch"),
                Err(e) => break e,
            }
        };
        assert_eq!(n, 3);
        assert!(e.to_string().contains("bad face"), "{e}");
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
    }
}
