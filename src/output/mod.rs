//! What a run writes: the [`sink::Sink`] trait and its CSV and annotated-video sinks, the
//! CSV format itself, drawing, and the safe-output rules (outputs never overwrite inputs;
//! they are written under a partial name and renamed when complete).

#[cfg(feature = "video")]
pub mod annotate;
pub mod csv_out;
pub mod csv_read;
pub mod draw;
pub mod output_files;
pub mod sink;
#[cfg(feature = "window")]
pub mod window;
