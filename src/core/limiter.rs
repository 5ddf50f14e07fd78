//! A client-side limit on request rate, shared by every call of one client, that adapts to
//! what the service allows.
//!
//! Fabric's Job Scheduler quota (200 calls per minute per identity) is a fixed window. A sliding
//! log of the last `calls` send times never puts more than `calls` requests into any window of
//! `period`, so it can never exceed a fixed window either, while still letting small workloads go
//! at full speed (a token bucket refilling evenly would either allow bursts that overrun a fixed
//! window or slow every small listing down). On a 429 all calls pause until `Retry-After`, and
//! the allowance drops to what went through in the last window; each success earns it back
//! (additive increase), up to the configured limit.

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

#[derive(Debug)]
struct State {
    /// Send times inside the current window, oldest first.
    sent: VecDeque<Instant>,
    /// The adaptive allowance per window, `1..=limit.calls`.
    allowance: f64,
    paused_until: Option<Instant>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        let margin = limit.period.mul_f64(0.01).max(Duration::from_millis(50));
        Self {
            limit,
            window: limit.period + margin,
            state: Mutex::new(State {
                sent: VecDeque::new(),
                allowance: f64::from(limit.calls.max(1)),
                paused_until: None,
            }),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// The current allowance per period (lower than the limit after a 429).
    pub fn allowance(&self) -> u32 {
        self.lock().allowance as u32
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        while state
            .sent
            .front()
            .is_some_and(|&t| now.duration_since(t) >= self.window)
        {
            state.sent.pop_front();
        }
        let allowed = state.allowance.floor().max(1.0) as usize;
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

    /// The service answered 429: pause all calls and lower the allowance.
    pub fn throttled(&self, retry_after: Option<Duration>) {
        let now = Instant::now();
        let mut state = self.lock();
        let until = now + retry_after.unwrap_or(DEFAULT_PAUSE);
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
        // What the server let through in the last window is our best estimate of our share.
        let went_through = state.sent.len().saturating_sub(1).max(1) as f64;
        state.allowance = state.allowance.min(went_through).max(1.0);
    }

    /// A request was answered without throttling: earn back one call per window's worth.
    pub fn succeeded(&self) {
        let mut state = self.lock();
        let max = f64::from(self.limit.calls.max(1));
        if state.allowance < max {
            state.allowance = (state.allowance + 1.0 / state.allowance).min(max);
        }
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
    fn a_429_pauses_everyone_and_lowers_the_allowance() {
        let l = limiter(10, 1000);
        let t0 = Instant::now();
        for i in 0..4 {
            assert_eq!(l.try_acquire(t0 + Duration::from_millis(i)), None);
        }
        l.throttled(Some(Duration::from_secs(2)));
        assert!(l.try_acquire(Instant::now()).unwrap() > Duration::from_millis(1900));
        assert_eq!(l.allowance(), 3);
        for _ in 0..100 {
            l.succeeded();
        }
        assert_eq!(l.allowance(), 10);
    }
}
