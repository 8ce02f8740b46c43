//! Following faces through a video: the detector acquires faces; while a face is
//! tracked its next crop comes from its current landmarks; the detector runs again every
//! few frames to confirm tracks and find new faces. Every face keeps its id while tracked.
//! The cost follows the faces: while every tracked face's landmarks are clear the detector
//! runs [`CLEAR_DETECT_FACTOR`] times less often, and not at all once `max_faces` faces
//! are tracked (nothing is left to find); an unclear face is confirmed by a search of
//! the square around it ([`FaceDetector::detect_near`]), not of the whole frame; while
//! no face is tracked a full search's work is spread over frames ([`ACQUIRE_CYCLE`]).
//! A confirming detection moves only the crop of a face whose
//! landmarks are not clear (moving a clear face's crop towards the detector's box only
//! adds the detector's jitter).
//!
//! Confidence: `max(1 - exp(-score / 5), landmark quality) * 0.25^misses * edge`
//! (`edge`: [`edge_factor`], for the share of the points outside the frame), where `score`
//! is the SeetaFace score of the last detection that confirmed the track and `misses`
//! counts the detector runs since then that did not find it (a frame whose landmark
//! quality reaches [`QUALITY_ONE`] confirms the track too and clears them). The landmark quality comes
//! from heat-map models only (the mean peak score of the points, mapped so that
//! [`QUALITY_ZERO`] gives 0 and [`QUALITY_ONE`] gives 1); with it, a detector run that
//! misses a face whose landmarks are still clear ([`QUALITY_KEEP`], the detector often
//! misses rolled or turned faces) is not a miss, and a face whose landmarks fade below
//! [`QUALITY_LOST`] (the model sees no face) is dropped at once.
//! A face is reported `success` when its confidence is at least [`SUCCESS_CONFIDENCE`];
//! a track is dropped after more than [`MAX_MISSES`] unconfirmed detector runs, when its
//! box leaves the frame or collapses, and at a scene cut that changed its face's region
//! ([`crate::tracking::scene_cut`]). Of two tracks that come to show one face, the one
//! that came from elsewhere is dropped ([`Track::gives_way_to`]).

use crate::core::geometry::{CropTransform, FaceBox, Point};
use crate::core::head_pose::{HeadPose, PoseOptions};
use crate::core::image::GrayImage;
use crate::core::metrics::inter_ocular;
use crate::core::orientation::{self, Orientation};
use crate::core::pixels::Pixels;
use crate::inference::model::{LandmarkModel, ModelError, Prediction};
use crate::tracking::crop_filter::{next_crop, CropState};
use crate::tracking::detector::{Detection, FaceDetector, SearchImage, Sizes, SMALL_PARTS};
use crate::tracking::scene_cut::Signature;
use crate::tracking::smoothing::{OneEuroParams, PointSmoother};

/// A detection overlapping a tracked face's landmark box more than this is that face,
/// not one left out for want of room ([`TrackerTimes::crowded_runs`]).
const CROWD_IOU: f32 = 0.2;

/// Unconfirmed detector runs a track survives; the next one ends it.
pub const MAX_MISSES: u32 = 2;
/// Confidence kept per unconfirmed detector run: one miss takes any face below
/// [`SUCCESS_CONFIDENCE`], so a face that left is reported lost at the next detector run.
const MISS_FACTOR: f32 = 0.25;
/// Confidence at or above which a face counts as found.
pub const SUCCESS_CONFIDENCE: f32 = 0.3;
/// Detector score giving confidence 1 - 1/e.
const SCORE_SCALE: f32 = 5.0;
/// Overlap of a detection with a track's landmark box that confirms the track. The
/// calibrated SeetaFace boxes overlap the true landmark box at IoU 0.569 or more on 99 %
/// of the 300-W faces (median 0.821; `examples/calibrate_detector.rs`), so 0.5 still
/// confirms a well-tracked face and no longer accepts a box 1.8 times too big or small.
const CONFIRM_IOU: f32 = 0.5;
/// Tracks overlapping more than this are the same face; one is dropped
/// ([`Track::gives_way_to`]).
const DUPLICATE_IOU: f32 = 0.5;
/// Of two tracks on one face, landmark qualities this far apart decide which stays.
const DUPLICATE_QUALITY_MARGIN: f32 = 0.05;
/// Of two tracks on one face, recent surprises ([`Track::drift`]) this far apart decide
/// which stays: the one whose crop has been following its face smoothly.
const DUPLICATE_DRIFT_MARGIN: f32 = 0.05;
/// Share of a track's drift kept from one frame to the next.
const DRIFT_DECAY: f32 = 0.7;
/// A track with this much drift has slid onto the face it shows: a track just started
/// there from a detection takes its place (ordinary motion stays under it: a face at
/// 6 px a frame in a track's first frames misses its crop by about 0.06).
const SLID_DRIFT: f32 = 0.15;
/// Share of a track's box that must stay inside the frame.
const MIN_INSIDE: f32 = 0.4;
/// Shares of a face's points outside the frame between which its confidence falls from
/// full to 0 ([`edge_factor`]): the model guesses points it cannot see, so a face a
/// quarter out of the picture is no longer a success (a chin cut off by the frame's
/// edge, 7-9 of the 68 points, costs nothing).
const OUTSIDE_SHARE: (f32, f32) = (0.15, 0.3);
/// Smallest landmark box kept, pixels.
const MIN_BOX: f32 = 8.0;
/// While no face is tracked the detector runs on every frame, in a cycle of this many
/// frames ([`acquisition_sizes`]). The first search (a video's first frame, the first
/// after every face was lost) looks for faces from the smallest size up; a scene cut's
/// searches the turned copy from the smallest size too. After it, the even frames search the frame,
/// and a turned copy where no clear face is upright, from twice the smallest size (about
/// a quarter of a full search each, [`FaceDetector::detect_coarse`]; the turned copies
/// in the rotation of [`TURNED_SEARCHES`]); the odd frames search one part
/// ([`Sizes::Small`]) of the faces under twice the smallest size: a turned copy's parts,
/// then the frame's, then the next turned copy's. So the work of a full search is spread
/// over frames: at 1080p a busy scene's full search took 20-23 ms, two thirds of a live
/// frame's time, and the frames that paid for it were late. An upright face is found
/// within 2 frames of appearing, or 12 under twice the smallest size; a turned one within
/// 6, or 36. (With two parts, 8 and 24, the second part's frames were live mode's
/// slowest: [`SMALL_PARTS`].)
pub const ACQUIRE_CYCLE: u64 = 4 * SMALL_PARTS as u64;
/// The search for new faces beside an unclear tracked face looks from the smallest size
/// one run in this many, from twice that size in the others.
pub const FULL_SEARCH_EVERY: u64 = 4;
/// The searches of the `n`-th frame of an acquisition (no face tracked; from 0), `cut`
/// when it is a scene cut's, after `parts` searches of a part of the smaller sizes (which
/// part is next: counted over acquisitions, so that one restarted often, as a false face
/// found and lost restarts it, still comes to every part and turn): the frame's (None:
/// not searched) and, where it finds no clear face, the turned copy's, with its turn
/// (None: the next of [`TURNED_SEARCHES`]). See [`ACQUIRE_CYCLE`].
fn acquisition_sizes(
    n: u64,
    cut: bool,
    parts: u64,
) -> (Option<Sizes>, Option<(Sizes, Option<Orientation>)>) {
    if cut {
        return (Some(Sizes::All), Some((Sizes::All, None)));
    }
    if n == 0 {
        return (Some(Sizes::All), Some((Sizes::FromTwice, None)));
    }
    if n.is_multiple_of(2) {
        return (Some(Sizes::FromTwice), Some((Sizes::FromTwice, None)));
    }
    // the odd frames' parts: a turned copy's, then the frame's
    let step = parts as usize;
    let part = Sizes::Small(step % SMALL_PARTS);
    let half = ACQUIRE_CYCLE as usize / 2;
    if step % half < SMALL_PARTS {
        let turn = TURNED_SEARCHES[(step / half) % TURNED_SEARCHES.len()];
        (None, Some((part, Some(turn))))
    } else {
        (Some(part), None)
    }
}

/// The turns of the frame searched while no face is tracked, in rotation: a face turned
/// 90° either way (a person lying down, a camera on its side), then one upside down. The
/// searches from twice the smallest size (and the full ones) take the next turn each, the
/// parts of the sizes under that one turn for each cycle of [`ACQUIRE_CYCLE`] frames. The
/// detector only finds upright faces (about ±30° of roll).
const TURNED_SEARCHES: [Orientation; 3] = [
    Orientation::Rotate90,
    Orientation::Rotate270,
    Orientation::Rotate180,
];

/// Frames between detector runs while faces are tracked.
pub const DEFAULT_DETECT_EVERY: u64 = 5;

/// Tracker settings.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct TrackerOptions {
    pub max_faces: usize,
    /// Run the detector every this many frames while faces are tracked.
    pub detect_every: u64,
    /// One Euro smoothing of the reported points (`None`: raw points).
    pub smoothing: Option<OneEuroParams>,
    /// Head pose of each reported face.
    pub pose: PoseOptions,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        TrackerOptions {
            max_faces: 4,
            detect_every: DEFAULT_DETECT_EVERY,
            smoothing: None,
            pose: PoseOptions::Guess,
        }
    }
}

/// A [`TrackerOptions`] setting out of its range. The command line and the Python
/// package both check their options here, so they accept and refuse the same values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    #[error("max_faces (--max-faces) must be at least 1")]
    MaxFaces,
    #[error(
        "detect_every (--detect-every) must be at least 1 (1: the detector runs on every frame)"
    )]
    DetectEvery,
    #[error(
        "smoothing: min_cutoff (--min-cutoff) must be a positive number and beta (--beta) \
         and d_cutoff numbers not below 0 (got {min_cutoff}, {beta}, {d_cutoff})"
    )]
    Smoothing {
        min_cutoff: f32,
        beta: f32,
        d_cutoff: f32,
    },
}

impl TrackerOptions {
    /// These options if every setting is in its range.
    pub fn validate(self) -> Result<Self, OptionsError> {
        if self.max_faces == 0 {
            return Err(OptionsError::MaxFaces);
        }
        if self.detect_every == 0 {
            return Err(OptionsError::DetectEvery);
        }
        if let Some(p) = self.smoothing {
            let fine = p.min_cutoff.is_finite()
                && p.min_cutoff > 0.0
                && p.beta.is_finite()
                && p.beta >= 0.0
                && p.d_cutoff.is_finite()
                && p.d_cutoff > 0.0;
            if !fine {
                return Err(OptionsError::Smoothing {
                    min_cutoff: p.min_cutoff,
                    beta: p.beta,
                    d_cutoff: p.d_cutoff,
                });
            }
        }
        Ok(self)
    }
}

/// One face in one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedFace {
    pub id: u32,
    /// Reported points (smoothed when smoothing is on).
    pub points: Vec<Point>,
    /// The model's points for this frame, before smoothing.
    pub raw_points: Vec<Point>,
    pub face_box: FaceBox,
    pub confidence: f32,
    pub success: bool,
    /// Head pose from the reported points ([`crate::core::head_pose`]), when it is on.
    pub pose: Option<HeadPose>,
    /// The points were aligned afresh from a detection in this frame (a new track, or a
    /// track re-seeded from the detector), not followed from the last frame's crop: a
    /// smoother must not average across it.
    pub redetected: bool,
    /// Per point, its confidence (0-1: low where the point is hidden or unclear;
    /// [`crate::inference::pip::point_confidence`]); empty for point-regression models.
    pub point_confidence: Vec<f32>,
}

impl TrackedFace {
    /// The model's own points of this frame ([`Self::raw_points`]; the reported points
    /// where those are not kept). The eye and mouth signals are measured on them: a
    /// smoother that steadies the points would delay a blink or smooth it away.
    pub fn model_points(&self) -> &[Point] {
        match self.raw_points.is_empty() {
            true => &self.points,
            false => &self.raw_points,
        }
    }

    /// The face's eye and mouth signals in this frame, on [`Self::model_points`] (the
    /// still-image `blink`; a video holds it over the frames with
    /// [`crate::core::signals::FaceBlinks`]).
    pub fn signals(&self) -> Option<crate::core::signals::FaceSignals> {
        crate::core::signals::face_signals(self.model_points())
    }
}

/// Landmark quality (mean peak score) mapped to confidence 0. Measured on the shipped
/// model by `examples/calibrate_quality.rs` on the validation faces: crops off any face
/// and grey score 0.27-0.28, faces 0.79-0.91 (5th to 95th percentile, median 0.87), the
/// two faces the model gets wrong (NME > 8 %) 0.62 and 0.74.
pub const QUALITY_ZERO: f32 = 0.35;
/// Landmark quality mapped to confidence 1.
pub const QUALITY_ONE: f32 = 0.8;
/// At or above this quality a detector run that misses the face does not count.
pub const QUALITY_KEEP: f32 = 0.6;
/// Below this quality the model sees no face: the track ends.
pub const QUALITY_LOST: f32 = 0.4;

/// While every tracked face's landmark quality is at least [`QUALITY_ONE`], the detector
/// runs this many times less often (a new face is then found within 15 frames at the
/// default `--detect-every 5`), and not at all while `max_faces` faces are tracked.
pub const CLEAR_DETECT_FACTOR: u64 = 3;

/// Share of a confirming detection's crop blended into the crop state of a track whose
/// landmarks are not clear (quality under [`QUALITY_ONE`]); clear tracks keep their own.
const DETECTION_BLEND: f32 = 0.25;
/// A suspect track that no detection confirms (IoU under [`CONFIRM_IOU`]) is re-seeded
/// from the detection left over that overlaps its landmark box most, at this IoU or more:
/// its crop slid off the face, and the detector sees where the face is.
const RESEED_IOU: f32 = 0.2;

struct Track {
    id: u32,
    points: Vec<Point>,
    score: f32,
    misses: u32,
    smoother: PointSmoother,
    /// The filtered crop ([`crate::tracking::crop_filter`]) the next frame is cut with.
    crop: CropState,
    /// The model's landmark quality on the last frame (heat-map models).
    quality: Option<f32>,
    /// Its per-point confidence (heat-map models; empty otherwise).
    point_confidence: Vec<f32>,
    /// The crop loop saw a size jump or an oscillation: check with the detector.
    suspect: bool,
    /// How much the crop has lately moved otherwise than its own motion predicted: the
    /// largest [`crate::tracking::crop_filter::CropCheck::surprise`] of the last frames,
    /// each frame's weighed down by [`DRIFT_DECAY`] (1 on a re-seed). Of two tracks that
    /// meet on one face, the one with more drift came from elsewhere.
    drift: f32,
    /// Frames followed since the track started (0 on its first frame).
    age: u32,
    /// Its landmark box on the last frame and that region's signature there: at a scene
    /// cut the track ends only if its own region changed.
    region: Option<(FaceBox, Signature)>,
    /// The points came from a detection in this frame (reported, then cleared).
    redetected: bool,
}

impl Track {
    fn confidence(&self) -> f32 {
        let base =
            detection_confidence(self.score).max(self.quality.map_or(0.0, quality_confidence));
        base * MISS_FACTOR.powi(self.misses as i32)
    }

    /// The landmarks vouch for the face although the detector did not find it.
    fn landmarks_clear(&self) -> bool {
        self.quality.is_some_and(|q| q >= QUALITY_KEEP)
    }

    /// Of two tracks whose boxes show one face, whether this one is dropped for `other`.
    /// A track started on this frame gives way to one already following the face (the
    /// detector found a face it was following), unless that one clearly slid onto the
    /// face ([`SLID_DRIFT`]); of two older tracks, the one whose crop has lately moved
    /// otherwise than its motion predicted gives way to one that followed its face
    /// smoothly (a covered face's crop slides onto the face in front of it, sideways or
    /// with a jump in size: the face there is not its face); then the one whose landmarks
    /// are clearly less sure; then the younger id.
    fn gives_way_to(&self, other: &Track) -> bool {
        if (self.age == 0) != (other.age == 0) {
            // a new track wins only over one that clearly slid onto the face
            let old = if self.age == 0 { other } else { self };
            return (self.age == 0) != (old.drift >= SLID_DRIFT);
        }
        if (self.drift - other.drift).abs() >= DUPLICATE_DRIFT_MARGIN {
            return self.drift > other.drift;
        }
        if let (Some(a), Some(b)) = (self.quality, other.quality) {
            if (a - b).abs() >= DUPLICATE_QUALITY_MARGIN {
                return a < b;
            }
        }
        self.id > other.id
    }
}

/// The factor on a face's confidence for the share of its points outside the frame (its
/// 0-based pixel centres from -0.5 to the size - 0.5): 1 up to [`OUTSIDE_SHARE`]'s first
/// share, 0 from its second.
pub fn edge_factor(points: &[Point], width: u32, height: u32) -> f32 {
    if points.is_empty() {
        return 1.0;
    }
    let (w, h) = (width as f32 - 0.5, height as f32 - 0.5);
    let out = points
        .iter()
        .filter(|p| !(p.x >= -0.5 && p.x <= w && p.y >= -0.5 && p.y <= h))
        .count();
    let share = out as f32 / points.len() as f32;
    let (full, none) = OUTSIDE_SHARE;
    ((none - share) / (none - full)).clamp(0.0, 1.0)
}

/// Confidence of a face from its landmark quality alone.
pub fn quality_confidence(q: f32) -> f32 {
    ((q - QUALITY_ZERO) / (QUALITY_ONE - QUALITY_ZERO)).clamp(0.0, 1.0)
}

/// Per-stage timing of the tracker, seconds (summed).
#[derive(Debug, Clone, Copy, Default)]
pub struct TrackerTimes {
    pub detect: f64,
    pub landmarks: f64,
    pub detector_runs: u64,
    /// Detector runs made early because a track was suspect.
    pub suspect_runs: u64,
    /// Tracks re-seeded from a detection.
    pub reseeds: u64,
    /// Scene cuts: frames of another shot than the frame before, where every track
    /// ended ([`crate::tracking::scene_cut`]).
    pub scene_cuts: u64,
    pub model_runs: u64,
    /// Detector runs on a turned copy of the frame (no face tracked, none found upright).
    pub turned_runs: u64,
    /// Detector runs that searched less than the whole frame down to the smallest face
    /// size: from twice that size, a part of the sizes under it ([`ACQUIRE_CYCLE`]),
    /// beside tracked faces, or around unclear ones ([`FaceDetector::detect_near`]).
    pub partial_runs: u64,
    /// Detector runs that found a face beyond what `max_faces` left room for (a detection
    /// that overlaps no tracked face and in which the model sees a face): faces in view
    /// that were not tracked.
    pub crowded_runs: u64,
}

/// The tracker: owns the model, the detector and the tracks.
pub struct Tracker {
    model: LandmarkModel,
    detector: FaceDetector,
    opts: TrackerOptions,
    tracks: Vec<Track>,
    next_id: u32,
    frame: u64,
    /// Acquisition runs that searched a turned frame from twice the smallest face size
    /// or fully (which turn is next).
    turned_searches: usize,
    /// Frames searched since a face was last followed from one frame to the next (the
    /// step of [`ACQUIRE_CYCLE`]; a face found and lost on the next frame, as a false
    /// detection is, does not start the cycle again).
    frame_searches: u64,
    /// Searches of a part of the sizes under twice the smallest ([`acquisition_sizes`]).
    part_searches: u64,
    /// Searches for new faces beside an unclear tracked face (which of them look from
    /// the smallest size: [`FULL_SEARCH_EVERY`]).
    beside_searches: u64,
    /// The last frame's signature, to tell a scene cut.
    last_shot: Option<Signature>,
    /// The last frame's width and height: a frame of another size ends every track.
    last_size: Option<(u32, u32)>,
    /// The frame (number, whether a cut) that [`Tracker::process_before_search`]
    /// followed and did not search yet.
    pending_search: Option<(u64, bool)>,
    pub times: TrackerTimes,
}

impl Tracker {
    pub fn new(model: LandmarkModel, detector: FaceDetector, opts: TrackerOptions) -> Self {
        Tracker {
            model,
            detector,
            opts,
            tracks: Vec::new(),
            next_id: 0,
            frame: 0,
            turned_searches: 0,
            frame_searches: 0,
            part_searches: 0,
            beside_searches: 0,
            last_shot: None,
            last_size: None,
            pending_search: None,
            times: TrackerTimes::default(),
        }
    }

    pub fn model(&self) -> &LandmarkModel {
        &self.model
    }

    /// Forget every track (a new video or a cut): the next frame acquires faces afresh,
    /// with ids starting again at 0.
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.next_id = 0;
        self.frame = 0;
        self.turned_searches = 0;
        self.frame_searches = 0;
        self.part_searches = 0;
        self.beside_searches = 0;
        self.last_shot = None;
        self.last_size = None;
        self.pending_search = None;
    }

    pub fn options(&self) -> TrackerOptions {
        self.opts
    }

    /// Switch smoothing on or off (live mode's `s` key).
    pub fn set_smoothing(&mut self, s: Option<OneEuroParams>) {
        self.opts.smoothing = s;
    }

    fn predict<P: Pixels + ?Sized>(
        &mut self,
        img: &P,
        crops: &[CropTransform],
    ) -> Result<Vec<Prediction>, ModelError> {
        let t = std::time::Instant::now();
        let r = self.model.predict_faces(img, crops);
        self.times.landmarks += t.elapsed().as_secs_f64();
        self.times.model_runs += 1;
        r
    }

    /// Process one frame seen at `t` seconds; returns the faces it holds.
    pub fn process(&mut self, img: &GrayImage, t: f64) -> Result<Vec<TrackedFace>, ModelError> {
        self.process_pixels(img, t)
    }

    /// [`Self::process`] on any frame the tracker can read: a colour frame is converted
    /// to gray only where a crop or the detector looks.
    pub fn process_pixels<P: Pixels + ?Sized>(
        &mut self,
        img: &P,
        t: f64,
    ) -> Result<Vec<TrackedFace>, ModelError> {
        let (frame, cut) = self.follow(img)?;
        self.search(img, frame, cut)?;
        self.drop_duplicates();
        Ok(self.report(img, t))
    }

    /// [`Self::process`] with the frame's search for faces left for later: follows the
    /// tracked faces on `img` and reports them; the detector's run that `process` makes on
    /// this frame before reporting (to confirm tracks and find new faces, every frame
    /// while no face is tracked) waits for [`Self::search_pending`] on the same frame,
    /// and what it finds is reported from the next frame on (a new face, a re-seeded
    /// crop, a track's confirmation or miss, and so its confidence: one frame later than
    /// `process` reports them). Live mode shows each frame before it is searched: the
    /// search runs while the next frame is on its way instead of delaying the one on
    /// screen. A search left pending is dropped by the next call.
    pub fn process_before_search<P: Pixels + ?Sized>(
        &mut self,
        img: &P,
        t: f64,
    ) -> Result<Vec<TrackedFace>, ModelError> {
        let (frame, cut) = self.follow(img)?;
        self.drop_duplicates();
        self.pending_search = Some((frame, cut));
        Ok(self.report(img, t))
    }

    /// The search [`Self::process_before_search`] left pending, on the frame it
    /// followed (the caller passes it again); nothing when none is pending.
    pub fn search_pending<P: Pixels + ?Sized>(&mut self, img: &P) -> Result<(), ModelError> {
        if let Some((frame, cut)) = self.pending_search.take() {
            if self.search(img, frame, cut)? {
                self.drop_duplicates();
                // each face's region as `process` leaves it after this frame (the next
                // frame's scene-cut check compares with it): a face found or re-seeded
                // by this search has its region here, not only after its first report
                for tr in &mut self.tracks {
                    tr.region = Some(region_of(img, &tr.points));
                }
            }
        }
        Ok(())
    }

    /// Steps 0 and 1 of a frame: the scene-cut check and the tracked faces followed on
    /// their crops. Returns the frame's number and whether it is a cut.
    fn follow<P: Pixels + ?Sized>(&mut self, img: &P) -> Result<(u64, bool), ModelError> {
        self.pending_search = None;
        let frame = self.frame;
        self.frame += 1;
        // 0. a scene cut ends the tracks: the faces of the new shot are found afresh,
        //    with new ids (a track would follow its crop onto whoever stands there now)
        let shot = Signature::of(img);
        let cut = self
            .last_shot
            .replace(shot)
            .zip(self.last_shot.as_ref())
            .is_some_and(|(last, now)| last.cut_to(now));
        // a frame of another size (the caller's camera or stream changed) is a cut for
        // every face: the tracks' points are in the old frame's pixels, and the signature,
        // a grid over the whole frame, would call a resized picture the same shot
        let size = (img.width(), img.height());
        let resized = self.last_size.replace(size).is_some_and(|s| s != size);
        let cut = cut || resized;
        if resized && !self.tracks.is_empty() {
            self.tracks.clear();
            self.times.scene_cuts += 1;
        } else if cut && !self.tracks.is_empty() {
            // ...where its own face's region changed too (not a caption, an object in
            // front of part of the frame, or a flash on the background)
            let before = self.tracks.len();
            self.tracks.retain(|tr| {
                tr.region
                    .as_ref()
                    .is_some_and(|(b, s)| s.same_region(&Signature::of_region(img, b)))
            });
            if self.tracks.len() < before {
                self.times.scene_cuts += 1;
            }
        }
        // 1. follow every track with its filtered crop, then move the crop state toward
        //    the crop the new landmarks ask for
        let scale = self.model.contract().crop_scale;
        if !self.tracks.is_empty() {
            let crops: Vec<CropTransform> =
                self.tracks.iter().map(|tr| tr.crop.crop(scale)).collect();
            let preds = self.predict(img, &crops)?;
            for (tr, p) in self.tracks.iter_mut().zip(preds) {
                let measured = self
                    .model
                    .crop_for_points(&p.points, img.width(), img.height());
                let (state, check) = next_crop(&tr.crop, &measured, scale);
                tr.crop = state;
                tr.suspect |= check.suspect;
                tr.drift = check.surprise.max(DRIFT_DECAY * tr.drift);
                tr.age += 1;
                tr.point_confidence = p.point_confidence();
                tr.points = p.points;
                tr.quality = p.quality;
                if tr.quality.is_some_and(|q| q >= QUALITY_ONE) {
                    // clear landmarks confirm the face: the detector no longer looks at
                    // clear faces (it is skipped or paints them out), so a miss counted
                    // while the face was unclear would otherwise never be forgiven
                    tr.misses = 0;
                }
            }
            self.tracks
                .retain(|tr| tr.quality.is_none_or(|q| q >= QUALITY_LOST));
        }
        let (w, h) = (img.width() as f32, img.height() as f32);
        let frame_box = FaceBox::new(-0.5, -0.5, w, h);
        self.tracks
            .retain(|tr| match FaceBox::from_points(&tr.points) {
                Some(b) => {
                    b.width.max(b.height) >= MIN_BOX
                        && b.intersection(&frame_box) / b.area().max(1e-6) >= MIN_INSIDE
                }
                None => false,
            });
        Ok((frame, cut))
    }

    /// Step 2 of frame `frame` (`cut`: a scene cut's): the detector, where it is due,
    /// confirms tracks and finds new faces. Returns whether it ran.
    fn search<P: Pixels + ?Sized>(
        &mut self,
        img: &P,
        frame: u64,
        cut: bool,
    ) -> Result<bool, ModelError> {
        // 2. the detector: confirm tracks, find new faces
        let all_clear = self
            .tracks
            .iter()
            .all(|tr| tr.quality.is_some_and(|q| q >= QUALITY_ONE));
        let every = if self.tracks.is_empty() {
            // acquisition: a search on every frame ([`acquisition_sizes`])
            Some(1)
        } else if all_clear && self.tracks.len() >= self.opts.max_faces {
            // as many faces as asked for, all clear: nothing for the detector to find
            // or confirm (a fading face brings it back within `detect_every` frames)
            None
        } else if all_clear {
            // every face's landmarks are clear: the detector is needed only for new faces
            Some(self.opts.detect_every.max(1) * CLEAR_DETECT_FACTOR)
        } else {
            Some(self.opts.detect_every.max(1))
        };
        let suspect = self.tracks.iter().any(|tr| tr.suspect);
        if !self.tracks.is_empty() {
            // the first search after every face is lost is a full one
            self.frame_searches = 0;
        }
        let due = every.is_some_and(|e| frame.is_multiple_of(e)) || suspect || cut;
        if due {
            if suspect {
                self.times.suspect_runs += 1;
            }
            let td = std::time::Instant::now();
            // the turned copy's search, where no clear face is upright: its sizes and turn
            let mut turned = None;
            let mut upright_search = None;
            let mut upright_runs = 1;
            let dets = if self.tracks.is_empty() {
                // acquisition (a cut frame's too: the new shot's faces are all new)
                let n = self.frame_searches;
                self.frame_searches += 1;
                let (upright, turned_search) = acquisition_sizes(n, cut, self.part_searches);
                let part = |s: Option<Sizes>| matches!(s, Some(Sizes::Small(_)));
                if part(upright) || part(turned_search.map(|t| t.0)) {
                    self.part_searches += 1;
                }
                turned = turned_search;
                match upright {
                    Some(sizes) => {
                        if sizes != Sizes::All {
                            self.times.partial_runs += 1;
                        }
                        // (the copy kept for the turned search of the same sizes)
                        upright_search = self.detector.search_image(img, sizes);
                        match &upright_search {
                            Some(search) => self.detector.detect_in(search),
                            None => Vec::new(),
                        }
                    }
                    None => {
                        upright_runs = 0;
                        Vec::new()
                    }
                }
            } else if suspect || cut {
                // a suspect track, or a cut that kept a face whose region did not change:
                // the whole frame, from the smallest size (this does not count towards
                // the acquisition's cycle: the first search after the faces are lost is
                // a full one)
                self.detector.detect(img)
            } else {
                // tracked faces: the unclear ones confirmed by a search around each, and
                // new faces looked for beside all of them (the tracked faces painted out
                // of the search, where the cascade would spend most of its time): from
                // twice the smallest size while every face is clear (this runs every
                // `detect_every × CLEAR_DETECT_FACTOR` frames then); with an unclear face
                // (every `detect_every` frames), one run in FULL_SEARCH_EVERY from the
                // smallest size
                self.times.partial_runs += 1;
                let boxes = |unclear_only: bool| -> Vec<FaceBox> {
                    self.tracks
                        .iter()
                        .filter(|tr| !unclear_only || tr.quality.is_none_or(|q| q < QUALITY_ONE))
                        .filter_map(|tr| FaceBox::from_points(&tr.points))
                        .collect()
                };
                let unclear = boxes(true);
                // (where the squares around the unclear faces would cost more than the
                // whole frame, the whole frame is searched, for new faces too)
                let squares = (!unclear.is_empty()).then(|| {
                    self.detector
                        .near_squares(img.width(), img.height(), &unclear)
                });
                let whole = matches!(squares, Some(None));
                let mut d = match &squares {
                    None => Vec::new(),
                    Some(Some(squares)) => self.detector.detect_in_squares(img, squares),
                    Some(None) => self.detector.detect(img),
                };
                if self.tracks.len() < self.opts.max_faces && !whole {
                    let from_smallest = !unclear.is_empty()
                        && self.beside_searches.is_multiple_of(FULL_SEARCH_EVERY);
                    if !unclear.is_empty() {
                        self.beside_searches += 1;
                    }
                    d.extend(
                        self.detector
                            .detect_beside(img, &boxes(false), !from_smallest),
                    );
                }
                crate::tracking::detector::distinct(d)
            };
            self.times.detect += td.elapsed().as_secs_f64();
            self.times.detector_runs += upright_runs;
            let acquiring = self.tracks.is_empty();
            let first_id = self.next_id;
            self.match_detections(img, dets)?;
            // no clear face upright (none found, or only a shape the detector took for a
            // face, as it may in a frame lying sideways): the frame turned too, and the
            // clearer of the two kept
            let clear = |t: &[Track]| {
                t.iter()
                    .map(|t| t.quality.unwrap_or(1.0))
                    .fold(f32::NEG_INFINITY, f32::max)
            };
            if let Some((sizes, turn)) =
                turned.filter(|_| acquiring && clear(&self.tracks) < QUALITY_KEEP)
            {
                let upright = std::mem::take(&mut self.tracks);
                self.search_turned(img, turn, sizes, upright_search.as_ref())?;
                if clear(&upright) >= clear(&self.tracks) {
                    self.tracks = upright;
                }
                // the faces kept are numbered from the first id free before (the set
                // put aside used ids too)
                for (k, tr) in self.tracks.iter_mut().enumerate() {
                    tr.id = first_id + k as u32;
                }
                self.next_id = first_id + self.tracks.len() as u32;
            }
        }
        Ok(due)
    }

    /// Step 3: of two tracks on one face, the one that came from elsewhere is dropped.
    fn drop_duplicates(&mut self) {
        let mut keep = vec![true; self.tracks.len()];
        for i in 0..self.tracks.len() {
            for j in (i + 1)..self.tracks.len() {
                if keep[i] && keep[j] {
                    let (a, b) = (
                        FaceBox::from_points(&self.tracks[i].points),
                        FaceBox::from_points(&self.tracks[j].points),
                    );
                    if let (Some(a), Some(b)) = (a, b) {
                        if a.iou(&b) > DUPLICATE_IOU {
                            let (ti, tj) = (&self.tracks[i], &self.tracks[j]);
                            keep[if ti.gives_way_to(tj) { i } else { j }] = false;
                        }
                    }
                }
            }
        }
        let mut k = 0;
        self.tracks.retain(|_| {
            k += 1;
            keep[k - 1]
        });
    }

    /// Step 4: the tracked faces, as reported for the frame seen at `t` seconds.
    fn report<P: Pixels + ?Sized>(&mut self, img: &P, t: f64) -> Vec<TrackedFace> {
        let smoothing = self.opts.smoothing;
        let pose_opts = self.opts.pose;
        let (fw, fh) = (img.width(), img.height());
        self.tracks
            .iter_mut()
            .map(|tr| {
                let region = region_of(img, &tr.points);
                let face_box = region.0;
                tr.region = Some(region);
                let points = match &smoothing {
                    Some(p) => {
                        let scale = inter_ocular(&tr.points, crate::core::layout::PointSet::Ibug68)
                            .unwrap_or(face_box.width.max(1.0));
                        tr.smoother.smooth(&tr.points, t, scale, p)
                    }
                    None => tr.points.clone(),
                };
                let confidence = tr.confidence() * edge_factor(&tr.points, fw, fh);
                let pose = pose_opts.estimate(&points, fw, fh);
                TrackedFace {
                    id: tr.id,
                    points,
                    raw_points: tr.points.clone(),
                    face_box,
                    confidence,
                    success: confidence >= SUCCESS_CONFIDENCE,
                    pose,
                    redetected: std::mem::take(&mut tr.redetected),
                    point_confidence: tr.point_confidence.clone(),
                }
            })
            .collect()
    }

    /// No face is tracked and none was found upright (or the frame was not searched
    /// upright: [`acquisition_sizes`]): search the frame turned by `turn` (None: the next
    /// of [`TURNED_SEARCHES`]) for the faces of `sizes`, and take each face found there
    /// over with its roll (the crop turned with it), so the crop loop follows it from then
    /// on. `search`: the copy of the frame the upright search ran on, searched turned
    /// where it was made for the same sizes (not made again).
    fn search_turned<P: Pixels + ?Sized>(
        &mut self,
        img: &P,
        turn: Option<Orientation>,
        sizes: Sizes,
        search: Option<&SearchImage>,
    ) -> Result<(), ModelError> {
        let turn = turn.unwrap_or_else(|| {
            self.turned_searches += 1;
            TURNED_SEARCHES[(self.turned_searches - 1) % TURNED_SEARCHES.len()]
        });
        let td = std::time::Instant::now();
        let found = match search.filter(|s| s.sizes() == sizes) {
            Some(search) => self.detector.detect_turned_in(search, turn),
            None => self.detector.detect_turned(img, turn, sizes),
        };
        let found = turned_crops(
            &self.model,
            found,
            (img.width(), img.height()),
            turn,
            self.opts.max_faces,
        );
        self.times.detect += td.elapsed().as_secs_f64();
        self.times.detector_runs += 1;
        self.times.turned_runs += 1;
        if sizes != Sizes::All {
            self.times.partial_runs += 1;
        }
        let (w, h) = (img.width(), img.height());
        let scale = self.model.contract().crop_scale;
        let (dets, crops): (Vec<Detection>, Vec<CropTransform>) = found.into_iter().unzip();
        if crops.is_empty() {
            return Ok(());
        }
        let t = std::time::Instant::now();
        let found = align_crops(&mut self.model, img, &crops)?;
        self.times.landmarks += t.elapsed().as_secs_f64();
        self.times.model_runs += 2;
        for (d, p) in dets.iter().zip(found) {
            self.start_track(d.score, p, (w, h), scale);
        }
        Ok(())
    }

    fn match_detections<P: Pixels + ?Sized>(
        &mut self,
        img: &P,
        dets: Vec<Detection>,
    ) -> Result<(), ModelError> {
        let mut used = vec![false; dets.len()];
        let (w, h) = (img.width(), img.height());
        let scale = self.model.contract().crop_scale;
        let best_left = |used: &[bool], b: &FaceBox| {
            dets.iter()
                .enumerate()
                .filter(|(i, _)| !used[*i])
                .map(|(i, d)| (i, d.face_box.iou(b)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
        };
        // first the detections that confirm tracks, so that a suspect track cannot take
        // another track's face
        let mut unconfirmed_suspects: Vec<(usize, FaceBox)> = Vec::new();
        for (k, tr) in self.tracks.iter_mut().enumerate() {
            let was_suspect = std::mem::take(&mut tr.suspect);
            let Some(b) = FaceBox::from_points(&tr.points) else {
                continue;
            };
            match best_left(&used, &b) {
                Some((i, iou)) if iou >= CONFIRM_IOU => {
                    used[i] = true;
                    tr.misses = 0;
                    tr.score = dets[i].score;
                    if !tr.quality.is_some_and(|q| q >= QUALITY_ONE) {
                        let c = self.model.crop_for(&dets[i].face_box, w, h);
                        tr.crop.blend(&c, scale, DETECTION_BLEND);
                    }
                }
                _ if was_suspect => unconfirmed_suspects.push((k, b)),
                _ if tr.landmarks_clear() => {}
                _ => tr.misses += 1,
            }
        }
        // then a suspect track the detector disagrees with starts again from the
        // detection left over that overlaps it most, if that detection is centred on
        // the track's box (a neighbour's face overlapping it a little is not its face)
        let mut reseed: Vec<(usize, usize, FaceBox)> = Vec::new();
        let mut missed: Vec<usize> = Vec::new();
        for (k, b) in unconfirmed_suspects {
            match best_left(&used, &b) {
                Some((i, iou)) if iou >= RESEED_IOU && b.contains(dets[i].face_box.center()) => {
                    used[i] = true;
                    reseed.push((k, i, b));
                }
                _ => missed.push(k),
            }
        }
        if !reseed.is_empty() {
            let boxes: Vec<FaceBox> = reseed.iter().map(|r| dets[r.1].face_box).collect();
            let t = std::time::Instant::now();
            let fresh = align_faces(&mut self.model, img, &boxes)?;
            self.times.landmarks += t.elapsed().as_secs_f64();
            self.times.model_runs += 2;
            for ((k, i, old), p) in reseed.into_iter().zip(fresh) {
                // taken only where the model sees a face there (as for a new track) and
                // the face is still this track's (its box overlaps the track's)
                let ok = p.quality.is_none_or(|q| q >= QUALITY_LOST)
                    && FaceBox::from_points(&p.points).is_some_and(|nb| nb.iou(&old) >= RESEED_IOU);
                if !ok {
                    used[i] = false;
                    missed.push(k);
                    continue;
                }
                self.times.reseeds += 1;
                let c = self.model.crop_for_points(&p.points, w, h);
                let tr = &mut self.tracks[k];
                tr.misses = 0;
                tr.score = dets[i].score;
                tr.crop = CropState::new(&c, scale);
                tr.point_confidence = p.point_confidence();
                tr.points = p.points;
                tr.quality = p.quality;
                tr.redetected = true;
                tr.drift = 1.0;
            }
        }
        for k in missed {
            let tr = &mut self.tracks[k];
            if !tr.landmarks_clear() {
                tr.misses += 1;
            }
        }
        self.tracks.retain(|tr| tr.misses <= MAX_MISSES);
        // new faces, best score first, up to max_faces
        let new: Vec<&Detection> = dets
            .iter()
            .enumerate()
            .filter(|(i, _)| !used[*i])
            .map(|(_, d)| d)
            .collect();
        let room = self.opts.max_faces.saturating_sub(self.tracks.len());
        // a face left out for want of room: a detection beyond it that overlaps no tracked
        // face (a failed re-seed of one is no new face) and in which the model sees a face
        // (not a false detection)
        let beyond = new.iter().skip(room).find(|d| {
            !self.tracks.iter().any(|tr| {
                FaceBox::from_points(&tr.points).is_some_and(|b| b.iou(&d.face_box) > CROWD_IOU)
            })
        });
        if let Some(d) = beyond {
            let t = std::time::Instant::now();
            let p = align_faces(&mut self.model, img, &[d.face_box])?;
            self.times.landmarks += t.elapsed().as_secs_f64();
            self.times.model_runs += 2;
            if p.first()
                .is_some_and(|p| p.quality.is_none_or(|q| q >= QUALITY_LOST))
            {
                self.times.crowded_runs += 1;
            }
        }
        let new: Vec<&Detection> = new.into_iter().take(room).collect();
        if new.is_empty() {
            return Ok(());
        }
        let boxes: Vec<FaceBox> = new.iter().map(|d| d.face_box).collect();
        let t = std::time::Instant::now();
        let second = align_faces(&mut self.model, img, &boxes)?;
        self.times.landmarks += t.elapsed().as_secs_f64();
        self.times.model_runs += 2;
        for (d, p) in new.into_iter().zip(second) {
            self.start_track(d.score, p, (w, h), scale);
        }
        Ok(())
    }

    /// A new track from a detection's score and its aligned landmarks, unless the model
    /// sees no face where the detector saw one.
    fn start_track(&mut self, score: f32, p: Prediction, (w, h): (u32, u32), scale: f32) {
        if p.quality.is_some_and(|q| q < QUALITY_LOST) {
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let c = self.model.crop_for_points(&p.points, w, h);
        let point_confidence = p.point_confidence();
        self.tracks.push(Track {
            id,
            point_confidence,
            points: p.points,
            quality: p.quality,
            score,
            misses: 0,
            smoother: PointSmoother::default(),
            crop: CropState::new(&c, scale),
            suspect: false,
            drift: 0.0,
            region: None,
            age: 0,
            redetected: true,
        });
    }
}

/// Landmarks for faces given by boxes (detector boxes, already calibrated): one pass from
/// the box, a second from the crop rule applied to the first pass's points, so the crop
/// is the one the model was trained on (turned with the face, for aligned models).
pub fn align_from_boxes<P: Pixels + ?Sized>(
    model: &mut LandmarkModel,
    img: &P,
    boxes: &[FaceBox],
) -> Result<Vec<Vec<Point>>, ModelError> {
    Ok(align_faces(model, img, boxes)?
        .into_iter()
        .map(|p| p.points)
        .collect())
}

/// [`align_from_boxes`] with the model's quality signal of the second pass.
pub fn align_faces<P: Pixels + ?Sized>(
    model: &mut LandmarkModel,
    img: &P,
    boxes: &[FaceBox],
) -> Result<Vec<Prediction>, ModelError> {
    let crops: Vec<_> = boxes
        .iter()
        .map(|b| model.crop_for(b, img.width(), img.height()))
        .collect();
    align_crops(model, img, &crops)
}

/// [`align_faces`] from first crops instead of boxes (turned ones, from
/// [`turned_detections`]): a pass on each crop, then one on the crop its points give.
pub fn align_crops<P: Pixels + ?Sized>(
    model: &mut LandmarkModel,
    img: &P,
    crops: &[CropTransform],
) -> Result<Vec<Prediction>, ModelError> {
    let first = model.predict(img, crops)?;
    let crops2: Vec<_> = first
        .iter()
        .map(|p| model.crop_for_points(p, img.width(), img.height()))
        .collect();
    model.predict_faces(img, &crops2)
}

/// The faces the detector finds in `img` turned by `turn` (it finds upright faces
/// only, about ±30° of roll; [`FaceDetector::detect_turned`]), at most `max_faces`: each
/// detection (its box in the turned picture) with its first crop in `img`'s own
/// coordinates, turned with the face, for [`align_crops`].
pub fn turned_detections<P: Pixels + ?Sized>(
    detector: &mut FaceDetector,
    model: &LandmarkModel,
    img: &P,
    turn: Orientation,
    max_faces: usize,
    sizes: Sizes,
) -> Vec<(Detection, CropTransform)> {
    let found = detector.detect_turned(img, turn, sizes);
    turned_crops(model, found, (img.width(), img.height()), turn, max_faces)
}

/// A face's box from its points and the scene-cut signature of that part of `img`
/// ([`Track::region`]'s value).
fn region_of<P: Pixels + ?Sized>(img: &P, points: &[Point]) -> (FaceBox, Signature) {
    let face_box = FaceBox::from_points(points).unwrap_or_default();
    (face_box, Signature::of_region(img, &face_box))
}

/// [`turned_detections`] from the detector's turned search of a `frame`-sized picture
/// (its detections, and the size of the part of the picture it covered, turned).
fn turned_crops(
    model: &LandmarkModel,
    (dets, (cw, ch)): (Vec<Detection>, (u32, u32)),
    frame: (u32, u32),
    turn: Orientation,
    max_faces: usize,
) -> Vec<(Detection, CropTransform)> {
    // (boxes in the pixels of the part of the frame the search covered, turned: the
    // whole frame but for fewer rows and columns than the copy was shrunk by)
    let (tw, th) = orientation::turned_size(turn, frame.0, frame.1);
    let back = orientation::inverse(turn);
    let angle = turned_crop_angle(turn);
    dets.into_iter()
        .take(max_faces)
        .map(|d| {
            let upright = model.crop_for(&d.face_box, tw, th);
            let crop = CropTransform {
                center: orientation::shown_point(back, upright.center, cw, ch),
                angle,
                ..upright
            };
            (d, crop)
        })
        .collect()
}

/// The faces of a still picture: the upright detections (the `max_faces` best) and their
/// aligned landmarks; where none of them has clear landmarks ([`QUALITY_KEEP`]: none
/// found, or only a shape the detector took for a face, as it may in a picture lying
/// sideways or upside down), the picture turned by each of [`TURNS_SEARCHED`] in turn
/// too, until a turn gives clear landmarks: the turn whose clearest face is clearest
/// wins, if clearer than the upright faces. Returns the detections (of the turned
/// picture where it was turned) and the landmarks.
pub fn still_faces(
    detector: &mut FaceDetector,
    model: &mut LandmarkModel,
    gray: &GrayImage,
    max_faces: usize,
) -> Result<(Vec<Detection>, Vec<Prediction>), ModelError> {
    let dets: Vec<Detection> = detector.detect(gray).into_iter().take(max_faces).collect();
    let boxes: Vec<FaceBox> = dets.iter().map(|d| d.face_box).collect();
    let preds = align_faces(model, gray, &boxes)?;
    // the clearest face's quality (1 for a model without one: nothing to compare)
    let best = |p: &[Prediction]| {
        p.iter()
            .map(|p| p.quality.unwrap_or(1.0))
            .fold(f32::NEG_INFINITY, f32::max)
    };
    let mut chosen = (best(&preds), dets, preds);
    for turn in TURNS_SEARCHED {
        if chosen.0 >= QUALITY_KEEP {
            break;
        }
        let (d, crops): (Vec<_>, Vec<_>) =
            turned_detections(detector, model, gray, turn, max_faces, Sizes::All)
                .into_iter()
                .unzip();
        if d.is_empty() {
            continue;
        }
        let p = align_crops(model, gray, &crops)?;
        let q = best(&p);
        if q > chosen.0 && q >= QUALITY_LOST {
            chosen = (q, d, p);
        }
    }
    Ok((chosen.1, chosen.2))
}

/// The turns of a picture searched for faces when none is found upright, in order.
pub const TURNS_SEARCHED: [Orientation; 3] = TURNED_SEARCHES;

/// The roll of a crop that is upright in the frame turned by `turn`: the angle of the
/// turned frame's x axis in the frame.
fn turned_crop_angle(turn: Orientation) -> f32 {
    use std::f32::consts::{FRAC_PI_2, PI};
    match turn {
        Orientation::Rotate90 => -FRAC_PI_2,
        Orientation::Rotate270 => FRAC_PI_2,
        Orientation::Rotate180 => PI,
        _ => 0.0,
    }
}

/// Confidence of a face seen by the detector with `score` (the tracker's formula with no misses).
pub fn detection_confidence(score: f32) -> f32 {
    1.0 - (-score / SCORE_SCALE).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Over its cycles the acquisition searches the frame from twice the smallest size
    /// every second frame and each part of the smaller sizes once in `ACQUIRE_CYCLE`
    /// frames; a turned copy from twice the smallest size with the frame, and each turn's
    /// parts once in three cycles; never more than one search from the smallest size (a
    /// full one or a part) on a frame but the first and a cut's.
    #[test]
    fn the_acquisition_cycle_covers_every_size_and_turn() {
        use Sizes::{All, FromTwice, Small};
        assert_eq!(
            acquisition_sizes(0, false, 5),
            (Some(All), Some((FromTwice, None)))
        );
        assert_eq!(
            acquisition_sizes(7, true, 5),
            (Some(All), Some((All, None)))
        );
        let cycle = ACQUIRE_CYCLE;
        let turns = TURNED_SEARCHES.len() as u64;
        let mut upright_parts = Vec::new();
        let mut turned_parts = Vec::new();
        let mut parts = 0;
        for n in 1..=turns * cycle {
            let (up, turned) = acquisition_sizes(n, false, parts);
            parts += n % 2;
            let small = |s: Option<Sizes>| matches!(s, Some(All | Small(_)));
            assert!(
                u8::from(small(up)) + u8::from(small(turned.map(|t| t.0))) <= 1,
                "frame {n}: two searches from the smallest size"
            );
            if n % 2 == 0 {
                assert_eq!(
                    (up, turned),
                    (Some(FromTwice), Some((FromTwice, None))),
                    "{n}"
                );
                continue;
            }
            match (up, turned) {
                (Some(Small(p)), None) => upright_parts.push((n, p)),
                (None, Some((Small(p), Some(turn)))) => turned_parts.push((n, p, turn)),
                other => panic!("frame {n}: {other:?}"),
            }
        }
        // every part of the frame once in each cycle
        for start in (0..turns * cycle).step_by(cycle as usize) {
            let mut parts: Vec<usize> = upright_parts
                .iter()
                .filter(|(n, _)| (start..start + cycle).contains(n))
                .map(|&(_, p)| p)
                .collect();
            parts.sort_unstable();
            assert_eq!(
                parts,
                (0..SMALL_PARTS).collect::<Vec<_>>(),
                "cycle from {start}"
            );
        }
        // every part of every turn once in three cycles, a turn's parts in one cycle,
        // the first turn's on the first odd frames
        let mut seen: Vec<(usize, Orientation)> =
            turned_parts.iter().map(|&(_, p, t)| (p, t)).collect();
        seen.sort_by_key(|&(p, t)| (p, TURNED_SEARCHES.iter().position(|&x| x == t)));
        seen.dedup();
        assert_eq!(seen.len(), SMALL_PARTS * TURNED_SEARCHES.len());
        assert_eq!(turned_parts.len(), seen.len());
        for w in turned_parts.chunks(SMALL_PARTS) {
            assert!(w
                .iter()
                .all(|&(n, _, t)| t == w[0].2 && (n - w[0].0) < cycle));
        }
        assert_eq!(
            turned_parts[..3],
            [
                (1, 0, Orientation::Rotate90),
                (3, 1, Orientation::Rotate90),
                (5, 2, Orientation::Rotate90)
            ]
        );
        // an acquisition restarted every third frame (a false face found and lost) still
        // comes to every part of the frame and of every turn
        let mut seen = Vec::new();
        let mut parts = 0;
        for k in 0..3 * turns * cycle {
            let n = k % 3;
            let (up, turned) = acquisition_sizes(n, false, parts);
            if n % 2 == 1 {
                parts += 1;
                seen.push((up, turned));
            }
        }
        seen.sort_by_key(|s| format!("{s:?}"));
        seen.dedup();
        assert_eq!(seen.len(), SMALL_PARTS * (1 + TURNED_SEARCHES.len()));
    }

    #[test]
    fn options_out_of_range_are_refused_and_the_defaults_pass() {
        let d = TrackerOptions::default();
        assert_eq!(d.validate(), Ok(d));
        let with = |o: TrackerOptions| o.validate().map(|_| ());
        assert_eq!(
            with(TrackerOptions { max_faces: 0, ..d }),
            Err(OptionsError::MaxFaces)
        );
        assert_eq!(
            with(TrackerOptions {
                detect_every: 0,
                ..d
            }),
            Err(OptionsError::DetectEvery)
        );
        for (min_cutoff, beta) in [
            (0.0, 0.0),
            (f32::NAN, 0.0),
            (1.0, -1.0),
            (1.0, f32::INFINITY),
        ] {
            let smoothing = Some(OneEuroParams {
                min_cutoff,
                beta,
                ..Default::default()
            });
            assert!(matches!(
                with(TrackerOptions { smoothing, ..d }),
                Err(OptionsError::Smoothing { .. })
            ));
        }
        let smoothing = Some(OneEuroParams::default());
        assert!(with(TrackerOptions { smoothing, ..d }).is_ok());
    }
}
