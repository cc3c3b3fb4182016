//! The reconcile queue: every policy that is due waits in one line, first come, first
//! served, and `--concurrency` workers take from its head.
//!
//! kube-runtime's controller is not used to run reconciles, for two reasons found at
//! 10,000 policies (docs/operations.md, "Sizing"). Its runner polls every reconcile it has
//! handed out each time any of them wakes, which costs O(reconciles in flight) per wake;
//! and once its concurrency limit is reached it hands a free slot to a due policy in the
//! hash order of its pending set, so while reconciles do not keep up the same policies
//! wait every time. This queue keeps the semantics operators expect of a controller's work
//! queue: one reconcile of a policy at a time; a change seen while it runs makes it run
//! again right after; a requeue never delays an earlier one; a deleted policy is dropped.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// What a reconcile asks of the queue when it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    requeue_after: Option<Duration>,
}

impl Action {
    /// Run again after `wait`, unless a change runs it sooner.
    pub fn requeue(wait: Duration) -> Self {
        Self {
            requeue_after: Some(wait),
        }
    }

    /// Run again only when the policy changes.
    pub fn await_change() -> Self {
        Self {
            requeue_after: None,
        }
    }

    /// When to run again, if nothing changes first.
    pub fn requeue_after(&self) -> Option<Duration> {
        self.requeue_after
    }
}

struct Line<K> {
    /// Due now, in the order they became due.
    ready: VecDeque<K>,
    /// The keys in `ready`.
    queued: HashSet<K>,
    /// Reconciling now.
    running: HashSet<K>,
    /// Changed while reconciling: run again once done.
    again: HashSet<K>,
    /// When each waiting key is due, and the keys by that time (the sequence number keeps
    /// keys due at the same instant apart, in the order they were scheduled).
    due: HashMap<K, (Instant, u64)>,
    by_time: BTreeMap<(Instant, u64), K>,
    seq: u64,
    closed: bool,
}

impl<K: Hash + Eq + Clone> Line<K> {
    fn push_ready(&mut self, key: K) {
        if let Some(at) = self.due.remove(&key) {
            self.by_time.remove(&at);
        }
        if self.queued.insert(key.clone()) {
            self.ready.push_back(key);
        }
    }

    /// Schedules `key` at `at` unless it is due sooner already; true if it is now the
    /// earliest timer.
    fn schedule(&mut self, key: K, at: Instant) -> bool {
        if self.queued.contains(&key) {
            return false;
        }
        if let Some(&(old, seq)) = self.due.get(&key) {
            if old <= at {
                return false;
            }
            self.by_time.remove(&(old, seq));
        }
        self.seq += 1;
        self.due.insert(key.clone(), (at, self.seq));
        self.by_time.insert((at, self.seq), key);
        self.by_time.keys().next() == Some(&(at, self.seq))
    }

    /// Moves every key due by `now` to the line; the next time one falls due.
    fn release(&mut self, now: Instant) -> (usize, Option<Instant>) {
        let mut moved = 0;
        while let Some(entry) = self.by_time.first_entry() {
            if entry.key().0 > now {
                return (moved, Some(entry.key().0));
            }
            let key = entry.remove();
            self.due.remove(&key);
            if self.queued.insert(key.clone()) {
                self.ready.push_back(key);
                moved += 1;
            }
        }
        (moved, None)
    }
}

/// The line of due keys, shared by the watch, the timers and the workers.
pub struct Queue<K> {
    line: Mutex<Line<K>>,
    work: Notify,
    timer: Notify,
}

impl<K: Hash + Eq + Clone> Default for Queue<K> {
    fn default() -> Self {
        Self {
            line: Mutex::new(Line {
                ready: VecDeque::new(),
                queued: HashSet::new(),
                running: HashSet::new(),
                again: HashSet::new(),
                due: HashMap::new(),
                by_time: BTreeMap::new(),
                seq: 0,
                closed: false,
            }),
            work: Notify::new(),
            timer: Notify::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Queue<K> {
    fn line(&self) -> std::sync::MutexGuard<'_, Line<K>> {
        self.line.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `key` is due now: it joins the end of the line (once), or runs again right after
    /// the reconcile in progress.
    pub fn now(&self, key: K) {
        let mut line = self.line();
        if line.closed {
            return;
        }
        if line.running.contains(&key) {
            line.again.insert(key);
            return;
        }
        line.push_ready(key);
        drop(line);
        self.work.notify_one();
    }

    /// `key` is gone: its timer is dropped. A reconcile in progress finishes; the worker
    /// drops the key when it finds no object for it.
    pub fn forget(&self, key: &K) {
        let mut line = self.line();
        if let Some(at) = line.due.remove(key) {
            line.by_time.remove(&at);
        }
        line.again.remove(key);
    }

    /// Waits for the key at the head of the line and marks it running; `None` once closed.
    pub async fn next(&self) -> Option<K> {
        loop {
            let notified = self.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut line = self.line();
                if line.closed {
                    return None;
                }
                if let Some(key) = line.ready.pop_front() {
                    line.queued.remove(&key);
                    line.running.insert(key.clone());
                    let more = !line.ready.is_empty();
                    drop(line);
                    if more {
                        // Another worker may be idle.
                        self.work.notify_one();
                    }
                    return Some(key);
                }
            }
            notified.await;
        }
    }

    /// The reconcile of `key` is over: it runs again at once if it changed meanwhile,
    /// else when `requeue_after` says.
    pub fn done(&self, key: K, requeue_after: Option<Duration>) {
        let mut line = self.line();
        line.running.remove(&key);
        if line.closed {
            return;
        }
        if line.again.remove(&key) {
            line.push_ready(key);
            drop(line);
            self.work.notify_one();
        } else if let Some(wait) = requeue_after {
            let earliest = line.schedule(key, Instant::now() + wait);
            drop(line);
            if earliest {
                self.timer.notify_one();
            }
        }
    }

    /// Nothing new starts; idle workers and the timer task return.
    pub fn close(&self) {
        self.line().closed = true;
        self.work.notify_waiters();
        self.timer.notify_one();
    }

    /// Moves keys to the line as they fall due, until closed.
    pub async fn run_timers(&self) {
        loop {
            let notified = self.timer.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (moved, next) = {
                let mut line = self.line();
                if line.closed {
                    return;
                }
                line.release(Instant::now())
            };
            for _ in 0..moved {
                self.work.notify_one();
            }
            match next {
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = &mut notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Keys waiting in the line now.
    pub fn waiting(&self) -> usize {
        self.line().ready.len()
    }
}

/// Runs `workers` workers on `queue` until it is closed. Each takes the key at the head of
/// the line, looks it up with `find` (a key with no object is dropped), reconciles it, and
/// hands the outcome back to the queue. A reconcile that panics is logged and retried
/// through `on_error`'s wait like a failed one, so a bug in one policy's reconcile never
/// stops the others.
pub async fn run<K, O, E, Find, Rec, RecFut, OnErr>(
    queue: Arc<Queue<K>>,
    workers: usize,
    find: Find,
    reconcile: Rec,
    on_error: OnErr,
) where
    K: Hash + Eq + Clone + Send + Sync + std::fmt::Display + 'static,
    O: Send + Sync + 'static,
    E: std::fmt::Display + Send + 'static,
    Find: Fn(&K) -> Option<Arc<O>> + Send + Sync + 'static,
    Rec: Fn(Arc<O>) -> RecFut + Send + Sync + 'static,
    RecFut: Future<Output = Result<Action, E>> + Send + 'static,
    OnErr: Fn(Arc<O>, Option<&E>) -> Action + Send + Sync + 'static,
{
    use futures::FutureExt;
    let shared = Arc::new((find, reconcile, on_error));
    let timers = tokio::spawn({
        let queue = queue.clone();
        async move { queue.run_timers().await }
    });
    let mut handles = Vec::with_capacity(workers.max(1));
    for _ in 0..workers.max(1) {
        let queue = queue.clone();
        let shared = shared.clone();
        handles.push(tokio::spawn(async move {
            let (find, reconcile, on_error) = &*shared;
            while let Some(key) = queue.next().await {
                let Some(object) = find(&key) else {
                    queue.done(key, None);
                    continue;
                };
                let outcome = std::panic::AssertUnwindSafe(reconcile(object.clone()))
                    .catch_unwind()
                    .await;
                let action = match outcome {
                    Ok(Ok(action)) => action,
                    Ok(Err(error)) => on_error(object, Some(&error)),
                    Err(_) => {
                        tracing::error!(policy = %key, "reconcile panicked; retrying after a backoff");
                        on_error(object, None)
                    }
                };
                queue.done(key, action.requeue_after());
            }
        }));
    }
    for handle in handles {
        let _ = handle.await;
    }
    timers.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_ready(queue: &Queue<u32>) -> Vec<u32> {
        let mut line = queue.line();
        let keys: Vec<u32> = line.ready.drain(..).collect();
        for key in &keys {
            line.queued.remove(key);
            line.running.insert(*key);
        }
        keys
    }

    #[tokio::test(start_paused = true)]
    async fn keys_are_served_in_the_order_they_fell_due_not_in_hash_order() {
        let queue = Queue::default();
        // Scheduled in one order, due in another.
        for (key, secs) in [(7, 3), (1, 1), (42, 2), (9, 1)] {
            queue.line().running.insert(key);
            queue.done(key, Some(Duration::from_secs(secs)));
        }
        tokio::time::advance(Duration::from_secs(5)).await;
        let (moved, next) = queue.line().release(Instant::now());
        assert_eq!((moved, next), (4, None));
        assert_eq!(take_ready(&queue), vec![1, 9, 42, 7]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_is_in_the_line_once_and_an_earlier_timer_wins() {
        let queue = Queue::default();
        queue.now(5);
        queue.now(5);
        assert_eq!(queue.waiting(), 1);
        assert_eq!(take_ready(&queue), vec![5]);
        queue.done(5, Some(Duration::from_secs(15)));
        // A later requeue does not push the earlier one back ...
        assert!(
            !queue
                .line()
                .schedule(5, Instant::now() + Duration::from_secs(60))
        );
        // ... a sooner one brings it forward.
        assert!(
            queue
                .line()
                .schedule(5, Instant::now() + Duration::from_secs(2))
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(queue.line().release(Instant::now()), (1, None));
        // A key due now has no timer left.
        queue
            .line()
            .schedule(6, Instant::now() + Duration::from_secs(1));
        queue.now(6);
        assert!(queue.line().due.is_empty());
        assert_eq!(take_ready(&queue), vec![5, 6]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_during_a_reconcile_runs_it_again_right_after() {
        let queue = Queue::default();
        queue.now(3);
        assert_eq!(queue.next().await, Some(3));
        queue.now(3);
        assert_eq!(
            queue.waiting(),
            0,
            "never two reconciles of one key at once"
        );
        queue.done(3, Some(Duration::from_secs(15)));
        assert_eq!(queue.waiting(), 1);
        assert_eq!(queue.next().await, Some(3));
        queue.done(3, None);
        assert_eq!(queue.waiting(), 0);
        assert!(queue.line().due.is_empty(), "await_change sets no timer");
    }

    #[tokio::test(start_paused = true)]
    async fn a_forgotten_key_keeps_no_timer() {
        let queue = Queue::default();
        queue.now(1);
        assert_eq!(queue.next().await, Some(1));
        queue.done(1, Some(Duration::from_secs(15)));
        queue.forget(&1);
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(queue.line().release(Instant::now()), (0, None));
    }

    #[tokio::test(start_paused = true)]
    async fn workers_reconcile_every_key_again_on_its_requeue_and_stop_when_closed() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let queue: Arc<Queue<u32>> = Arc::new(Queue::default());
        let runs = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let runner = tokio::spawn(run(
            queue.clone(),
            2,
            // Key 99 has no object: dropped without a reconcile.
            |key: &u32| (*key != 99).then(|| Arc::new(*key)),
            {
                let runs = runs.clone();
                let count = count.clone();
                move |key: Arc<u32>| {
                    let runs = runs.clone();
                    let count = count.clone();
                    async move {
                        runs.lock().unwrap().push((*key, Instant::now()));
                        count.fetch_add(1, Ordering::SeqCst);
                        if *key == 13 {
                            return Err("broken");
                        }
                        if *key == 666 {
                            panic!("a bug in one policy's reconcile");
                        }
                        Ok(Action::requeue(Duration::from_secs(15)))
                    }
                }
            },
            |_: Arc<u32>, _: Option<&&str>| Action::requeue(Duration::from_secs(5)),
        ));
        let start = Instant::now();
        for key in [1, 2, 3, 99, 13, 666] {
            queue.now(key);
        }
        tokio::time::sleep(Duration::from_secs(31)).await;
        queue.close();
        runner.await.unwrap();
        let runs = runs.lock().unwrap().clone();
        let times = |k: u32| -> Vec<u64> {
            runs.iter()
                .filter(|(key, _)| *key == k)
                .map(|(_, at)| (*at - start).as_secs())
                .collect()
        };
        assert_eq!(times(1), vec![0, 15, 30]);
        assert_eq!(times(3), vec![0, 15, 30]);
        assert!(times(99).is_empty());
        // Failed and panicked reconciles are retried on the error wait.
        assert_eq!(times(13), vec![0, 5, 10, 15, 20, 25, 30]);
        assert_eq!(times(666), vec![0, 5, 10, 15, 20, 25, 30]);
        let before = count.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(count.load(Ordering::SeqCst), before, "closed: nothing runs");
    }
}
