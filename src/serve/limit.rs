//! A token bucket per client address: a client may make `rate` requests a
//! second, in bursts of up to ten seconds' worth. Beyond that it is told
//! to come back (429 with `Retry-After`); nothing it sent is stored.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept at most; past it, full (idle) buckets are forgotten.
const CLIENTS: usize = 10_000;

pub struct Limiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl Limiter {
    pub fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Self {
            rate,
            burst: rate * 10.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `client` may make a request now.
    pub fn allow(&self, client: IpAddr) -> bool {
        let now = Instant::now();
        // A poisoned lock only means another request panicked mid-update;
        // the buckets are still numbers.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= CLIENTS {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_past_its_burst_waits_and_others_do_not() {
        let limiter = Limiter::new(2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let allowed = (0..30).filter(|_| limiter.allow(a)).count();
        assert_eq!(allowed, 20, "a burst of ten seconds' worth");
        assert!(limiter.allow(b));
    }
}
