//! Output files, written so that no user file is damaged: every output path is checked
//! against every input and every other output before anything is opened for writing;
//! an existing output is kept unless the user allows overwriting it; and each output is
//! written under a visible temporary name (`NAME.partial.EXT`, readable while it grows:
//! CSV rows are flushed frame by frame) that is renamed to the final name only when the
//! run ends, and then replaces a file of that name only if one was there when the run
//! began (the user allowed that): a file that appeared meanwhile is kept, and so is the
//! output, under its `.partial` name. An interrupted run (Ctrl-C) is renamed too unless
//! that would replace a file; a crash or kill leaves the `.partial` file with everything
//! written so far, and the old file under the final name, if any, untouched. A partial
//! file left by an earlier run is not overwritten without leave either.
//!
//! A symbolic link as an output is followed: the file it points to is replaced and the
//! link kept. An output that is not a regular file (a FIFO, `/dev/stdout`, `/dev/null`)
//! is written in place: it cannot be replaced, so it needs no `--overwrite` and has no
//! partial name; it is never truncated, and the process's own standard output and
//! error are written through their open descriptors (a shell's `>>` appends).
//!
//! Two runs on one output: a run holds a lock on the partial file it writes (an
//! advisory `flock`, released when the run ends or dies), so another run neither removes
//! it nor writes it but refuses, and a run renames only the file it made itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Why an output cannot be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    #[error("the output {output} is the input {input}; choose another output name")]
    SameAsInput { output: PathBuf, input: PathBuf },
    #[error("{a} and {b} are the same file; give each output its own name")]
    SameOutput { a: PathBuf, b: PathBuf },
    #[error("{a} is written as {b} until the run ends, and {b} is another output; give each output its own name (where two inputs are NAME.EXT and NAME.partial.EXT, rename one)")]
    PartialIsOutput { a: PathBuf, b: PathBuf },
    #[error("the output {output} is written as {partial} until the run ends, and that is the input {input}; choose another output name")]
    PartialIsInput {
        output: PathBuf,
        partial: PathBuf,
        input: PathBuf,
    },
    #[error("{path} already exists; add --overwrite to replace it (it is replaced only when the run ends)")]
    Exists { path: PathBuf },
    #[error("{partial} exists (an earlier run was cut short while writing {path}?): move it away to keep it, or add --overwrite to replace it (a `video` folder run: --skip-existing does that video again and leaves the finished ones)")]
    PartialExists { path: PathBuf, partial: PathBuf },
    #[error("{partial} is being written by another run (another facetrack writing {path}); wait for it to end, or choose another output name")]
    Busy { path: PathBuf, partial: PathBuf },
    #[error("{path} appeared while the run was writing it, so it was not replaced; the output is in {partial}")]
    Appeared { path: PathBuf, partial: PathBuf },
    #[error("{partial} was removed or replaced by something else while this run wrote {path} (another run on the same output?); this run's output is lost and {path} was left as it was")]
    PartialTaken { path: PathBuf, partial: PathBuf },
    #[error("{path}: its name is too long to write it under its temporary name {partial} ({len} bytes; a file name has at most {NAME_MAX}): shorten the name by {}", len - NAME_MAX)]
    PartialNameTooLong {
        path: PathBuf,
        partial: PathBuf,
        len: usize,
    },
    #[error("{path}: the folder does not exist")]
    NoFolder { path: PathBuf },
    #[error("{path}: the path is not valid UTF-8, which FFmpeg cannot take; rename it")]
    NotUtf8 { path: PathBuf },
    #[error(
        "{a} and {b} would both write {out}; rename one of the inputs or process them separately"
    )]
    Collision {
        a: PathBuf,
        b: PathBuf,
        out: PathBuf,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The longest file name (bytes) of Linux's file systems.
const NAME_MAX: usize = 255;

/// An absolute, normalised form of a path that may not exist yet: its parent folder
/// canonicalised (links and `..` resolved) and its file name.
fn normalised(p: &Path) -> Option<PathBuf> {
    p.canonicalize().ok().or_else(|| in_resolved_folder(p))
}

/// `p`'s file name in its folder resolved (links and `..`), the name itself not followed:
/// two paths with one such name are one name in one folder (two stale partial files
/// that are links to one file are still two names).
fn in_resolved_folder(p: &Path) -> Option<PathBuf> {
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some(parent.canonicalize().ok()?.join(p.file_name()?))
}

/// Whether two paths name the same file: the same device and inode when both exist,
/// else the same normalised path.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    match (normalised(a), normalised(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Check outputs before any is opened: none is an input or another output, each can be
/// named to FFmpeg, its folder exists, and neither it nor its partial file exists unless
/// `overwrite`.
pub fn check_outputs(
    inputs: &[PathBuf],
    outputs: &[PathBuf],
    overwrite: bool,
) -> Result<(), OutputError> {
    check_outputs_with(inputs, outputs, overwrite, overwrite)
}

/// [`check_outputs`], with partial files left by an earlier run allowed to be replaced
/// when `replace_partials` (a resumed folder run redoes the video it cut short).
pub fn check_outputs_with(
    inputs: &[PathBuf],
    outputs: &[PathBuf],
    overwrite: bool,
    replace_partials: bool,
) -> Result<(), OutputError> {
    // every path's keys worked out once and looked up (a folder run of thousands of
    // files is checked in time that grows with their number, not with its square)
    let mut input_keys: HashMap<FileKey, usize> = HashMap::new();
    for (i, input) in inputs.iter().enumerate() {
        for key in file_keys(input) {
            input_keys.entry(key).or_insert(i);
        }
    }
    // the earlier outputs': their own keys, their partial files' keys, and the names
    // (folder resolved) of their partial files and of the files their writing ends in
    let mut outs: HashMap<FileKey, usize> = HashMap::new();
    let mut partials: HashMap<FileKey, usize> = HashMap::new();
    let mut partial_names: HashMap<PathBuf, usize> = HashMap::new();
    let mut target_names: HashMap<PathBuf, usize> = HashMap::new();
    for (k, out) in outputs.iter().enumerate() {
        if out.to_str().is_none() {
            return Err(OutputError::NotUtf8 { path: out.clone() });
        }
        let partial = partial_path(out);
        let (out_keys, partial_keys) = (file_keys(out), file_keys(&partial));
        if let Some(&i) = out_keys.iter().find_map(|key| input_keys.get(key)) {
            return Err(OutputError::SameAsInput {
                output: out.clone(),
                input: inputs[i].clone(),
            });
        }
        // the output grows under its partial name: that must not be an input either
        if let Some(&i) = partial_keys.iter().find_map(|key| input_keys.get(key)) {
            return Err(OutputError::PartialIsInput {
                output: out.clone(),
                partial,
                input: inputs[i].clone(),
            });
        }
        // (two outputs may also grow under one partial name: a link to a file not there
        // yet, named beside that file's own name)
        let partial_name = in_resolved_folder(&partial);
        let target_name = in_resolved_folder(&final_target(out));
        if let Some(&j) = out_keys.iter().find_map(|key| outs.get(key)) {
            return Err(OutputError::SameOutput {
                a: outputs[j].clone(),
                b: out.clone(),
            });
        }
        // one output's partial file the other output: not the same file, but one would
        // be written over the other
        if let Some(&j) = partial_keys.iter().find_map(|key| outs.get(key)) {
            return Err(OutputError::PartialIsOutput {
                a: out.clone(),
                b: outputs[j].clone(),
            });
        }
        if let Some(&j) = out_keys.iter().find_map(|key| partials.get(key)) {
            return Err(OutputError::PartialIsOutput {
                a: outputs[j].clone(),
                b: out.clone(),
            });
        }
        let clash = partial_name
            .as_ref()
            .and_then(|n| partial_names.get(n))
            .or_else(|| target_name.as_ref().and_then(|n| target_names.get(n)));
        if let Some(&j) = clash {
            return Err(OutputError::SameOutput {
                a: outputs[j].clone(),
                b: out.clone(),
            });
        }
        for key in out_keys {
            outs.entry(key).or_insert(k);
        }
        for key in partial_keys {
            partials.entry(key).or_insert(k);
        }
        if let Some(n) = partial_name {
            partial_names.entry(n).or_insert(k);
        }
        if let Some(n) = target_name {
            target_names.entry(n).or_insert(k);
        }
        if out.is_dir() {
            return Err(OutputError::Io {
                path: out.clone(),
                source: std::io::Error::other("is a folder"),
            });
        }
        if written_in_place(out) {
            continue;
        }
        let parent = match out.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !parent.is_dir() {
            return Err(OutputError::NoFolder { path: out.clone() });
        }
        if out.exists() && !overwrite {
            return Err(OutputError::Exists { path: out.clone() });
        }
        let len = partial.file_name().map_or(0, |n| n.len());
        if len > NAME_MAX {
            return Err(OutputError::PartialNameTooLong {
                path: out.clone(),
                partial,
                len,
            });
        }
        if locked_by_another(&partial) {
            return Err(OutputError::Busy {
                path: out.clone(),
                partial,
            });
        }
        if partial.symlink_metadata().is_ok() && !replace_partials {
            return Err(OutputError::PartialExists {
                path: out.clone(),
                partial,
            });
        }
    }
    Ok(())
}

/// What identifies a file for [`check_outputs_with`], as [`same_file`] compares two: its
/// device and inode when it exists, and its normalised path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FileKey {
    Inode(u64, u64),
    Path(PathBuf),
}

/// The keys of `p`: two paths share one exactly when [`same_file`] says they are the
/// same file (both there: the same inode; else the same normalised path).
fn file_keys(p: &Path) -> Vec<FileKey> {
    match std::fs::metadata(p) {
        Ok(m) => vec![
            FileKey::Inode(identity(&m).0, identity(&m).1),
            // (an existing file and a name not there yet compare by path)
            FileKey::Path(normalised(p).unwrap_or_else(|| p.to_path_buf())),
        ],
        Err(_) => normalised(p).map(FileKey::Path).into_iter().collect(),
    }
}

/// Whether `out` is written straight into rather than under a partial name: it exists
/// and is not a regular file or a folder (after links: a FIFO, a device such as
/// `/dev/null`, a socket), or it is one of the process's own streams (`/dev/stdout`,
/// `/dev/fd/N`, `/proc/self/fd/N`, which are files when the shell redirected them).
pub fn written_in_place(out: &Path) -> bool {
    let stream = ["/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/self/fd/"]
        .iter()
        .any(|p| out.to_str().is_some_and(|s| s.starts_with(p)));
    (stream && out.exists()) || std::fs::metadata(out).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Most links followed from an output to the file it names (as the kernel's limit).
const MAX_LINKS: usize = 40;

/// The file an output's writing ends in: the output itself, or, for a symbolic link, the
/// file it points to at the end of the chain of links, which need not exist yet (so the
/// link is kept and its target replaced or made).
pub fn final_target(out: &Path) -> PathBuf {
    let mut p = out.to_path_buf();
    for _ in 0..MAX_LINKS {
        let is_link = p
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            return p;
        }
        match std::fs::read_link(&p) {
            Ok(t) if t.is_absolute() => p = t,
            Ok(t) => p = p.parent().unwrap_or(Path::new("")).join(t),
            Err(_) => return p,
        }
    }
    p
}

/// The temporary name an output is written under: `NAME.partial.EXT` beside it (beside
/// the file a link points to; the extension is kept, so FFmpeg still picks the container
/// from it). An output written in place ([`written_in_place`]) is its own partial file.
pub fn partial_path(out: &Path) -> PathBuf {
    if written_in_place(out) {
        return out.to_path_buf();
    }
    let out = final_target(out);
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let name = match out.extension() {
        Some(e) => format!("{stem}.partial.{}", e.to_string_lossy()),
        None => format!("{stem}.partial"),
    };
    out.with_file_name(name)
}

/// Whether this process has begun to touch its outputs ([`Pending::begin`]) or is
/// exiting before it has: the two exclude each other, so an interrupt that ends the
/// process at once leaves no output file behind.
static OUTPUT_GATE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(GATE_CLOSED);
const GATE_CLOSED: u8 = 0;
const GATE_OUTPUTS: u8 = 1;
const GATE_EXITING: u8 = 2;

/// Claim the process's end before any output is touched: true when no output has been
/// begun (none will be from now on: a later [`Pending::begin`] waits for the exit), so
/// exiting now leaves nothing to finish; false when outputs are being written.
pub fn exit_before_outputs() -> bool {
    use std::sync::atomic::Ordering::SeqCst;
    match OUTPUT_GATE.compare_exchange(GATE_CLOSED, GATE_EXITING, SeqCst, SeqCst) {
        Ok(_) => true,
        Err(state) => state == GATE_EXITING,
    }
}

/// Mark that outputs are being touched; once the process is exiting before any (an
/// interrupt that found nothing to finish), wait for the exit instead.
fn open_output_gate() {
    use std::sync::atomic::Ordering::SeqCst;
    while let Err(GATE_EXITING) =
        OUTPUT_GATE.compare_exchange(GATE_CLOSED, GATE_OUTPUTS, SeqCst, SeqCst)
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// [`Pending::create`]'s error when another run holds the partial file's lock: it is
/// writing the same output (found in an error's chain by [`written_by_another`]).
#[derive(Debug)]
pub struct WrittenByAnother {
    pub partial: PathBuf,
    pub out: PathBuf,
}

impl std::fmt::Display for WrittenByAnother {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is being written by another run (another facetrack writing {}); wait for it to end, or choose another output name",
            self.partial.display(),
            self.out.display()
        )
    }
}

impl std::error::Error for WrittenByAnother {}

/// Whether `e` or an error it wraps is [`WrittenByAnother`] (an output another run was
/// found writing when this run came to make it).
pub fn written_by_another(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        let io = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        if err.is::<WrittenByAnother>() || io.is_some_and(|inner| inner.is::<WrittenByAnother>()) {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Whether another run is writing `out` now: it holds the lock of `out`'s partial file.
pub fn being_written(out: &Path) -> bool {
    !written_in_place(out) && locked_by_another(&partial_path(out))
}

/// Whether a file is at `out`'s final name now (through links): what decides, when the
/// writing begins, whether the end may replace a file there.
pub fn taken(out: &Path) -> bool {
    !written_in_place(out) && final_target(out).symlink_metadata().is_ok()
}

/// An output being written, worked out once when its writing begins: where it grows,
/// where it ends, and whether the end may replace a file there. The end of the run then
/// settles it with [`Pending::commit`], [`Pending::commit_new`] or [`Pending::discard`],
/// whatever has appeared or changed at those names meanwhile.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The output as the user named it (for messages).
    pub out: PathBuf,
    /// Where it grows (the output itself when written in place).
    pub partial: PathBuf,
    /// The file the writing ends in (a link's target).
    target: PathBuf,
    /// Written straight into: nothing to rename or remove.
    in_place: bool,
    /// A file was at `target` when the writing began: the user allowed replacing it
    /// (outputs that exist are refused without `--overwrite`).
    replace: bool,
    /// The partial file this run made ([`Pending::create`]), held open with its lock
    /// until the output is settled: what tells another run that it is being written,
    /// and what the end checks is still the file at the partial name.
    held: std::sync::Arc<std::sync::Mutex<Option<std::fs::File>>>,
}

/// Whether another process holds the lock of the regular file at `p` (a run writing
/// it). Opened for writing where it can be (no truncation): NFS emulates these locks with
/// `fcntl` ones, whose exclusive lock needs write access. Never a FIFO or device: opening
/// one would wait for its other end.
fn locked_by_another(p: &Path) -> bool {
    if !p.symlink_metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .or_else(|_| std::fs::File::open(p));
    f.is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
}

/// The descriptor of one of the process's own streams that `p` names: `/dev/stdout`,
/// `/dev/fd/1` or `/proc/self/fd/1` standard output, the same for standard error.
fn own_stream(p: &Path) -> Option<std::fs::File> {
    use std::os::fd::AsFd;
    let s = p.to_str()?;
    let fd = match s {
        "/dev/stdout" => 1,
        "/dev/stderr" => 2,
        _ => s
            .strip_prefix("/dev/fd/")
            .or_else(|| s.strip_prefix("/proc/self/fd/"))?
            .parse()
            .ok()?,
    };
    let owned = match fd {
        1 => std::io::stdout().as_fd().try_clone_to_owned(),
        2 => std::io::stderr().as_fd().try_clone_to_owned(),
        _ => return None,
    };
    owned.ok().map(std::fs::File::from)
}

/// The (device, inode) of a file.
fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

impl Pending {
    /// Take stock of `out` now, as its writing begins. Whatever is at the partial name
    /// (a file left by an earlier run, which the output checks let through only with
    /// leave to replace it, or a link) is removed, so that the writing makes a new file
    /// there instead of writing through a link or a hard link into another file; but not
    /// a partial file that another run is writing (it holds its lock): [`Pending::create`]
    /// then refuses.
    pub fn begin(out: &Path) -> Pending {
        open_output_gate();
        Self::take_stock(out)
    }

    /// [`Pending::begin`] for an output written only at the end (live mode's screenshot):
    /// its stock is taken now, but the run counts as having begun outputs only when it is
    /// made ([`Pending::create`]), so an interrupt before any frame still ends at once.
    pub fn take_stock(out: &Path) -> Pending {
        let in_place = written_in_place(out);
        let partial = partial_path(out);
        if !in_place {
            match partial.symlink_metadata() {
                Ok(m) if m.is_file() && locked_by_another(&partial) => {}
                Ok(m) if !m.is_dir() => {
                    let _ = std::fs::remove_file(&partial);
                }
                _ => {}
            }
        }
        Pending {
            out: out.to_path_buf(),
            partial,
            target: if in_place {
                out.to_path_buf()
            } else {
                final_target(out)
            },
            in_place,
            replace: taken(out),
            held: Default::default(),
        }
    }

    /// Open the partial file for writing as a new file (`create_new`: a link or file put
    /// at its name since [`Pending::begin`] is an error, never written through), and lock
    /// it for this run; an output written in place is opened as it is (never truncated;
    /// the process's standard output or error through its own descriptor).
    pub fn create(&self) -> std::io::Result<std::fs::File> {
        // (begun in `begin`: a run interrupted from there on has an output to finish)
        open_output_gate();
        if self.in_place {
            if let Some(f) = own_stream(&self.partial) {
                return Ok(f);
            }
            return std::fs::OpenOptions::new().write(true).open(&self.partial);
        }
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&self.partial)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists
                    if self.held.lock().is_ok_and(|h| h.is_none())
                        && locked_by_another(&self.partial) =>
                {
                    std::io::Error::new(
                        e.kind(),
                        WrittenByAnother {
                            partial: self.partial.clone(),
                            out: self.out.clone(),
                        },
                    )
                }
                std::io::ErrorKind::AlreadyExists => std::io::Error::new(
                    e.kind(),
                    format!(
                        "{} appeared after the run began (a file or a link put there), so it was not written; move it away",
                        self.partial.display()
                    ),
                ),
                _ => e,
            })?;
        // the lock is the open file's: a duplicate kept here holds it after the writer
        // has closed its own (where the file system has no locks, the file is written
        // unlocked, as before there were any; the end still checks it is this file)
        let lock = match f.try_clone() {
            Ok(l) => l,
            Err(e) => {
                drop(f);
                let _ = std::fs::remove_file(&self.partial);
                return Err(e);
            }
        };
        let _ = lock.try_lock();
        if let Ok(mut held) = self.held.lock() {
            *held = Some(lock);
        }
        Ok(f)
    }

    /// Whether the file at the partial name is the one this run made (true when it made
    /// none through [`Pending::create`]: a writer that opened it by its name).
    fn still_ours(&self) -> bool {
        let held = self.held.lock().ok();
        match held.as_ref().and_then(|h| h.as_ref()) {
            Some(f) => match (f.metadata(), self.partial.symlink_metadata()) {
                (Ok(a), Ok(b)) => identity(&a) == identity(&b),
                _ => false,
            },
            None => true,
        }
    }

    /// Let go of the partial file's lock (the output is settled).
    fn release(&self) {
        if let Ok(mut held) = self.held.lock() {
            held.take();
        }
    }

    /// Move the finished output to its final name, replacing a file there only if one
    /// was there when the writing began; a file that appeared meanwhile is kept, the
    /// output stays under its partial name, and the error says so.
    pub fn commit(&self) -> Result<(), OutputError> {
        self.settle(self.replace)
    }

    /// [`Pending::commit`] that never replaces a file (an interrupted run's output).
    pub fn commit_new(&self) -> Result<(), OutputError> {
        self.settle(false)
    }

    fn settle(&self, replace: bool) -> Result<(), OutputError> {
        if self.in_place {
            return Ok(());
        }
        // only the file this run wrote is published: one that another run put at the
        // partial name meanwhile is that run's
        if !self.still_ours() {
            self.release();
            return Err(OutputError::PartialTaken {
                path: self.out.clone(),
                partial: self.partial.clone(),
            });
        }
        let placed = place(&self.partial, &self.target, replace);
        self.release();
        placed.map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                OutputError::Appeared {
                    path: self.out.clone(),
                    partial: self.partial.clone(),
                }
            } else {
                OutputError::Io {
                    path: self.out.clone(),
                    source,
                }
            }
        })
    }

    /// Remove the unfinished output (nothing for one written in place, nor a file that
    /// another run put at the partial name).
    pub fn discard(&self) {
        if self.in_place {
            // (and a FIFO is not opened to look at its lock: that would wait for a writer)
            return;
        }
        let made = self.held.lock().is_ok_and(|h| h.is_some());
        if made {
            // removed while this run still holds its lock, and only if it is its own
            if self.still_ours() {
                let _ = std::fs::remove_file(&self.partial);
            }
            self.release();
        } else if !locked_by_another(&self.partial) {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

/// Rename `from` to `to` (a path that is no link: [`final_target`]); unless `replace`,
/// never over an existing file (a hard link, then the old name removed: the check and
/// the move are one step; where the file system has no hard links, a rename after a
/// check). An existing file gives `AlreadyExists` and leaves `from` as it was.
pub fn place(from: &Path, to: &Path, replace: bool) -> std::io::Result<()> {
    if replace {
        return std::fs::rename(from, to);
    }
    match std::fs::hard_link(from, to) {
        Ok(()) => std::fs::remove_file(from),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) if to.symlink_metadata().is_ok() => {
            Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists))
        }
        Err(_) => std::fs::rename(from, to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ft-out-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn an_output_that_is_an_input_is_refused_by_any_name() {
        let d = temp("same");
        let input = d.join("in.mp4");
        std::fs::write(&input, b"video").unwrap();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        let dotted = d.join("sub/../in.mp4");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&input, d.join("link.mp4")).unwrap();
        for out in [input.clone(), dotted, d.join("link.mp4")] {
            let e = check_outputs(
                std::slice::from_ref(&input),
                std::slice::from_ref(&out),
                true,
            )
            .unwrap_err();
            assert!(matches!(e, OutputError::SameAsInput { .. }), "{out:?}: {e}");
        }
        assert_eq!(std::fs::read(&input).unwrap(), b"video");
    }

    #[test]
    fn two_outputs_of_one_name_existing_files_and_missing_folders_are_refused() {
        let d = temp("outs");
        let a = d.join("x.csv");
        let e = check_outputs(&[], &[a.clone(), d.join("./x.csv")], false).unwrap_err();
        assert!(matches!(e, OutputError::SameOutput { .. }), "{e}");
        std::fs::write(&a, b"old").unwrap();
        let e = check_outputs(&[], std::slice::from_ref(&a), false).unwrap_err();
        assert!(e.to_string().contains("--overwrite"), "{e}");
        assert!(check_outputs(&[], std::slice::from_ref(&a), true).is_ok());
        let e = check_outputs(&[], &[d.join("nope/x.csv")], true).unwrap_err();
        assert!(matches!(e, OutputError::NoFolder { .. }), "{e}");
    }

    #[test]
    fn an_input_under_an_outputs_partial_name_is_refused() {
        // `video k.partial.mp4 --annotate k.mp4 -y` would write into the video it reads
        let d = temp("partial-in");
        let input = d.join("k.partial.mp4");
        std::fs::write(&input, b"video").unwrap();
        let out = d.join("k.mp4");
        let e = check_outputs(
            std::slice::from_ref(&input),
            std::slice::from_ref(&out),
            true,
        )
        .unwrap_err();
        assert!(matches!(e, OutputError::PartialIsInput { .. }), "{e}");
        assert!(e.to_string().contains("k.partial.mp4"), "{e}");
        // two outputs where one is the other's partial name
        // (said as such, not as "the same file"), in either order
        for outs in [
            [d.join("a.csv"), d.join("a.partial.csv")],
            [d.join("a.partial.csv"), d.join("a.csv")],
        ] {
            let e = check_outputs(&[], &outs, true).unwrap_err();
            assert!(matches!(e, OutputError::PartialIsOutput { .. }), "{e}");
            let want = format!(
                "{} is written as {} until the run ends",
                d.join("a.csv").display(),
                d.join("a.partial.csv").display()
            );
            assert!(e.to_string().starts_with(&want), "{e}");
        }
        assert_eq!(std::fs::read(&input).unwrap(), b"video");
    }

    #[test]
    fn partial_names_keep_the_extension_and_commit_renames() {
        assert_eq!(
            partial_path(Path::new("/a/b/clip.mp4")),
            PathBuf::from("/a/b/clip.partial.mp4")
        );
        assert_eq!(partial_path(Path::new("out")), PathBuf::from("out.partial"));
        let d = temp("commit");
        let out = d.join("r.csv");
        let p = Pending::begin(&out);
        std::fs::write(&p.partial, b"rows").unwrap();
        p.commit().unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"rows");
        assert!(!partial_path(&out).exists());
    }

    #[test]
    fn a_file_that_appears_during_the_run_is_not_replaced() {
        let d = temp("appear");
        let out = d.join("a.csv");
        let p = Pending::begin(&out);
        std::fs::write(&p.partial, b"rows").unwrap();
        std::fs::write(&out, b"precious").unwrap(); // written by someone else meanwhile
        let e = p.commit().unwrap_err();
        assert!(matches!(e, OutputError::Appeared { .. }), "{e}");
        assert_eq!(std::fs::read(&out).unwrap(), b"precious");
        assert_eq!(std::fs::read(&p.partial).unwrap(), b"rows");
        // one that was there when the run began was the user's to replace (the next
        // run's begin removes the partial file the last one left)
        let p = Pending::begin(&out);
        assert!(!p.partial.exists());
        std::fs::write(&p.partial, b"rows").unwrap();
        p.commit().unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"rows");
        // an interrupted run's output never replaces one
        let p = Pending::begin(&out);
        std::fs::write(&p.partial, b"half").unwrap();
        assert!(matches!(p.commit_new(), Err(OutputError::Appeared { .. })));
        assert_eq!(std::fs::read(&out).unwrap(), b"rows");
    }

    #[test]
    fn a_partial_file_left_by_an_earlier_run_is_kept_without_leave() {
        let d = temp("left");
        let out = d.join("b.csv");
        std::fs::write(partial_path(&out), b"an earlier run's rows").unwrap();
        let e = check_outputs(&[], std::slice::from_ref(&out), false).unwrap_err();
        assert!(matches!(e, OutputError::PartialExists { .. }), "{e}");
        assert!(e.to_string().contains("b.partial.csv"), "{e}");
        assert!(check_outputs(&[], std::slice::from_ref(&out), true).is_ok());
        assert!(check_outputs_with(&[], std::slice::from_ref(&out), false, true).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn two_outputs_that_would_grow_under_one_partial_name_are_refused() {
        // a.csv is a link to b.mp4, not there yet: both would end in b.mp4 and grow
        // under b.partial.mp4, the second's begin removing the first's rows
        let d = temp("one-partial");
        let (a, b) = (d.join("a.csv"), d.join("b.mp4"));
        std::os::unix::fs::symlink("b.mp4", &a).unwrap();
        assert_eq!(partial_path(&a), partial_path(&b));
        let e = check_outputs(&[], &[a.clone(), b.clone()], true).unwrap_err();
        assert!(matches!(e, OutputError::SameOutput { .. }), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_or_hard_link_at_the_partial_name_is_removed_not_written_through() {
        let d = temp("partial-link");
        let precious = d.join("precious.txt");
        std::fs::write(&precious, b"keep").unwrap();
        let (a, b) = (d.join("a.csv"), d.join("b.csv"));
        std::os::unix::fs::symlink(&precious, partial_path(&a)).unwrap();
        std::fs::hard_link(&precious, partial_path(&b)).unwrap();
        for out in [&a, &b] {
            check_outputs(&[], std::slice::from_ref(out), true).unwrap();
            let p = Pending::begin(out);
            assert!(
                p.partial.symlink_metadata().is_err(),
                "{}",
                p.partial.display()
            );
            use std::io::Write;
            p.create().unwrap().write_all(b"rows").unwrap();
            // a second create finds the file it made: create_new never reopens a name
            let e = p.create().unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
            assert!(e.to_string().contains(".partial.csv appeared"), "{e}");
            p.commit().unwrap();
            assert_eq!(std::fs::read(out).unwrap(), b"rows");
            assert!(out.symlink_metadata().unwrap().is_file());
        }
        assert_eq!(std::fs::read(&precious).unwrap(), b"keep");
    }

    #[test]
    fn a_name_too_long_for_its_partial_form_is_refused_as_such() {
        let d = temp("long-name");
        let out = d.join(format!("{}.csv", "a".repeat(250)));
        let e = check_outputs(&[], &[out], false).unwrap_err().to_string();
        assert!(
            e.contains("too long to write it under its temporary name") && e.contains("by 7"),
            "{e}"
        );
    }

    #[test]
    fn a_partial_file_another_run_writes_is_left_to_it_and_only_ones_own_is_published() {
        use std::io::Write;
        let d = temp("two-runs");
        let out = d.join("a.csv");
        // another run writing a.csv: its partial file, locked (a lock of another open
        // file conflicts in one process as between two)
        let theirs = std::fs::File::create(partial_path(&out)).unwrap();
        theirs.try_lock().unwrap();
        // refused before any work, whatever --overwrite says
        for overwrite in [false, true] {
            let e = check_outputs(&[], std::slice::from_ref(&out), overwrite).unwrap_err();
            assert!(matches!(e, OutputError::Busy { .. }), "{e}");
        }
        let p = Pending::begin(&out);
        assert!(p.partial.exists(), "another run's partial file was removed");
        let e = p.create().unwrap_err();
        assert!(
            e.to_string().contains("being written by another run"),
            "{e}"
        );
        p.discard();
        assert!(p.partial.exists(), "discard removed another run's file");
        drop(theirs);
        // left by a run that is gone (its lock went with it): removed and made anew
        let p = Pending::begin(&out);
        p.create().unwrap().write_all(b"mine").unwrap();
        // ... and while this run writes, another run's begin leaves it alone
        let q = Pending::begin(&out);
        assert!(q.create().is_err());
        q.discard();
        // a file put at the partial name meanwhile (removed and made again by someone
        // else) is not published under the final name
        std::fs::remove_file(&p.partial).unwrap();
        std::fs::write(&p.partial, b"someone else's").unwrap();
        assert!(matches!(p.commit(), Err(OutputError::PartialTaken { .. })));
        assert!(!out.exists());
        assert_eq!(std::fs::read(&p.partial).unwrap(), b"someone else's");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_is_kept_and_its_target_replaced_and_a_fifo_is_written_in_place() {
        let d = temp("special");
        let target = d.join("real.csv");
        std::fs::write(&target, b"old").unwrap();
        let link = d.join("link.csv");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(
            partial_path(&link),
            d.canonicalize().unwrap().join("real.partial.csv")
        );
        check_outputs(&[], std::slice::from_ref(&link), true).unwrap();
        let p = Pending::begin(&link);
        std::fs::write(&p.partial, b"new").unwrap();
        p.commit().unwrap();
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        // a chain of links to a file not there yet: made at the end of the chain, the
        // links kept, nothing there to replace
        let (a, b, c) = (d.join("a.csv"), d.join("b.csv"), d.join("c.csv"));
        std::os::unix::fs::symlink("b.csv", &a).unwrap();
        std::os::unix::fs::symlink(&c, &b).unwrap();
        assert_eq!(final_target(&a), c);
        check_outputs(&[], std::slice::from_ref(&a), false).unwrap();
        let p = Pending::begin(&a);
        std::fs::write(&p.partial, b"rows").unwrap();
        p.commit().unwrap();
        assert!(b.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&c).unwrap(), b"rows");
        // a FIFO: no --overwrite needed, no partial name, never removed
        let fifo = d.join("fifo.csv");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            assert!(written_in_place(&fifo));
            check_outputs(&[], std::slice::from_ref(&fifo), false).unwrap();
            let p = Pending::begin(&fifo);
            assert_eq!(p.partial, fifo);
            p.commit().unwrap();
            p.discard();
            assert!(fifo.symlink_metadata().is_ok());
        }
        assert!(written_in_place(Path::new("/dev/null")));
        assert_eq!(partial_path(Path::new("/dev/null")), Path::new("/dev/null"));
    }
}
