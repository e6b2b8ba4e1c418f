//! Login throttling: too many failures for one account, or from one address, lock further
//! attempts for a while. The account key is whatever name was typed, existing or not, so the
//! answer never reveals which accounts exist.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bounds memory when someone sprays usernames: beyond this, the oldest keys are forgotten.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone)]
pub struct ThrottleLimits {
    pub per_account: u32,
    pub per_ip: u32,
    pub window: Duration,
}

#[derive(Debug)]
pub struct LoginThrottle {
    limits: ThrottleLimits,
    failures: Mutex<HashMap<Key, Vec<Instant>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Ip(IpAddr),
}

impl LoginThrottle {
    pub fn new(limits: ThrottleLimits) -> Self {
        Self {
            limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a slot for one sign-in attempt before its password is checked, counted as a
    /// failure until `succeeded` says otherwise: parallel guesses cannot all pass the check
    /// before any of them is counted. `Err(wait)` when the attempt must be refused.
    pub fn attempt(&self, account: &str, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(wait) = self.locked(&mut failures, account, ip, now) {
            return Err(wait);
        }
        Self::record(&mut failures, self.limits.window, account, ip, now);
        Ok(())
    }

    /// The attempt taken at `at` was right: its account starts afresh, and the address
    /// forgets this attempt (not its earlier failures).
    pub fn succeeded(&self, account: &str, ip: IpAddr, at: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&Key::Account(account.to_owned()));
        if let Some(times) = failures.get_mut(&Key::Ip(ip))
            && let Some(position) = times.iter().rposition(|t| *t == at)
        {
            times.remove(position);
        }
    }

    fn locked(
        &self,
        failures: &mut HashMap<Key, Vec<Instant>>,
        account: &str,
        ip: IpAddr,
        now: Instant,
    ) -> Option<Duration> {
        let checks = [
            (Key::Account(account.to_owned()), self.limits.per_account),
            (Key::Ip(ip), self.limits.per_ip),
        ];
        checks
            .into_iter()
            .filter_map(|(key, limit)| {
                let times = failures.get_mut(&key)?;
                times.retain(|t| now.duration_since(*t) < self.limits.window);
                let over = times.len() >= limit as usize;
                over.then(|| {
                    let oldest = times.first().copied().unwrap_or(now);
                    self.limits
                        .window
                        .saturating_sub(now.duration_since(oldest))
                })
            })
            .max()
    }

    fn record(
        failures: &mut HashMap<Key, Vec<Instant>>,
        window: Duration,
        account: &str,
        ip: IpAddr,
        now: Instant,
    ) {
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, times| {
                times
                    .last()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
            if failures.len() >= MAX_KEYS {
                failures.clear();
            }
        }
        for key in [Key::Account(account.to_owned()), Key::Ip(ip)] {
            failures.entry(key).or_default().push(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleLimits {
            per_account: 3,
            per_ip: 5,
            window: Duration::from_secs(600),
        })
    }

    #[test]
    fn an_account_locks_after_its_limit_and_unlocks_after_the_window() {
        let t = throttle();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(t.attempt("ann", ip, start), Ok(()));
        }
        let wait = t.attempt("ann", ip, start).expect_err("locked");
        assert_eq!(wait, Duration::from_secs(600));
        assert_eq!(
            t.attempt("ann", ip, start + Duration::from_secs(601)),
            Ok(())
        );
    }

    #[test]
    fn one_address_spraying_names_is_locked_too() {
        let t = throttle();
        let ip: IpAddr = [10, 0, 0, 2].into();
        let now = Instant::now();
        for n in 0..5 {
            assert!(t.attempt(&format!("user{n}"), ip, now).is_ok());
        }
        assert!(t.attempt("someone-new", ip, now).is_err());
        assert!(t.attempt("someone-new", [10, 0, 0, 3].into(), now).is_ok());
    }

    #[test]
    fn a_right_password_gives_its_slot_back() {
        let t = throttle();
        let ip: IpAddr = [10, 0, 0, 4].into();
        let now = Instant::now();
        for _ in 0..2 {
            assert!(t.attempt("ann", ip, now).is_ok());
        }
        let right = now + Duration::from_secs(1);
        assert!(t.attempt("ann", ip, right).is_ok());
        t.succeeded("ann", ip, right);
        // The account starts afresh; the address keeps its two failures only.
        for _ in 0..3 {
            assert!(t.attempt("ann", ip, right).is_ok());
        }
        assert!(
            t.attempt("bob", ip, right).is_err(),
            "5 failures from the address"
        );
    }
}
