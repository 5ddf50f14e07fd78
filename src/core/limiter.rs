//! A client-side limit on request rate, shared by every call of one client, that backs off
//! together when the service throttles.
//!
//! Fabric's Job Scheduler quota (200 calls per minute per identity) is a fixed window. A sliding
//! log of the last `calls` send times never puts more than `calls` requests into any window of
//! `period`, so it can never exceed a fixed window either, while still letting small workloads go
//! at full speed (a token bucket refilling evenly would either allow bursts that overrun a fixed
//! window or slow every small listing down). When the service answers 429 anyway (another
//! process uses the same identity, say), every call of the client pauses until `Retry-After`
//! (or the retry's backoff when there is none) instead of each one hammering on its own, and the
//! rejected call does not use up the window.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long to pause everything after a 429 that did not say how long.
const DEFAULT_PAUSE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub calls: u32,
    pub period: Duration,
}

#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    /// The window used for counting: a little longer than `period`, so that a request sent
    /// exactly one period after another cannot land in the server's previous window.
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Send times inside the current window, oldest first.
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

/// Drops the times that left the window.
fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|&t| now.duration_since(t) >= window)
    {
        times.pop_front();
    }
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        let margin = limit.period.mul_f64(0.01).max(Duration::from_millis(50));
        Self {
            limit,
            window: limit.period + margin,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::core::sync::lock(&self.state)
    }

    /// Either records a send now (`None`) or says how long to wait before asking again.
    fn try_acquire(&self, now: Instant) -> Option<Duration> {
        let mut state = self.lock();
        if let Some(until) = state.paused_until {
            if until > now {
                return Some(until - now);
            }
            state.paused_until = None;
        }
        prune(&mut state.sent, now, self.window);
        let allowed = self.limit.calls.max(1) as usize;
        if state.sent.len() < allowed {
            state.sent.push_back(now);
            return None;
        }
        // The call that frees a slot: the oldest of the last `allowed` sends leaves the window.
        let oldest = state.sent[state.sent.len() - allowed];
        Some((oldest + self.window).saturating_duration_since(now))
    }

    /// Waits until a request may be sent, and counts it.
    pub async fn acquire(&self) {
        while let Some(wait) = self.try_acquire(Instant::now()) {
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// The service answered 429: pause every call for `pause`, and give the rejected call's
    /// slot back (Fabric, like the emulator, does not count rejected calls).
    pub fn throttled(&self, pause: Option<Duration>) {
        let now = Instant::now();
        let mut state = self.lock();
        state.sent.pop_back();
        let until = now + pause.unwrap_or(DEFAULT_PAUSE);
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(calls: u32, period_ms: u64) -> RateLimiter {
        RateLimiter::new(RateLimit {
            calls,
            period: Duration::from_millis(period_ms),
        })
    }

    #[test]
    fn bursts_up_to_the_limit_then_waits_for_the_oldest_to_leave() {
        let l = limiter(3, 1000);
        let t0 = Instant::now();
        assert_eq!(l.try_acquire(t0), None);
        assert_eq!(l.try_acquire(t0 + Duration::from_millis(10)), None);
        assert_eq!(l.try_acquire(t0 + Duration::from_millis(20)), None);
        let wait = l.try_acquire(t0 + Duration::from_millis(30)).unwrap();
        // window = 1000 ms + 50 ms margin, counted from the first send
        assert_eq!(wait, Duration::from_millis(1020));
        assert_eq!(l.try_acquire(t0 + Duration::from_millis(1050)), None);
    }

    #[test]
    fn never_more_than_the_limit_in_any_window() {
        let l = limiter(5, 1000);
        let t0 = Instant::now();
        let mut sends = vec![];
        let mut now = t0;
        while sends.len() < 23 {
            match l.try_acquire(now) {
                None => sends.push(now),
                Some(wait) => now += wait,
            }
        }
        for (i, &start) in sends.iter().enumerate() {
            let in_window = sends[i..]
                .iter()
                .filter(|&&t| t.duration_since(start) < Duration::from_millis(1000))
                .count();
            assert!(in_window <= 5, "{in_window} sends within 1 s of send {i}");
        }
    }

    #[test]
    fn a_429_pauses_every_call_and_frees_its_slot() {
        let l = limiter(2, 60_000);
        assert_eq!(l.try_acquire(Instant::now()), None);
        assert_eq!(l.try_acquire(Instant::now()), None);
        l.throttled(Some(Duration::from_millis(30)));
        let wait = l.try_acquire(Instant::now()).unwrap();
        assert!(wait > Duration::from_millis(20) && wait <= Duration::from_millis(30));
        std::thread::sleep(Duration::from_millis(35));
        // The rejected call's slot is free again; the window still holds the first call.
        assert_eq!(l.try_acquire(Instant::now()), None);
        assert!(l.try_acquire(Instant::now()).is_some());
    }

    #[test]
    fn a_429_before_any_answer_does_not_starve_the_client() {
        // Regression: an adaptive allowance used to drop to 1 per window here, so a listing
        // whose first answers were 503, 503, 429 then waited a whole minute per request.
        let l = limiter(200, 60_000);
        for _ in 0..3 {
            assert_eq!(l.try_acquire(Instant::now()), None);
        }
        l.throttled(Some(Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(5));
        for _ in 0..100 {
            assert_eq!(l.try_acquire(Instant::now()), None);
        }
    }
}
