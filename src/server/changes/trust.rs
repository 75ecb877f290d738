//! The one rule for when a read model may answer from memory.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// None heard since the stream (re)opened.
const NONE: i64 = i64::MIN;

/// Whether the change stream is current: it has brought a heartbeat this
/// instance wrote within the lag limit, and wrote after the stream last
/// opened. Cheap to clone; every read model holds one.
#[derive(Clone)]
pub struct Trust {
    inner: Arc<Inner>,
}

struct Inner {
    /// The clock of heartbeats: ms since this.
    epoch: Instant,
    lag_limit: Duration,
    /// When the stream last opened (ms).
    opened_at: AtomicI64,
    /// When the newest heartbeat it brought was written (ms), or NONE.
    heard_at: AtomicI64,
}

impl Trust {
    pub fn new(lag_limit: Duration) -> Trust {
        Trust {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                lag_limit,
                opened_at: AtomicI64::new(0),
                heard_at: AtomicI64::new(NONE),
            }),
        }
    }

    /// Never current: for a read model that no stream feeds (tools, tests).
    pub fn never() -> Trust {
        Trust::new(Duration::ZERO)
    }

    /// Whether a read model may answer from memory now.
    pub fn is_current(&self) -> bool {
        let heard = self.inner.heard_at.load(Ordering::Acquire);
        heard != NONE && self.now_ms() - heard < self.inner.lag_limit.as_millis() as i64
    }

    /// Current for an hour (unit tests of a read model).
    #[cfg(test)]
    pub(crate) fn current() -> Trust {
        let trust = Trust::new(Duration::from_secs(3600));
        trust.opening();
        trust.heard(trust.now_ms());
        trust
    }

    pub fn lag_limit(&self) -> Duration {
        self.inner.lag_limit
    }

    /// Now, on the heartbeats' clock.
    pub(super) fn now_ms(&self) -> i64 {
        self.inner.epoch.elapsed().as_millis() as i64
    }

    /// The stream is (re)opening: nothing it brought before counts.
    pub(super) fn opening(&self) {
        self.inner.heard_at.store(NONE, Ordering::Release);
        self.inner.opened_at.store(self.now_ms(), Ordering::Release);
    }

    /// The stream failed or ended.
    pub(super) fn lost(&self) {
        self.inner.heard_at.store(NONE, Ordering::Release);
    }

    /// The stream brought the heartbeat written at `at`: everything before
    /// it has been applied. One written before the stream opened proves
    /// nothing about what a resume replays.
    pub(super) fn heard(&self, at: i64) {
        if at >= self.inner.opened_at.load(Ordering::Acquire) {
            self.inner.heard_at.fetch_max(at, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_only_after_a_heartbeat_written_since_opening_and_within_the_lag() {
        let trust = Trust::new(Duration::from_millis(200));
        assert!(!trust.is_current(), "nothing heard yet");
        let before = trust.now_ms();
        std::thread::sleep(Duration::from_millis(5));
        trust.opening();
        trust.heard(before);
        assert!(
            !trust.is_current(),
            "a heartbeat from before the opening proves nothing"
        );
        trust.heard(trust.now_ms());
        assert!(trust.is_current());
        std::thread::sleep(Duration::from_millis(250));
        assert!(!trust.is_current(), "past the lag limit");
        trust.heard(trust.now_ms());
        assert!(trust.is_current());
        trust.lost();
        assert!(!trust.is_current(), "lost with the stream");
        assert!(!Trust::never().is_current());
    }
}
