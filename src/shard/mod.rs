//! Shards: how the policies of a fleet are split between several leader-elected operator
//! pairs, and how a change of the shard count hands policies over without two writers.
//!
//! A policy belongs to shard `hash(namespace/name) mod N`, with a hash that is fixed across
//! releases (FNV-1a, 64 bit), so a restart or an upgrade never moves a policy. Shard `i` of
//! `N` elects its leader on its own Lease, `<id>-shard-<i>-of-<N>` (`<id>` alone when
//! `N` is 1, so a single replica keeps the Lease it has always used).
//!
//! While `N` changes, the old and the new shards run side by side for a moment and each
//! policy is owned by one shard of each count. The rule that keeps it to one writer: a
//! leader writes a policy only if no *other* count's Lease that owns the policy is held,
//! unexpired, and was acquired before its own. Every process reads the same acquire times
//! from the API server, so they agree on which Lease is older; exactly one owner of each
//! policy — the one whose Lease was acquired first — writes it, and a policy passes to the
//! new count the moment its old shard releases or loses its Lease.

mod guard;

use std::fmt;
use std::str::FromStr;

pub use guard::{WriteGate, spawn as spawn_guard};

/// The most shards `--shard` accepts.
pub const MAX_SHARDS: u32 = 1024;

/// One shard: `index` of `count`, written `i/N` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shard {
    /// This shard's number, from 0.
    pub index: u32,
    /// How many shards there are.
    pub count: u32,
}

impl Shard {
    /// The whole fleet on one shard: what runs without `--shard`.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// The shard of `count` that owns the policy `namespace/name`.
    pub fn of(namespace: &str, name: &str, count: u32) -> u32 {
        let count = count.max(1);
        (fnv1a(namespace, name) % u64::from(count)) as u32
    }

    /// Whether this shard owns the policy `namespace/name`.
    pub fn owns(&self, namespace: &str, name: &str) -> bool {
        Self::of(namespace, name, self.count) == self.index
    }

    /// The name of this shard's Lease, given the `--leader-election-id`.
    pub fn lease_name(&self, id: &str) -> String {
        if self.count == 1 {
            id.to_string()
        } else {
            format!("{id}-shard-{}-of-{}", self.index, self.count)
        }
    }

    /// The shard a Lease named by [`Shard::lease_name`] for `id` belongs to; `None` for a
    /// Lease that is not one of `id`'s.
    pub fn from_lease_name(id: &str, lease: &str) -> Option<Shard> {
        if lease == id {
            return Some(Shard::ALL);
        }
        let rest = lease.strip_prefix(id)?.strip_prefix("-shard-")?;
        let (index, count) = rest.split_once("-of-")?;
        let shard: Shard = format!("{index}/{count}").parse().ok()?;
        (shard.count > 1 && shard.lease_name(id) == lease).then_some(shard)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why a `--shard` value was refused, with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--shard {value:?}: {message}")]
pub struct ShardError {
    value: String,
    message: String,
}

impl ShardError {
    /// What is wrong with the value and how to write it.
    pub fn reason(&self) -> &str {
        &self.message
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let refuse = |message: String| ShardError {
            value: value.to_string(),
            message,
        };
        let (index, count) = value.trim().split_once('/').ok_or_else(|| {
            refuse("write it as INDEX/COUNT, e.g. `0/3` for the first of three shards".into())
        })?;
        let number = |text: &str, what: &str| {
            text.trim().parse::<u32>().map_err(|_| {
                refuse(format!(
                    "the {what} must be a whole number (INDEX/COUNT, e.g. `0/3`)"
                ))
            })
        };
        let shard = Shard {
            index: number(index, "index")?,
            count: number(count, "count")?,
        };
        if !(1..=MAX_SHARDS).contains(&shard.count) {
            return Err(refuse(format!(
                "the count must be between 1 and {MAX_SHARDS}"
            )));
        }
        if shard.index >= shard.count {
            return Err(refuse(format!(
                "the index counts from 0, so it must be below the count: 0 to {}",
                shard.count - 1
            )));
        }
        Ok(shard)
    }
}

/// FNV-1a over `namespace/name`. Fixed forever: changing it would move policies between
/// shards on an upgrade.
fn fnv1a(namespace: &str, name: &str) -> u64 {
    crate::fnv1a64(
        namespace
            .bytes()
            .chain(std::iter::once(b'/'))
            .chain(name.bytes()),
    )
}

/// What a shard leader knows of one shard Lease from its last list of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseView {
    /// The shard the Lease elects for.
    pub shard: Shard,
    /// Whether someone holds it: a holder is named and this process has not seen the
    /// record unchanged for its lease duration (the elector's own notion of expiry).
    pub held: bool,
    /// `spec.acquireTime` in microseconds since the epoch; a held Lease without one counts
    /// as acquired at the dawn of time, so it blocks rather than lets two write.
    pub acquired_us: Option<i64>,
}

/// The other counts' shards that keep `own` (whose Lease was acquired at `own_acquired_us`)
/// from writing the policies they own: held Leases of a different shard count acquired
/// before its own. Ties in acquire time go to the lower count, the same for every reader.
pub fn blockers(own: Shard, own_acquired_us: i64, leases: &[LeaseView]) -> Vec<Shard> {
    let mut found: Vec<Shard> = leases
        .iter()
        .filter(|lease| lease.held && lease.shard.count != own.count)
        .filter(|lease| {
            let theirs = lease.acquired_us.unwrap_or(i64::MIN);
            theirs < own_acquired_us || (theirs == own_acquired_us && lease.shard.count < own.count)
        })
        .map(|lease| lease.shard)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Whether the leader of `own`, kept back by `blockers`, writes the policy
/// `namespace/name`: it owns the policy and no blocker owns it too.
pub fn may_write(own: Shard, blockers: &[Shard], namespace: &str, name: &str) -> bool {
    own.owns(namespace, name) && !blockers.iter().any(|b| b.owns(namespace, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("team-{}", i % 7), format!("web-{i}")))
            .collect()
    }

    #[test]
    fn parses_index_of_count_and_explains_a_bad_value() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(" 0/1 ".parse::<Shard>(), Ok(Shard::ALL));
        let message = |v: &str| v.parse::<Shard>().unwrap_err().to_string();
        assert!(message("3").contains("INDEX/COUNT"), "{}", message("3"));
        assert!(message("3/3").contains("0 to 2"), "{}", message("3/3"));
        assert!(
            message("0/0").contains("between 1 and"),
            "{}",
            message("0/0")
        );
        assert!(message("a/3").contains("index must be a whole number"));
        assert!(message("1/x").contains("count must be a whole number"));
        assert!(message("-1/3").starts_with("--shard \"-1/3\""));
    }

    #[test]
    fn three_shards_split_policies_with_no_overlap_no_gap_and_near_even() {
        let policies = names(3000);
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        let mut sizes = [0usize; 3];
        for (ns, name) in &policies {
            let owners: Vec<_> = shards.iter().filter(|s| s.owns(ns, name)).collect();
            assert_eq!(owners.len(), 1, "{ns}/{name} has owners {owners:?}");
            sizes[owners[0].index as usize] += 1;
        }
        for size in sizes {
            assert!((850..=1150).contains(&size), "uneven split {sizes:?}");
        }
    }

    #[test]
    fn the_hash_does_not_change_between_releases() {
        // A changed hash would move policies between shards on an upgrade.
        // Pinned values, computed independently of this code (FNV-1a 64 of the bytes).
        assert_eq!(fnv1a("", ""), 0xaf63_a24c_8601_89fe); // "/"
        assert_eq!(fnv1a("default", "web"), 0x9d2b_a508_24d6_34bb);
        let placed: Vec<u32> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|n| Shard::of("default", n, 4))
            .collect();
        assert_eq!(placed, vec![2, 3, 0, 1, 2, 3]);
    }

    #[test]
    fn lease_names_round_trip_and_one_shard_keeps_the_plain_name() {
        assert_eq!(Shard::ALL.lease_name("prescaler"), "prescaler");
        let shard = Shard { index: 1, count: 3 };
        assert_eq!(shard.lease_name("prescaler"), "prescaler-shard-1-of-3");
        assert_eq!(
            Shard::from_lease_name("prescaler", "prescaler-shard-1-of-3"),
            Some(shard)
        );
        assert_eq!(
            Shard::from_lease_name("prescaler", "prescaler"),
            Some(Shard::ALL)
        );
        for other in [
            "other-shard-1-of-3",
            "prescaler-shard-3-of-3",
            "prescaler-shard-01-of-3",
            "prescaler-shard-0-of-1",
            "prescaler-extra",
        ] {
            assert_eq!(Shard::from_lease_name("prescaler", other), None, "{other}");
        }
    }

    fn held(index: u32, count: u32, acquired_us: i64) -> LeaseView {
        LeaseView {
            shard: Shard { index, count },
            held: true,
            acquired_us: Some(acquired_us),
        }
    }

    /// Every policy's writers when all of `leases` have leaders.
    fn writers(leases: &[LeaseView], ns: &str, name: &str) -> Vec<Shard> {
        leases
            .iter()
            .filter(|own| own.held)
            .filter(|own| {
                let acquired = own.acquired_us.unwrap_or(i64::MIN);
                let blocked = blockers(own.shard, acquired, leases);
                may_write(own.shard, &blocked, ns, name)
            })
            .map(|own| own.shard)
            .collect()
    }

    #[test]
    fn while_three_shards_become_four_every_policy_has_exactly_one_writer() {
        let old: Vec<LeaseView> = (0..3).map(|i| held(i, 3, 1_000 + i64::from(i))).collect();
        let new: Vec<LeaseView> = (0..4).map(|i| held(i, 4, 5_000 + i64::from(i))).collect();
        let both: Vec<LeaseView> = old.iter().chain(&new).cloned().collect();
        for (ns, name) in names(600) {
            // Both counts up: the older (3-shard) owner writes.
            let w = writers(&both, &ns, &name);
            assert_eq!(
                w,
                vec![Shard {
                    index: Shard::of(&ns, &name, 3),
                    count: 3
                }]
            );
        }
        // Old shard 1 releases its Lease: its policies pass to the new owners at once,
        // the other old shards keep theirs.
        let mut partly = both.clone();
        partly[1].held = false;
        for (ns, name) in names(600) {
            let w = writers(&partly, &ns, &name);
            assert_eq!(w.len(), 1, "{ns}/{name}: {w:?}");
            let expected = if Shard::of(&ns, &name, 3) == 1 { 4 } else { 3 };
            assert_eq!(w[0].count, expected, "{ns}/{name}");
        }
    }

    #[test]
    fn a_standby_taking_over_an_old_shard_yields_to_the_newer_count() {
        // Old shard 0's leader died; the new count took its policies; then the old
        // standby acquired the Lease again — later than the new leases, so it waits.
        let leases = vec![held(0, 3, 9_000), held(0, 4, 5_000), held(1, 4, 5_000)];
        assert_eq!(
            blockers(Shard { index: 0, count: 3 }, 9_000, &leases),
            vec![Shard { index: 0, count: 4 }, Shard { index: 1, count: 4 }]
        );
        assert!(blockers(Shard { index: 0, count: 4 }, 5_000, &leases).is_empty());
        // Same count never blocks, and neither does a Lease nobody holds.
        let mut free = held(2, 4, 1);
        free.held = false;
        assert!(blockers(Shard { index: 1, count: 4 }, 5_000, &[free, held(0, 4, 1)]).is_empty());
        // A held Lease with no acquire time blocks rather than risk two writers.
        let unknown = LeaseView {
            acquired_us: None,
            ..held(0, 3, 0)
        };
        assert_eq!(
            blockers(Shard { index: 0, count: 4 }, 5_000, &[unknown]),
            vec![Shard { index: 0, count: 3 }]
        );
        // Equal acquire times: the lower count wins, for both readers.
        let tie = [held(0, 3, 7), held(0, 4, 7)];
        assert!(blockers(Shard { index: 0, count: 3 }, 7, &tie).is_empty());
        assert_eq!(blockers(Shard { index: 0, count: 4 }, 7, &tie).len(), 1);
    }
}
