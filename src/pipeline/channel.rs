//! The live pipeline's channel policy: capacity 1, the newest value wins. A producer that
//! finds the slot full evicts the stale value (and counts the drop) before sending, so a
//! slow consumer always gets the freshest frame. The sender keeps an eviction receiver,
//! so the channel never disconnects just because the consumer is slow. When the sender
//! is dropped (its stage ended), the receiver still gets the value left in the slot and
//! then [`RecvTimeoutError::Disconnected`]: the end of its input, told apart from a
//! timeout so that the next stage can drain and end too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use crossbeam_channel::RecvTimeoutError;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

/// Sending half.
pub struct LatestSender<T> {
    tx: Sender<T>,
    evict: Receiver<T>,
    dropped: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
}

/// Receiving half.
pub struct LatestReceiver<T> {
    rx: Receiver<T>,
    dropped: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
}

/// Counters of a channel, readable after its halves have moved to their threads.
#[derive(Clone)]
pub struct ChannelStats {
    dropped: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
}

impl ChannelStats {
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

/// A newest-wins channel of capacity 1.
pub fn latest<T>() -> (LatestSender<T>, LatestReceiver<T>) {
    let (tx, rx) = bounded(1);
    let dropped = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    (
        LatestSender {
            tx,
            evict: rx.clone(),
            dropped: dropped.clone(),
            sent: sent.clone(),
        },
        LatestReceiver { rx, dropped, sent },
    )
}

impl<T> LatestSender<T> {
    /// Send, replacing a value the consumer has not taken yet.
    pub fn send(&self, mut v: T) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        loop {
            match self.tx.try_send(v) {
                Ok(()) => return,
                Err(TrySendError::Full(back)) => {
                    if self.evict.try_recv().is_ok() {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    v = back;
                }
                // cannot happen while we hold `evict`; nothing to deliver to anyway
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl<T> LatestReceiver<T> {
    /// Wait up to `timeout` for a value. `Err(Timeout)`: none yet; `Err(Disconnected)`:
    /// the sender is gone and the slot is empty, so no value will ever come.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// Take a value if one is waiting.
    pub fn try_recv(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// Values evicted unseen so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Values sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> ChannelStats {
        ChannelStats {
            dropped: self.dropped.clone(),
            sent: self.sent.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_value_wins_and_drops_are_counted() {
        let (tx, rx) = latest();
        for i in 0..5 {
            tx.send(i);
        }
        assert_eq!(rx.try_recv(), Some(4));
        assert_eq!(rx.try_recv(), None);
        assert_eq!(rx.dropped(), 4);
        assert_eq!(rx.sent(), 5);
    }

    #[test]
    fn a_slow_consumer_always_gets_the_newest_frame() {
        // a fast producer and a consumer taking 20 ms a frame: whatever the consumer takes
        // is at least as new as the newest frame sent before it asked (no stale backlog)
        let (tx, rx) = latest::<u64>();
        let newest = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (n2, s2) = (newest.clone(), stop.clone());
        let prod = std::thread::spawn(move || {
            let mut i = 0u64;
            while !s2.load(Ordering::SeqCst) {
                i += 1;
                tx.send(i);
                n2.store(i, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(20));
            let before = newest.load(Ordering::SeqCst);
            let got = rx.recv_timeout(Duration::from_secs(5)).expect("frame");
            assert!(
                got >= before,
                "got frame {got} although {before} had been sent"
            );
        }
        stop.store(true, Ordering::SeqCst);
        prod.join().unwrap();
        assert!(rx.dropped() > 0);
    }

    #[test]
    fn a_dropped_sender_is_the_end_of_the_input_not_a_timeout() {
        // the last value sent is still delivered, then the end is reported at once
        // (a receiver that took it for a timeout would wait for values forever)
        let (tx, rx) = latest::<u32>();
        tx.send(1);
        tx.send(2);
        drop(tx);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(2));
        let t = std::time::Instant::now();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(RecvTimeoutError::Disconnected)
        );
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        // while the sender lives, an empty slot is a timeout
        let (tx, rx) = latest::<u32>();
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(10)),
            Err(RecvTimeoutError::Timeout)
        );
        drop(tx);
    }
}
