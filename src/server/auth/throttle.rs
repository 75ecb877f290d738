//! Brute-force limits, shared by the JSON API and the server functions.
//!
//! - Attempts per client network (`network.rs`): sign-ins and sign-ups,
//!   so one client cannot keep the password hasher busy.
//! - Failed sign-ins per (username, wide network: an IPv6 /48): someone
//!   guessing a password from their network runs out; the owner,
//!   elsewhere, does not. Only failures count here.
//! - Password checks per username, from everywhere: a burst, then one a
//!   second, refused beyond (never queued), so guesses spread over many
//!   addresses gain a second each. A browser that signed in to the
//!   username before (its device cookie, `sign_in.rs`) is exempt: the owner
//!   gets in during an attack.
//! - Password changes per user.
//!
//! GCRA limiters from `governor` for rates; small counting windows for
//! failures. A refusal says when to come back.

use super::network::{network, Network};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use mongodb::bson::oid::ObjectId;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many attempts, and how fast they come back.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Sign-in and sign-up attempts from one network: burst, then one per `address_period`.
    pub address_burst: u32,
    pub address_period: Duration,
    /// Failed sign-ins for one username from one wide network, per `failure_window`.
    pub pair_failures: u32,
    pub failure_window: Duration,
    /// Password checks for one username from browsers it has not seen:
    /// burst, then one per `username_period`.
    pub username_burst: u32,
    pub username_period: Duration,
    /// Password changes by one user: burst, then one per `change_period`.
    pub change_burst: u32,
    pub change_period: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            address_burst: 30,
            address_period: Duration::from_secs(2),
            pair_failures: 10,
            failure_window: Duration::from_secs(15 * 60),
            username_burst: 5,
            username_period: Duration::from_secs(1),
            change_burst: 5,
            change_period: Duration::from_secs(60),
        }
    }
}

#[derive(Clone)]
pub struct Throttle {
    limits: Limits,
    per_network: Arc<DefaultKeyedRateLimiter<Network>>,
    per_username: Arc<DefaultKeyedRateLimiter<String>>,
    changes: Arc<DefaultKeyedRateLimiter<ObjectId>>,
    failures: Arc<Mutex<HashMap<FailureKey, Window>>>,
}

/// Failures of a username from a wide network.
type FailureKey = (String, Network);

#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

fn quota(burst: u32, period: Duration) -> Quota {
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period.max(Duration::from_millis(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

fn username_key(username: &str) -> String {
    username.trim().to_lowercase()
}

impl Throttle {
    pub fn new(limits: Limits) -> Throttle {
        Throttle {
            limits,
            per_network: Arc::new(RateLimiter::keyed(quota(limits.address_burst, limits.address_period))),
            per_username: Arc::new(RateLimiter::keyed(quota(limits.username_burst, limits.username_period))),
            changes: Arc::new(RateLimiter::keyed(quota(limits.change_burst, limits.change_period))),
            failures: Arc::default(),
        }
    }

    /// Counts one sign-in or sign-up attempt from `address`; `Err(wait)`
    /// when its network is over the limit.
    pub fn attempt(&self, address: Option<IpAddr>) -> Result<(), Duration> {
        let Some(address) = address else { return Ok(()) };
        self.per_network
            .check_key(&network(address))
            .map_err(|n| n.wait_time_from(DefaultClock::default().now()))
    }

    /// Before checking a password: `Err(wait)` when this wide network has
    /// failed too often for this username, or (unless `known_device`) the
    /// username's checks are over their rate.
    pub fn before_sign_in(&self, username: &str, address: Option<IpAddr>, known_device: bool) -> Result<(), Duration> {
        let username = username_key(username);
        if let Some(address) = address {
            let now = Instant::now();
            let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            let pair = (username.clone(), network(address).wide());
            if let Some(w) = failures.get(&pair).filter(|w| {
                now.duration_since(w.start) < self.limits.failure_window && w.count >= self.limits.pair_failures
            }) {
                return Err(self.limits.failure_window.saturating_sub(now.duration_since(w.start)));
            }
        }
        if known_device {
            return Ok(());
        }
        self.per_username
            .check_key(&username)
            .map_err(|n| n.wait_time_from(DefaultClock::default().now()))
    }

    /// Counts a wrong password for `username` from `address`.
    pub fn failed(&self, username: &str, address: Option<IpAddr>) {
        let Some(address) = address else { return };
        let now = Instant::now();
        let window = self.limits.failure_window;
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let w = failures
            .entry((username_key(username), network(address).wide()))
            .or_insert(Window { start: now, count: 0 });
        if now.duration_since(w.start) >= window {
            *w = Window { start: now, count: 0 };
        }
        w.count += 1;
    }

    /// A right password: this wide network's failures for the username are
    /// forgiven.
    pub fn succeeded(&self, username: &str, address: Option<IpAddr>) {
        if let Some(address) = address {
            let key = (username_key(username), network(address).wide());
            self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        }
    }

    /// Counts one password change by `user`; `Err(wait)` when over the limit.
    pub fn password_change(&self, user: ObjectId) -> Result<(), Duration> {
        self.changes
            .check_key(&user)
            .map_err(|n| n.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets keys that are back to a full allowance, so memory stays
    /// bounded however many addresses and usernames are tried.
    pub fn forget_idle(&self) {
        self.per_network.retain_recent();
        self.per_username.retain_recent();
        self.changes.retain_recent();
        let now = Instant::now();
        let window = self.limits.failure_window;
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, w| now.duration_since(w.start) < window);
    }
}

/// Whole seconds for a `Retry-After` header, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.as_secs() == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            address_burst: 5,
            address_period: Duration::from_secs(60),
            pair_failures: 3,
            failure_window: Duration::from_secs(60),
            username_burst: 4,
            username_period: Duration::from_secs(60),
            change_burst: 2,
            change_period: Duration::from_secs(60),
        }
    }

    #[test]
    fn attempts_are_limited_per_network() {
        let t = Throttle::new(limits());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..5 {
            assert!(t.attempt(Some(ip)).is_ok());
        }
        assert!(t.attempt(Some(ip)).unwrap_err() > Duration::from_secs(1));
        // One IPv4 /24 is one network.
        assert!(t.attempt(Some("10.0.0.2".parse().unwrap())).is_err());
        assert!(t.attempt(Some("10.0.1.1".parse().unwrap())).is_ok());
        // One IPv6 /64 is one network.
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        for _ in 0..5 {
            assert!(t.attempt(Some(a)).is_ok());
        }
        assert!(t.attempt(Some(b)).is_err());
        assert!(t.attempt(Some("2001:db8:1:3::1".parse().unwrap())).is_ok());
    }

    #[test]
    fn a_guesser_runs_out_but_the_owner_elsewhere_does_not() {
        let t = Throttle::new(limits());
        let attacker: IpAddr = "203.0.113.5".parse().unwrap();
        let owner: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(t.before_sign_in("asha@x.com", Some(attacker), true), Ok(()));
            t.failed("asha@x.com", Some(attacker));
        }
        let wait = t.before_sign_in(" ASHA@x.com", Some(attacker), true).unwrap_err();
        assert!(wait > Duration::from_secs(50));
        // The owner, from their own network: no refusal.
        assert_eq!(t.before_sign_in("asha@x.com", Some(owner), true), Ok(()));
        // A success forgives that network's failures.
        t.succeeded("asha@x.com", Some(attacker));
        assert!(t.before_sign_in("asha@x.com", Some(attacker), true).is_ok());
    }

    #[test]
    fn an_ipv6_site_has_one_failure_budget_not_one_per_64() {
        let t = Throttle::new(limits());
        for i in 0..3_u16 {
            let address = std::net::Ipv6Addr::new(0x2001, 0xdb8, 7, i, 0, 0, 0, 1);
            t.failed("asha@x.com", Some(IpAddr::V6(address)));
        }
        let another_64: IpAddr = "2001:db8:7:ff::1".parse().unwrap();
        assert!(t.before_sign_in("asha@x.com", Some(another_64), true).is_err());
        assert!(t
            .before_sign_in("asha@x.com", Some("2001:db8:8::1".parse().unwrap()), true)
            .is_ok());
    }

    #[test]
    fn a_username_is_checked_at_a_rate_from_everywhere_but_a_known_device() {
        let t = Throttle::new(limits());
        // Each guess from a network of its own: the burst, then refusals.
        let from = |i: u8| Some(IpAddr::from([10, i, 0, 1]));
        for i in 0..4 {
            assert_eq!(t.before_sign_in("asha@x.com", from(i), false), Ok(()));
        }
        let wait = t.before_sign_in("ASHA@x.com ", from(9), false).unwrap_err();
        assert!(wait > Duration::from_secs(10), "{wait:?}");
        // The owner's browser, which signed in before, is heard.
        assert_eq!(t.before_sign_in("asha@x.com", from(10), true), Ok(()));
        // Other usernames are untouched.
        assert_eq!(t.before_sign_in("ravi@x.com", from(9), false), Ok(()));
    }

    #[test]
    fn password_changes_are_limited_per_user() {
        let t = Throttle::new(limits());
        let (me, other) = (ObjectId::new(), ObjectId::new());
        assert!(t.password_change(me).is_ok());
        assert!(t.password_change(me).is_ok());
        assert!(t.password_change(me).is_err());
        assert!(t.password_change(other).is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
