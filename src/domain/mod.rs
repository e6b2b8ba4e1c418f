//! Pure types and rules shared by the server and the browser: no I/O here.
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod canonical_json;
pub mod capacity;
pub mod checks;
pub mod csv;
pub mod demo;
pub mod deploys;
pub mod error;
pub mod escalation;
pub mod exposition;
pub mod incidents;
pub mod leases;
pub mod live;
pub mod notifications;
pub mod observation;
pub mod offers;
pub mod oncall;
pub mod readiness;
pub mod runbooks;
pub mod series;
pub mod signals;
pub mod silences;
pub mod target;
pub mod target_files;
pub mod tool_signals;
pub mod tools;

/// A count with its noun, as people write it: "1 alert", "3 alerts".
pub fn counted(n: impl Into<u64>, noun: &str) -> String {
    match n.into() {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// The middle value (the mean of the two middle ones for an even count); `None` for none.
pub fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n.is_multiple_of(2) => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
        _ => Some(values[n / 2]),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(super::counted(1_u32, "alert"), "1 alert");
        assert_eq!(super::counted(0_u32, "alert"), "0 alerts");
        assert_eq!(super::counted(12_u32, "step"), "12 steps");
    }
}
