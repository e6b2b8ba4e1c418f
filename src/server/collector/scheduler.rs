//! The schedule: every target polled on its own jittered interval, never two polls of one
//! target at once, and the targets this replica holds re-read as they change.
use super::*;

struct Slot {
    polled: Arc<PolledTarget>,
    /// Present while no poll is running; a running poll owns it, so polls never overlap.
    memory: Option<TargetMemory>,
}

struct Finished {
    polled: Arc<PolledTarget>,
    due: Instant,
    memory: TargetMemory,
}

pub(super) struct Scheduler {
    pub(super) context: Arc<PollContext>,
    pub(super) store: Arc<dyn Store>,
    pub(super) directory: TargetDirectory,
    /// Where store calls run (see `on_shared_runtime`).
    pub(super) shared_runtime: Handle,
    pub(super) reload: Arc<Notify>,
    pub(super) leases: Leases,
    pub(super) stopping: CancellationToken,
}

/// The targets this replica may poll.
pub(super) struct Leases {
    pub(super) membership: Membership,
    /// When replicas share the database: the targets this one holds.
    pub(super) held: HashSet<i64>,
    /// The membership these leases were claimed under.
    pub(super) generation: u64,
}

impl Leases {
    fn allows(&self, target_id: i64) -> bool {
        matches!(self.membership, Membership::Solo) || self.held.contains(&target_id)
    }

    /// One round after a heartbeat: gives back what is above this replica's fair share (only
    /// targets not being polled right now, so no poll outlives its lease) and claims what is
    /// below it. Returns whether the held set changed.
    async fn rebalance(
        &mut self,
        store: &Arc<dyn Store>,
        runtime: &Handle,
        idle: impl Fn(i64) -> bool,
    ) -> bool {
        let Some(standing) = self.membership.standing() else {
            return false;
        };
        let before = std::mem::take(&mut self.held);
        if standing.generation == self.generation {
            self.held = before.clone();
        } else {
            // The membership lapsed: anything held under it may be polled elsewhere already.
            self.generation = standing.generation;
        }
        let view = ClusterView {
            held: self.held.len(),
            ..standing.view
        };
        let wanted = view.rebalance();
        let me = standing.replica_id;
        if wanted.release > 0 {
            let give_back: Vec<i64> = self
                .held
                .iter()
                .copied()
                .filter(|id| idle(*id))
                .take(wanted.release)
                .collect();
            let released = on_shared_runtime(runtime, store, {
                let (me, give_back) = (me.clone(), give_back.clone());
                move |store| async move { store.release_targets(&me, &give_back).await }
            });
            match released.await {
                Ok(()) => self.held.retain(|id| !give_back.contains(id)),
                Err(err) => tracing::warn!(error = %err, "could not give targets back"),
            }
        }
        if wanted.claim > 0 {
            let now = chrono::Utc::now().timestamp_millis();
            let me = me.clone();
            let claimed = on_shared_runtime(runtime, store, move |store| async move {
                store.claim_targets(&me, now, wanted.claim).await
            });
            match claimed.await {
                Ok(claimed) => self.held.extend(claimed),
                Err(err) => tracing::warn!(error = %err, "could not claim targets"),
            }
        }
        // The store has the last word (a target deleted, leases cleared by hand).
        let held = on_shared_runtime(runtime, store, move |store| async move {
            store.held_targets(&me).await
        });
        match held.await {
            Ok(held) => self.held = held.into_iter().collect(),
            Err(err) => tracing::warn!(error = %err, "could not read the targets held"),
        }
        self.held != before
    }
}

/// Targets are also re-read on this period, for changes made by another process.
const REFRESH_EVERY: Duration = Duration::from_secs(30);

/// Polls that fall due close together are started together: the polling thread then wakes
/// twenty times a second, not once per poll, and the answers to polls started together
/// arrive together. Waking up cost more than the polls themselves: at 2,000 targets a 50 ms
/// tick measured 0.20 CPU seconds per 1,000 polls against 0.26 with 20 ms. Polls start up to
/// this much late (lag p50 about 25 ms), which a 10 s interval does not notice.
const LAUNCH_TICK: Duration = Duration::from_millis(50);

impl Scheduler {
    pub(super) async fn run(mut self) {
        let permits = Arc::new(Semaphore::new(self.context.config.concurrency.max(1)));
        let mut slots: HashMap<i64, Slot> = HashMap::new();
        let mut queue: BinaryHeap<Reverse<(Instant, i64)>> = BinaryHeap::new();
        let (finished_tx, mut finished) = mpsc::unbounded_channel::<Finished>();
        let mut next_refresh = Instant::now();
        let mut heartbeats = self.leases.membership.heartbeats();
        let mut next_launch = Instant::now();

        loop {
            if Instant::now() >= next_refresh {
                self.refresh(&mut slots, &mut queue).await;
                next_refresh = Instant::now() + REFRESH_EVERY;
            }
            let wake = queue.peek().map_or(next_refresh, |Reverse((due, _))| {
                (*due).max(next_launch).min(next_refresh)
            });
            tokio::select! {
                () = self.stopping.cancelled() => break,
                () = self.reload.notified() => next_refresh = Instant::now(),
                Some(done) = finished.recv() => self.finish(done, &mut slots, &mut queue).await,
                () = Membership::next_heartbeat(&mut heartbeats) => {
                    let idle = |id: i64| slots.get(&id).is_some_and(|slot| slot.memory.is_some());
                    if self.leases.rebalance(&self.store, &self.shared_runtime, idle).await {
                        // At once, so a target given back is not polled again here.
                        self.refresh(&mut slots, &mut queue).await;
                        next_refresh = Instant::now() + REFRESH_EVERY;
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    next_launch = now + LAUNCH_TICK;
                    let holds_leases = self.leases.membership.holds_leases(now);
                    while let Some(Reverse((due, id))) = queue.peek().copied() {
                        if due > now {
                            break;
                        }
                        queue.pop();
                        let Some(slot) = slots.get_mut(&id) else { continue };
                        if !holds_leases {
                            // Heartbeats stalled: another replica may hold this target by
                            // now, so skip the slot rather than poll it twice.
                            let interval = Duration::from_secs(u64::from(slot.polled.target.interval_secs));
                            queue.push(Reverse((next_slot(due, interval, now), id)));
                            continue;
                        }
                        let Some(memory) = slot.memory.take() else { continue };
                        let polled = slot.polled.clone();
                        let context = self.context.clone();
                        let permits = permits.clone();
                        let done = finished_tx.clone();
                        tokio::spawn(async move {
                            let Ok(_permit) = permits.acquire_owned().await else { return };
                            context.stats.record(Instant::now().saturating_duration_since(due));
                            let mut memory = memory;
                            let observation = poll(&context, &polled, &mut memory).await;
                            // Ingest is gone only when the process is stopping.
                            let _ = context.observations.send(Collected::Observed(observation)).await;
                            let _ = done.send(Finished { polled, due, memory });
                        });
                    }
                }
            }
        }
        drop(finished_tx);
        self.stop(slots, finished).await;
    }

    /// Lets running polls finish and closes every MCP session held. Ingest stops once the
    /// last poll is handed over, as this drops the last sender it reads from.
    async fn stop(
        self,
        mut slots: HashMap<i64, Slot>,
        mut finished: mpsc::UnboundedReceiver<Finished>,
    ) {
        let mut sessions: Vec<(Arc<PolledTarget>, TargetMemory)> = slots
            .drain()
            .filter_map(|(_, slot)| Some((slot.polled, slot.memory?)))
            .collect();
        while let Some(done) = finished.recv().await {
            sessions.push((done.polled, done.memory));
        }
        let context = &self.context;
        futures::stream::iter(sessions)
            .for_each_concurrent(
                context.config.concurrency.max(1),
                |(polled, mut memory)| async move {
                    close_session(context, &polled, &mut memory).await;
                },
            )
            .await;
    }

    /// Re-reads the target list: new targets start at a random point of their interval, so
    /// a large fleet is spread out instead of polled in bursts.
    async fn refresh(
        &self,
        slots: &mut HashMap<i64, Slot>,
        queue: &mut BinaryHeap<Reverse<(Instant, i64)>>,
    ) {
        let directory = self.directory.clone();
        let listed = on_shared_runtime(&self.shared_runtime, &self.store, |store| async move {
            directory.targets(store.as_ref()).await
        });
        let targets = match listed.await {
            Ok(targets) => targets,
            Err(err) => {
                tracing::warn!(error = ?err, "cannot read targets; keeping the current schedule");
                return;
            }
        };
        let checks = on_shared_runtime(&self.shared_runtime, &self.store, |store| async move {
            store.tool_checks(None).await
        });
        let mut checks_by_target: Option<HashMap<i64, Vec<ToolCheck>>> = match checks.await {
            Ok(checks) => {
                let mut by_target: HashMap<i64, Vec<ToolCheck>> = HashMap::new();
                for check in checks {
                    by_target.entry(check.target_id).or_default().push(check);
                }
                Some(by_target)
            }
            Err(err) => {
                tracing::warn!(error = ?err, "cannot read synthetic calls; keeping the current ones");
                None
            }
        };
        let mut seen = HashSet::with_capacity(targets.len());
        let mut adopted = Vec::new();
        let now = Instant::now();
        for target in targets.iter().filter(|t| self.leases.allows(t.id)) {
            seen.insert(target.id);
            let checks = match checks_by_target.as_mut() {
                Some(by_target) => by_target.remove(&target.id).unwrap_or_default(),
                None => slots
                    .get(&target.id)
                    .map(|slot| slot.polled.checks.clone())
                    .unwrap_or_default(),
            };
            match slots.get_mut(&target.id) {
                Some(slot) if slot.polled.target != *target || slot.polled.checks != checks => {
                    if let Some(memory) = slot.memory.as_mut()
                        && slot.polled.target != *target
                    {
                        forget_on_change(memory, &slot.polled.target, target);
                    }
                    slot.polled = PolledTarget::new(target.clone(), checks);
                }
                Some(_) => {}
                None => {
                    let interval = Duration::from_secs(u64::from(target.interval_secs));
                    let offset = rand::rng().random_range(0.0..1.0) * interval.as_secs_f64();
                    queue.push(Reverse((now + Duration::from_secs_f64(offset), target.id)));
                    adopted.push(target.id);
                    slots.insert(
                        target.id,
                        Slot {
                            polled: PolledTarget::new(target.clone(), checks),
                            memory: Some(TargetMemory::default()),
                        },
                    );
                }
            }
        }
        let released: Vec<i64> = slots
            .keys()
            .copied()
            .filter(|id| !seen.contains(id))
            .collect();
        for id in &released {
            if let Some(Slot {
                polled,
                memory: Some(mut memory),
            }) = slots.remove(id)
            {
                let context = self.context.clone();
                tokio::spawn(async move { close_session(&context, &polled, &mut memory).await });
            }
        }
        // Through ingest, so the engine hears of these in order with the polls. Ingest is gone
        // only when the process is stopping.
        let observations = &self.context.observations;
        if !released.is_empty() {
            let _ = observations.send(Collected::Released(released)).await;
        }
        if !adopted.is_empty() {
            let _ = observations.send(Collected::Adopted(adopted)).await;
        }
    }

    /// Puts a polled target back in the queue at its next slot.
    async fn finish(
        &self,
        done: Finished,
        slots: &mut HashMap<i64, Slot>,
        queue: &mut BinaryHeap<Reverse<(Instant, i64)>>,
    ) {
        let Some(slot) = slots.get_mut(&done.polled.target.id) else {
            // Removed while it was being polled: close its MCP session.
            let mut memory = done.memory;
            let context = self.context.clone();
            let polled = done.polled;
            tokio::spawn(async move { close_session(&context, &polled, &mut memory).await });
            return;
        };
        let interval = Duration::from_secs(u64::from(slot.polled.target.interval_secs));
        let mut memory = done.memory;
        if !Arc::ptr_eq(&slot.polled, &done.polled) {
            // Changed while it was being polled.
            forget_on_change(&mut memory, &done.polled.target, &slot.polled.target);
        }
        slot.memory = Some(memory);
        queue.push(Reverse((
            next_slot(done.due, interval, Instant::now()),
            done.polled.target.id,
        )));
    }
}

/// Runs a store call on the shared runtime. A database connection belongs to the runtime
/// that opened it, and the polling runtime ends first: a connection opened there would be
/// dead for the rest of the process.
async fn on_shared_runtime<T, F>(
    runtime: &Handle,
    store: &Arc<dyn Store>,
    call: impl FnOnce(Arc<dyn Store>) -> F,
) -> StoreResult<T>
where
    T: Send + 'static,
    F: Future<Output = StoreResult<T>> + Send + 'static,
{
    runtime
        .spawn(call(store.clone()))
        .await
        // The call ends early only when the shared runtime is shutting down.
        .map_err(|_| StoreError::ShuttingDown)?
}

/// The first slot of the schedule after `now`: the schedule keeps its phase, and slots missed
/// (a poll that overran, a pause) are skipped instead of bunching up.
fn next_slot(due: Instant, interval: Duration, now: Instant) -> Instant {
    let mut next = due + interval;
    while next <= now {
        next += interval;
    }
    next
}

/// A changed target is found out afresh; a new address also starts a new MCP session and
/// scrape history.
fn forget_on_change(memory: &mut TargetMemory, before: &Target, after: &Target) {
    if before.base_url != after.base_url {
        *memory = TargetMemory::default();
    } else {
        memory.discoveries = Discoveries::default();
    }
}
