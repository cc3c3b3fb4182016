//! The write gate of a shard leader: which policies this process may write now.
//!
//! Leadership of its own Lease is not enough while the shard count changes, because a
//! policy then has an owner under each count. Once per renew period the guard lists the
//! shard Leases of the same `--leader-election-id` and works out, with [`blockers`], which
//! other-count shards were there first. A new leader writes nothing until a list made at
//! least one renew period after it took its Lease: a rival that took its own Lease a moment
//! earlier has then become visible (this assumes node clocks agree to within a renew
//! period, as Kubernetes' own leader election does).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use kube::api::{Api, ListParams};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{LeaseView, Shard, blockers, may_write};
use crate::leader::{Leadership, LeaseConfig};

/// What the guard last worked out: `None` while this process may write nothing (not the
/// holder of its Lease, or not yet a renew period into holding it), else the other-count
/// shards that keep it from writing the policies they own.
type Clearance = Option<Arc<[Shard]>>;

/// Which policies this process may write, checked right before every write.
#[derive(Clone, Debug)]
pub struct WriteGate {
    shard: Shard,
    leadership: Leadership,
    clearance: watch::Receiver<Clearance>,
    /// Keeps the channel open when no guard runs (leader election off).
    _fixed: Option<Arc<watch::Sender<Clearance>>>,
}

impl WriteGate {
    /// The gate without leader election: this process writes every policy.
    pub fn always() -> Self {
        let (tx, rx) = watch::channel(Some(Arc::from(Vec::new())));
        Self {
            shard: Shard::ALL,
            leadership: Leadership::always(),
            clearance: rx,
            _fixed: Some(Arc::new(tx)),
        }
    }

    /// The shard this process serves.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// True while this process leads its shard and the guard has cleared it to write.
    pub fn leads(&self) -> bool {
        self.leadership.is_leader() && self.clearance.borrow().is_some()
    }

    /// Whether this process may write the policy `namespace/name` now.
    pub fn may_write(&self, namespace: &str, name: &str) -> bool {
        if !self.leadership.is_leader() {
            return false;
        }
        match &*self.clearance.borrow() {
            Some(blocking) => may_write(self.shard, blocking, namespace, name),
            None => false,
        }
    }

    /// The leadership handle, for the leader metric.
    pub fn leadership(&self) -> &Leadership {
        &self.leadership
    }

    /// Waits until what this process may write may have grown (it became the leader and
    /// was cleared, or a blocking shard let go), so that every policy is reconciled at once.
    /// Returns false when it shrank instead (leadership lost).
    pub async fn changed(&mut self) -> bool {
        tokio::select! {
            _ = self.leadership.changed() => {}
            changed = self.clearance.changed() => {
                if changed.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
        self.leads()
    }
}

/// Starts the guard for `shard`, whose Lease `config` elects on, among the Leases of
/// `id` (the `--leader-election-id`). The gate closes when the task ends.
pub fn spawn(
    client: kube::Client,
    config: &LeaseConfig,
    id: &str,
    shard: Shard,
    leadership: Leadership,
) -> (WriteGate, JoinHandle<()>) {
    let (tx, rx) = watch::channel(None);
    let guard = Guard {
        api: Api::namespaced(client, &config.namespace),
        book: Book::new(config, id, shard),
        last_ok: None,
        warned: None,
    };
    let task = tokio::spawn(guard.run(tx));
    let gate = WriteGate {
        shard,
        leadership,
        clearance: rx,
        _fixed: None,
    };
    (gate, task)
}

struct Guard {
    api: Api<Lease>,
    book: Book,
    last_ok: Option<Instant>,
    warned: Option<Instant>,
}

/// What the guard remembers between lists of the Leases.
struct Book {
    id: String,
    own: String,
    identity: String,
    shard: Shard,
    renew_period: Duration,
    lease_duration: Duration,
    /// Per Lease name: its record as last seen and since when, for expiry.
    seen: HashMap<String, (LeaseSpec, Instant)>,
    /// Own Lease's acquire time and when the guard first saw this process holding it.
    mine_since: Option<(i64, Instant)>,
}

impl Guard {
    async fn run(mut self, tx: watch::Sender<Clearance>) {
        let renew_period = self.book.renew_period;
        let shard = self.book.shard;
        let mut tick = tokio::time::interval(renew_period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let started = Instant::now();
            let listed = tokio::time::timeout(
                renew_period.max(Duration::from_secs(1)),
                self.api.list(&ListParams::default()),
            )
            .await;
            let clearance = match listed {
                Ok(Ok(list)) => {
                    self.last_ok = Some(started);
                    self.book.clearance(&list.items, started)
                }
                failed => {
                    let error = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => "the API server did not answer in time".to_string(),
                    };
                    if self
                        .warned
                        .is_none_or(|at| at.elapsed() >= Duration::from_secs(30))
                    {
                        self.warned = Some(Instant::now());
                        warn!(%error, "cannot list the shard Leases (the service account needs `list` on leases in the Lease namespace); retrying");
                    }
                    // Blockers only go away through lists that succeed; a stale answer is
                    // kept until the Lease duration is up, then nothing is written.
                    if self
                        .last_ok
                        .is_some_and(|at| at.elapsed() < self.book.lease_duration)
                    {
                        continue;
                    }
                    None
                }
            };
            tx.send_if_modified(|current| {
                let changed = *current != clearance;
                if changed {
                    match &clearance {
                        Some(b) if b.is_empty() => {
                            info!(shard = %shard, "cleared to write every policy of this shard")
                        }
                        Some(b) => {
                            let held: Vec<String> = b.iter().map(Shard::to_string).collect();
                            info!(shard = %shard, waiting_for = %held.join(", "), "writing the policies no older shard of another count still holds")
                        }
                        None => {}
                    }
                    *current = clearance.clone();
                }
                changed
            });
        }
    }
}

impl Book {
    fn new(config: &LeaseConfig, id: &str, shard: Shard) -> Self {
        Self {
            id: id.to_string(),
            own: config.name.clone(),
            identity: config.identity.clone(),
            shard,
            renew_period: config.renew_period,
            lease_duration: config.lease_duration,
            seen: HashMap::new(),
            mine_since: None,
        }
    }

    /// Works out the clearance from one list of the Leases.
    fn clearance(&mut self, leases: &[Lease], started: Instant) -> Clearance {
        let mut views = Vec::new();
        let mut own_acquired = None;
        let mut names = Vec::new();
        for lease in leases {
            let Some(name) = lease.metadata.name.as_deref() else {
                continue;
            };
            let Some(shard) = Shard::from_lease_name(&self.id, name) else {
                continue;
            };
            names.push(name.to_string());
            let spec = lease.spec.clone().unwrap_or_default();
            let acquired_us = spec.acquire_time.as_ref().map(|t| t.0.as_microsecond());
            let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
            if name == self.own {
                if holder.as_deref() == Some(self.identity.as_str()) {
                    own_acquired = acquired_us;
                }
                continue;
            }
            let expired = self.expired(name, &spec, started);
            views.push(LeaseView {
                shard,
                held: holder.is_some() && !expired,
                acquired_us,
            });
        }
        self.seen.retain(|name, _| names.contains(name));
        let Some(acquired) = own_acquired else {
            self.mine_since = None;
            return None;
        };
        let since = match self.mine_since {
            Some((at, since)) if at == acquired => since,
            _ => {
                self.mine_since = Some((acquired, started));
                started
            }
        };
        if started < since + self.renew_period {
            return None;
        }
        Some(Arc::from(blockers(self.shard, acquired, &views)))
    }

    /// Whether the record has been seen unchanged for its lease duration.
    fn expired(&mut self, name: &str, spec: &LeaseSpec, now: Instant) -> bool {
        let since = match self.seen.get(name) {
            Some((seen, at)) if seen == spec => *at,
            _ => {
                self.seen.insert(name.to_string(), (spec.clone(), now));
                now
            }
        };
        let duration = spec
            .lease_duration_seconds
            .filter(|s| *s > 0)
            .map_or(self.lease_duration, |s| Duration::from_secs(s as u64));
        now >= since + duration
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
    use k8s_openapi::jiff::Timestamp;

    fn lease(name: &str, holder: &str, acquired_s: i64) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                acquire_time: Some(MicroTime(Timestamp::from_second(acquired_s).unwrap())),
                lease_duration_seconds: Some(15),
                ..LeaseSpec::default()
            }),
        }
    }

    fn book(shard: Shard) -> Book {
        let config = LeaseConfig {
            namespace: "prescaler".into(),
            name: shard.lease_name("prescaler"),
            identity: "me".into(),
            lease_duration: Duration::from_secs(15),
            renew_period: Duration::from_secs(2),
        };
        Book::new(&config, "prescaler", shard)
    }

    #[test]
    fn a_new_leader_waits_a_renew_period_then_yields_to_an_older_count() {
        let own = Shard { index: 1, count: 4 };
        let mut book = book(own);
        let t0 = Instant::now();
        let leases = vec![
            lease("prescaler-shard-1-of-4", "me", 1_000),
            lease("prescaler-shard-0-of-3", "old-0", 900),
            lease("prescaler-shard-2-of-3", "old-2", 1_100),
            lease("unrelated", "someone", 10),
        ];
        assert_eq!(
            book.clearance(&leases, t0),
            None,
            "too soon after taking the Lease"
        );
        let later = t0 + Duration::from_secs(2);
        let blocking = book
            .clearance(&leases, later)
            .expect("cleared after a renew period");
        assert_eq!(&*blocking, &[Shard { index: 0, count: 3 }]);
    }

    #[test]
    fn an_older_count_stops_blocking_when_released_or_expired() {
        let own = Shard { index: 0, count: 2 };
        let mut book = book(own);
        let t0 = Instant::now();
        let mut leases = vec![
            lease("prescaler-shard-0-of-2", "me", 1_000),
            lease("prescaler", "old", 10),
        ];
        book.clearance(&leases, t0);
        let t1 = t0 + Duration::from_secs(3);
        assert_eq!(
            book.clearance(&leases, t1).as_deref(),
            Some(&[Shard::ALL][..])
        );
        // Unchanged for its 15 s: expired.
        let t2 = t0 + Duration::from_secs(16);
        assert_eq!(book.clearance(&leases, t2).as_deref(), Some(&[][..]));
        // Renewed again: held; released: free.
        leases[1].spec.as_mut().unwrap().renew_time =
            Some(MicroTime(Timestamp::from_second(2_000).unwrap()));
        assert_eq!(
            book.clearance(&leases, t2).as_deref(),
            Some(&[Shard::ALL][..])
        );
        leases[1].spec.as_mut().unwrap().holder_identity = None;
        assert_eq!(book.clearance(&leases, t2).as_deref(), Some(&[][..]));
    }

    #[test]
    fn not_holding_the_own_lease_clears_nothing() {
        let own = Shard { index: 0, count: 2 };
        let mut book = book(own);
        let t0 = Instant::now();
        let leases = vec![lease("prescaler-shard-0-of-2", "someone-else", 1_000)];
        assert_eq!(book.clearance(&leases, t0), None);
        assert_eq!(book.clearance(&leases, t0 + Duration::from_secs(60)), None);
    }
}
