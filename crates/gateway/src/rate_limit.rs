//! Rate limiting by GCRA (the generic cell rate algorithm): per key, one
//! number, the "theoretical arrival time" (TAT) of the next request.
//!
//! A request at `now` is allowed when `now >= TAT - tau` (tau is the burst
//! tolerance), and then pushes the TAT one emission interval further. It is
//! a token bucket without the refill bookkeeping: 8 bytes of state per key
//! and an exact `Retry-After`.
//!
//! Keys are hashed with a per-process random key (so nobody can aim
//! collisions) into 16 shards, each a std `Mutex<HashMap>` held for one
//! lookup. Entries whose TAT has passed carry no information and are swept,
//! so memory follows the active callers, not every caller ever seen.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

/// A limiter's quota as the IETF draft "RateLimit header fields for HTTP"
/// names it (`RateLimit-Policy: "<name>";q=<quota>;w=<window>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatePolicy {
    pub name: &'static str,
    /// Requests allowed at once (the burst).
    pub quota: u32,
    /// Seconds the sustained rate takes to give the whole quota back.
    pub window_secs: u32,
}

impl RatePolicy {
    /// The `RateLimit-Policy` field value.
    pub fn header(&self) -> String {
        format!("\"{}\";q={};w={}", self.name, self.quota, self.window_secs)
    }

    /// The `RateLimit` field value of a refused request: nothing remains
    /// until `reset_secs` from now.
    pub fn exhausted(&self, reset_secs: u64) -> String {
        format!("\"{}\";r=0;t={reset_secs}", self.name)
    }
}

/// One GCRA limiter over keys of any hashable type.
pub struct RateLimiter {
    policy: RatePolicy,
    /// Nanoseconds between two requests at the sustained rate.
    interval: u64,
    /// Nanoseconds of burst tolerance: `(burst - 1) * interval`.
    tau: u64,
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<u64, u64>>>,
    epoch: Instant,
}

impl RateLimiter {
    /// `per_second` sustained, up to `burst` at once, announced as policy
    /// `name`; `None` when `per_second` is 0 (limit off).
    pub fn new(name: &'static str, per_second: u32, burst: u32) -> Option<Self> {
        if per_second == 0 {
            return None;
        }
        let interval = 1_000_000_000 / u64::from(per_second);
        let burst = burst.max(1);
        Some(Self {
            policy: RatePolicy {
                name,
                quota: burst,
                window_secs: burst.div_ceil(per_second),
            },
            interval,
            tau: interval * u64::from(burst - 1),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            epoch: Instant::now(),
        })
    }

    pub fn policy(&self) -> RatePolicy {
        self.policy
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Allows the request, or says how long to wait.
    pub fn check(&self, key: impl Hash) -> Result<(), Duration> {
        self.check_at(key, self.now())
    }

    fn check_at(&self, key: impl Hash, now: u64) -> Result<(), Duration> {
        let hash = self.hasher.hash_one(key);
        let mut shard = self.shards[hash as usize % SHARDS]
            .lock()
            .expect("rate limiter lock");
        let tat = shard.get(&hash).copied().unwrap_or(now).max(now);
        let allow_at = tat.saturating_sub(self.tau);
        if now < allow_at {
            return Err(Duration::from_nanos(allow_at - now));
        }
        shard.insert(hash, tat + self.interval);
        Ok(())
    }

    /// Drops the keys whose budget is full again; returns how many remain.
    pub fn sweep(&self) -> usize {
        let now = self.now();
        self.shards
            .iter()
            .map(|shard| {
                let mut shard = shard.lock().expect("rate limiter lock");
                shard.retain(|_, tat| *tat > now);
                shard.len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_in_the_drafts_syntax() {
        let policy = RateLimiter::new("per-user", 10, 10).unwrap().policy();
        assert_eq!(policy.header(), "\"per-user\";q=10;w=1");
        assert_eq!(policy.exhausted(3), "\"per-user\";r=0;t=3");
        let slow = RateLimiter::new("slow", 2, 5).unwrap().policy();
        assert_eq!((slow.quota, slow.window_secs), (5, 3));
    }

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn burst_then_sustained_rate() {
        let limiter = RateLimiter::new("t", 10, 5).unwrap();
        for _ in 0..5 {
            assert!(limiter.check_at("ip", 0).is_ok());
        }
        let wait = limiter.check_at("ip", 0).unwrap_err();
        assert_eq!(
            wait,
            Duration::from_millis(100),
            "one interval until the next cell"
        );
        assert!(limiter.check_at("other", 0).is_ok(), "keys are independent");
        assert!(limiter.check_at("ip", SECOND / 10).is_ok());
        assert!(limiter.check_at("ip", SECOND / 10).is_err());
        // Over ten seconds, at most rate * 10 + burst requests pass.
        let passed = (0..10_000)
            .filter(|i| limiter.check_at("flood", i * SECOND / 1000).is_ok())
            .count();
        assert!((100..=105).contains(&passed), "{passed}");
    }

    #[test]
    fn zero_turns_the_limit_off_and_sweep_forgets_idle_keys() {
        assert!(RateLimiter::new("t", 0, 10).is_none());
        let limiter = RateLimiter::new("t", 1000, 1).unwrap();
        limiter.check("a").unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(limiter.sweep(), 0);
    }
}
