//! The stage machinery both pipelines run on: each stage is a scoped thread started by
//! [`spawn`]; all of them share one [`Control`] (this run's stop flag, the caller's
//! interrupt flag and the first error). However a stage ends badly, with an error or a
//! panic, every other stage is told to stop, and the first message is kept for the user
//! ("the decode stage panicked: ..." rather than "a stage stopped").

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{Scope, ScopedJoinHandle};

/// Shared by the stages of one run.
#[derive(Clone)]
pub struct Control {
    /// This run's flag: set by a failing stage, the end of the input or the window.
    stop: Arc<AtomicBool>,
    /// The caller's flag (Ctrl-C), shared by every run it starts.
    interrupt: Arc<AtomicBool>,
    error: Arc<Mutex<Option<String>>>,
}

impl Control {
    /// A run that also stops when `interrupt` is set.
    pub fn new(interrupt: Arc<AtomicBool>) -> Self {
        Control {
            stop: Arc::new(AtomicBool::new(false)),
            interrupt,
            error: Arc::new(Mutex::new(None)),
        }
    }
    /// A run that nobody outside interrupts.
    pub fn standalone() -> Self {
        Self::new(Arc::new(AtomicBool::new(false)))
    }
    /// Whether the stages should stop (this run ended or the caller interrupted).
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.interrupted()
    }
    /// Whether the caller interrupted (Ctrl-C), as opposed to the run ending by itself.
    pub fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst)
    }
    /// Stop this run's stages (not the caller's other runs).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
    /// Record the first error and stop every stage.
    pub fn fail(&self, msg: String) {
        if let Ok(mut e) = self.error.lock() {
            e.get_or_insert(msg);
        }
        self.stop();
    }
    /// The first error any stage reported.
    pub fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }
}

/// How a stage ended badly.
#[derive(Debug, thiserror::Error)]
pub enum StageError<E> {
    /// The stage returned this error.
    #[error(transparent)]
    Failed(E),
    #[error("the {stage} stage panicked: {message}")]
    Panicked { stage: String, message: String },
}

/// The text of a panic's payload.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "no message".into()
    }
}

/// A running stage; [`join`] it for its result.
pub type Stage<'scope, T, E> = ScopedJoinHandle<'scope, Result<T, StageError<E>>>;

/// Run `f` as the stage `name` on a thread of `scope`. An error or a panic is recorded in
/// `ctl` (the first one wins) and stops the other stages; a normal return stops nothing
/// (the stage's closed channel tells the next stage that its input ended). A thread that
/// cannot be started is a failure of the run too: the stages already running are stopped
/// (the scope would otherwise wait for them forever).
pub fn spawn<'scope, 'env, T, E, F>(
    scope: &'scope Scope<'scope, 'env>,
    name: &str,
    ctl: &Control,
    f: F,
) -> std::io::Result<Stage<'scope, T, E>>
where
    F: FnOnce(&Control) -> Result<T, E> + Send + 'scope,
    T: Send + 'scope,
    E: Display + Send + 'scope,
{
    spawn_with_stack(scope, name, None, ctl, f)
}

/// [`spawn`] with the thread's stack size (`None`: the default).
pub fn spawn_with_stack<'scope, 'env, T, E, F>(
    scope: &'scope Scope<'scope, 'env>,
    name: &str,
    stack_size: Option<usize>,
    ctl: &Control,
    f: F,
) -> std::io::Result<Stage<'scope, T, E>>
where
    F: FnOnce(&Control) -> Result<T, E> + Send + 'scope,
    T: Send + 'scope,
    E: Display + Send + 'scope,
{
    let c = ctl.clone();
    let n = name.to_string();
    let mut builder = std::thread::Builder::new().name(n.clone());
    if let Some(size) = stack_size {
        builder = builder.stack_size(size);
    }
    builder
        .spawn_scoped(scope, move || {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&c))) {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => {
                    c.fail(e.to_string());
                    Err(StageError::Failed(e))
                }
                Err(p) => {
                    let message = panic_message(p.as_ref());
                    c.fail(format!("the {n} stage panicked: {message}"));
                    Err(StageError::Panicked { stage: n, message })
                }
            }
        })
        .inspect_err(|e| ctl.fail(format!("cannot start the {name} stage: {e}")))
}

/// Wait for a stage and take its result.
pub fn join<T, E>(stage: Stage<'_, T, E>) -> Result<T, StageError<E>> {
    let name = stage.thread().name().unwrap_or("pipeline").to_string();
    // the closure catches its own panics, so a join error cannot normally happen
    stage.join().unwrap_or_else(|p| {
        Err(StageError::Panicked {
            stage: name,
            message: panic_message(p.as_ref()),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_error_in_any_stage_stops_all_stages() {
        for failing in 0..3 {
            let ctl = Control::standalone();
            let results: Vec<Result<(), StageError<String>>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..3)
                    .map(|i| {
                        spawn(s, &format!("s{i}"), &ctl, move |c| {
                            if i == failing {
                                std::thread::sleep(Duration::from_millis(20));
                                return Err(format!("stage {i} broke"));
                            }
                            // without the failing stage's stop this would never end
                            while !c.stopped() {
                                std::thread::sleep(Duration::from_millis(2));
                            }
                            Ok(())
                        })
                        .unwrap()
                    })
                    .collect();
                handles.into_iter().map(join).collect()
            });
            assert_eq!(
                ctl.error().as_deref(),
                Some(format!("stage {failing} broke").as_str())
            );
            for (i, r) in results.iter().enumerate() {
                assert_eq!(r.is_err(), i == failing, "stage {i}: {r:?}");
            }
            assert!(!ctl.interrupted());
        }
    }

    #[test]
    fn a_panicking_stage_stops_the_others_and_its_message_reaches_the_caller() {
        let ctl = Control::standalone();
        let (bad, good) = std::thread::scope(|s| {
            let a = spawn(s, "decode", &ctl, |_| -> Result<(), String> {
                panic!("boom at frame 7")
            })
            .unwrap();
            let b = spawn(s, "track", &ctl, |c| -> Result<u32, String> {
                while !c.stopped() {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok(5)
            })
            .unwrap();
            (join(a), join(b))
        });
        assert_eq!(good.unwrap(), 5);
        let e = bad.unwrap_err().to_string();
        assert_eq!(e, "the decode stage panicked: boom at frame 7");
        assert_eq!(ctl.error().as_deref(), Some(e.as_str()));
    }

    #[test]
    fn a_stage_that_cannot_start_stops_the_stages_already_running() {
        // a real spawn failure: a stack no machine can map. The scope waits for every
        // thread it started, so without the stop it would wait for the first stage forever
        let ctl = Control::standalone();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let c = ctl.clone();
        std::thread::spawn(move || {
            let failed = std::thread::scope(|s| {
                let _running = spawn(s, "capture", &c, |c| -> Result<(), String> {
                    while !c.stopped() {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Ok(())
                })
                .unwrap();
                spawn_with_stack(s, "inference", Some(usize::MAX >> 4), &c, |_| {
                    Ok::<_, String>(())
                })
                .is_err()
            });
            let _ = done_tx.send(failed);
        });
        let failed = done_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the running stage was never stopped");
        assert!(failed, "the huge stack was granted");
        let e = ctl.error().unwrap_or_default();
        assert!(e.starts_with("cannot start the inference stage"), "{e}");
    }

    #[test]
    fn a_normal_end_stops_nothing_and_an_interrupt_stops_everything() {
        let user = Arc::new(AtomicBool::new(false));
        let ctl = Control::new(user.clone());
        std::thread::scope(|s| {
            let a = spawn(s, "a", &ctl, |_| Ok::<_, String>(())).unwrap();
            join(a).unwrap();
        });
        assert!(!ctl.stopped());
        user.store(true, Ordering::SeqCst);
        assert!(ctl.stopped() && ctl.interrupted());
        assert!(ctl.error().is_none());
    }
}
