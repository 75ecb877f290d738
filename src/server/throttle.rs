//! Brute-force limits on sign-in and sign-up, per client address and per
//! username, shared by the JSON API and the server functions. GCRA limiters
//! from the `governor` crate; a refusal says when to come back.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct Throttle {
    per_address: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    per_username: Arc<DefaultKeyedRateLimiter<String>>,
}

/// How many attempts, and how fast they come back.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Sign-in and sign-up attempts from one address: burst, then one per `address_period`.
    pub address_burst: u32,
    pub address_period: Duration,
    /// Sign-in attempts for one username: burst, then one per `username_period`.
    pub username_burst: u32,
    pub username_period: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            address_burst: 30,
            address_period: Duration::from_secs(2),
            username_burst: 10,
            username_period: Duration::from_secs(30),
        }
    }
}

fn quota(burst: u32, period: Duration) -> Quota {
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period.max(Duration::from_millis(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl Throttle {
    pub fn new(limits: Limits) -> Throttle {
        Throttle {
            per_address: Arc::new(RateLimiter::keyed(quota(limits.address_burst, limits.address_period))),
            per_username: Arc::new(RateLimiter::keyed(quota(limits.username_burst, limits.username_period))),
        }
    }

    /// Counts one attempt; `Err(wait)` when over the limit for the address
    /// or (if given) the username.
    pub fn attempt(&self, address: Option<IpAddr>, username: Option<&str>) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        if let Some(address) = address {
            self.per_address
                .check_key(&address)
                .map_err(|n| n.wait_time_from(now))?;
        }
        if let Some(username) = username {
            let key = username.trim().to_lowercase();
            if !key.is_empty() {
                self.per_username.check_key(&key).map_err(|n| n.wait_time_from(now))?;
            }
        }
        Ok(())
    }

    /// Forgets keys that are back to a full allowance, so memory stays
    /// bounded however many addresses and usernames are tried.
    pub fn forget_idle(&self) {
        self.per_address.retain_recent();
        self.per_username.retain_recent();
    }
}

/// Whole seconds for a `Retry-After` header, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.as_secs() == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_username_and_address() {
        let t = Throttle::new(Limits {
            address_burst: 5,
            address_period: Duration::from_secs(60),
            username_burst: 2,
            username_period: Duration::from_secs(60),
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(t.attempt(Some(ip), Some("a@x.com")).is_ok());
        assert!(t.attempt(Some(ip), Some("A@X.com ")).is_ok());
        let wait = t.attempt(Some(ip), Some("a@x.com")).unwrap_err();
        assert!(wait > Duration::from_secs(1));
        // Another username from the same address still has attempts left...
        assert!(t.attempt(Some(ip), Some("b@x.com")).is_ok());
        // ...until the address itself runs out (5 counted so far).
        assert!(t.attempt(Some(ip), Some("c@x.com")).is_ok());
        assert!(t.attempt(Some(ip), Some("d@x.com")).is_err());
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(t.attempt(Some(other), Some("e@x.com")).is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
