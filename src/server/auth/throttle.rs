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

    /// `Some(wait)` when this attempt must be refused without checking the password.
    pub fn locked(&self, account: &str, ip: IpAddr, now: Instant) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
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

    pub fn record_failure(&self, account: &str, ip: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_KEYS {
            let window = self.limits.window;
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

    /// A successful login clears its account's failures (not the address's).
    pub fn record_success(&self, account: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&Key::Account(account.to_owned()));
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
            assert_eq!(t.locked("ann", ip, start), None);
            t.record_failure("ann", ip, start);
        }
        let wait = t.locked("ann", ip, start).expect("locked");
        assert_eq!(wait, Duration::from_secs(600));
        assert_eq!(t.locked("ann", ip, start + Duration::from_secs(601)), None);
    }

    #[test]
    fn one_address_spraying_names_is_locked_too() {
        let t = throttle();
        let ip: IpAddr = [10, 0, 0, 2].into();
        let now = Instant::now();
        for n in 0..5 {
            t.record_failure(&format!("user{n}"), ip, now);
        }
        assert!(t.locked("someone-new", ip, now).is_some());
        assert!(t.locked("someone-new", [10, 0, 0, 3].into(), now).is_none());
    }
}
