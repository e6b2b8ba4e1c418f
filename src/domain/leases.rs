//! How replicas sharing one database split the fleet: each live replica holds about an
//! equal share of the targets, and the longest-running replica does the fleet-wide chores.

/// A replica as the others see it (times in Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Replica {
    pub id: String,
    pub name: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
}

/// What one heartbeat saw: the live replicas, oldest first, and the fleet's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    pub replicas: Vec<Replica>,
    pub targets: usize,
    /// Targets this replica holds.
    pub held: usize,
}

/// How many targets to take or give back in one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebalance {
    pub claim: usize,
    pub release: usize,
}

impl ClusterView {
    /// The most any replica should hold: the fleet divided by the live replicas, rounded up,
    /// so together they always cover every target.
    pub fn fair_share(&self) -> usize {
        self.targets.div_ceil(self.replicas.len().max(1))
    }

    /// Claims up to the fair share; gives back what is above it, so a replica that joins
    /// finds free targets at its next round.
    pub fn rebalance(&self) -> Rebalance {
        let share = self.fair_share();
        Rebalance {
            claim: share.saturating_sub(self.held),
            release: self.held.saturating_sub(share),
        }
    }

    /// Fleet-wide chores (rollups, scheduled backups, the RPO watch) run on one replica:
    /// the oldest live one, which changes only when it leaves or dies.
    pub fn leads(&self, replica_id: &str) -> bool {
        self.replicas.first().is_some_and(|r| r.id == replica_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(replicas: usize, targets: usize, held: usize) -> ClusterView {
        ClusterView {
            replicas: (0..replicas)
                .map(|i| Replica {
                    id: format!("r{i}"),
                    name: format!("r{i}"),
                    started_at: i as i64,
                    heartbeat_at: 0,
                })
                .collect(),
            targets,
            held,
        }
    }

    #[test]
    fn shares_cover_the_whole_fleet() {
        assert_eq!(view(3, 20, 0).fair_share(), 7);
        assert!(3 * view(3, 20, 0).fair_share() >= 20);
        assert_eq!(view(1, 10_000, 0).fair_share(), 10_000);
        assert_eq!(view(4, 0, 0).fair_share(), 0);
        // A replica that sees no live replica (its own row just expired) still has a share.
        assert_eq!(view(0, 5, 0).fair_share(), 5);
    }

    #[test]
    fn a_full_replica_gives_back_its_surplus_when_another_joins() {
        // Alone, it took everything.
        assert_eq!(
            view(1, 20, 0).rebalance(),
            Rebalance {
                claim: 20,
                release: 0
            }
        );
        // A second replica joins: share 10, so ten go back.
        assert_eq!(
            view(2, 20, 20).rebalance(),
            Rebalance {
                claim: 0,
                release: 10
            }
        );
        // One of three dies: the survivors' shares grow to 10.
        assert_eq!(
            view(2, 20, 7).rebalance(),
            Rebalance {
                claim: 3,
                release: 0
            }
        );
    }

    #[test]
    fn the_oldest_live_replica_leads() {
        let cluster = view(3, 10, 3);
        assert!(cluster.leads("r0"));
        assert!(!cluster.leads("r1"));
        assert!(!view(0, 10, 0).leads("r0"));
    }
}
