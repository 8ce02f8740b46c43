//! Ctrl-C in `train fit`: the flags the handler sets and the training loop and data
//! loading read.

use std::sync::atomic::AtomicBool;

/// Set by Ctrl-C: finish the batch, write a checkpoint, exit (while the data loads: stop
/// loading, write nothing).
pub static STOP: AtomicBool = AtomicBool::new(false);
/// Set when a run ended early because of [`STOP`] (a checkpoint to `--resume` from), not
/// when a Ctrl-C came after the last epoch: what decides the exit status.
pub static STOPPED_EARLY: AtomicBool = AtomicBool::new(false);
/// Set once the run's files are being written (after its data and teacher loaded): a
/// Ctrl-C from then on ends with a checkpoint, before it with nothing.
pub static TRAINING: AtomicBool = AtomicBool::new(false);

/// The error of a run stopped by [`STOP`] before it wrote anything.
#[derive(Debug)]
pub struct NothingWritten;

impl std::fmt::Display for NothingWritten {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted while the data loaded, before training began: nothing was written")
    }
}

impl std::error::Error for NothingWritten {}
