//! Every task the app starts, in one place: spawned through [`Tasks`], named,
//! tracked, and awaited at shutdown.
//!
//! Shutdown has three steps, and each task watches the one that concerns it:
//! - [`Tasks::draining`]: the app says it is going (`/readyz` answers 503) and
//!   keeps serving for the drain delay, so that a balancer stops sending.
//! - [`Tasks::shutdown`]: the app stops serving. Workers (outbox delivery, bus
//!   reader, presence sync, relays, renewals) and long-lived connections (event
//!   streams, cursor sessions, cursor rooms) end.
//! - [`Tasks::drained`]: no request is in flight any more. Tasks that requests
//!   feed (the store's lead writer) finish what they were handed, then end.
//!
//! [`Tasks::stop`] takes both steps and waits for every task, within a bound.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The app's tasks and the signals that end them.
#[derive(Clone, Debug)]
pub struct Tasks {
    tracker: TaskTracker,
    draining: CancellationToken,
    shutdown: CancellationToken,
    drained: CancellationToken,
    running: Arc<Mutex<BTreeMap<&'static str, usize>>>,
}

impl Default for Tasks {
    fn default() -> Self {
        Self::new()
    }
}

/// Counts one running task under its name while it lives.
struct Running {
    name: &'static str,
    running: Arc<Mutex<BTreeMap<&'static str, usize>>>,
}

impl Running {
    fn new(name: &'static str, running: Arc<Mutex<BTreeMap<&'static str, usize>>>) -> Self {
        *running.lock().entry(name).or_insert(0) += 1;
        Self { name, running }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = self.running.lock();
        if let Some(count) = running.get_mut(self.name) {
            *count -= 1;
            if *count == 0 {
                running.remove(self.name);
            }
        }
    }
}

impl Tasks {
    /// No tasks yet; nothing cancelled.
    pub fn new() -> Self {
        Self {
            tracker: TaskTracker::new(),
            draining: CancellationToken::new(),
            shutdown: CancellationToken::new(),
            drained: CancellationToken::new(),
            running: Arc::default(),
        }
    }

    /// Cancelled when shutdown begins: readiness turns false while the app
    /// still serves, for the drain delay.
    pub fn draining(&self) -> &CancellationToken {
        &self.draining
    }

    /// Cancelled when the app stops serving: workers and long-lived
    /// connections end.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Cancelled once no request is in flight: tasks that requests feed end
    /// after finishing what they hold.
    pub fn drained(&self) -> &CancellationToken {
        &self.drained
    }

    /// Runs `task` as the task `name`, tracked until it ends. The task ends
    /// itself by watching [`Tasks::shutdown`] or [`Tasks::drained`].
    pub fn spawn<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let running = Running::new(name, self.running.clone());
        // Not `async move { let _running = running; task.await }`: an async
        // block keeps a captured future and the one it awaits in separate
        // slots, and every task would be twice its own size — at 10 000 idle
        // event streams, 32 MiB for nothing.
        self.tracker
            .spawn(futures::FutureExt::map(task, move |()| drop(running)));
    }

    /// Runs `work` as the task `name` to its end and hands its outcome to
    /// the future returned (`None` if it panicked). Whoever awaits that
    /// future may go away — a request whose client hung up is dropped —
    /// without cutting the work short; shutdown waits for it like any task.
    pub fn carry<F, T>(&self, name: &'static str, work: F) -> impl Future<Output = Option<T>>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let running = Running::new(name, self.running.clone());
        let handle = self
            .tracker
            .spawn(futures::FutureExt::map(work, move |out| {
                drop(running);
                out
            }));
        async move { handle.await.ok() }
    }

    /// Runs `step` as the task `name`: now, then again `every` after each run
    /// (or as soon as `wake` is notified, when given), until shutdown. A step
    /// logs its own failures; a step cut short by shutdown is not resumed.
    pub fn periodic<F, Fut>(
        &self,
        name: &'static str,
        every: Duration,
        wake: Option<Arc<Notify>>,
        mut step: F,
    ) where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let shutdown = self.shutdown.clone();
        self.spawn(name, async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = step() => {}
                }
                let woken = async {
                    match &wake {
                        Some(wake) => wake.notified().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = woken => {}
                    () = tokio::time::sleep(every) => {}
                }
            }
        });
    }

    /// The names of the tasks running now, with how many of each.
    pub fn running(&self) -> Vec<(&'static str, usize)> {
        self.running
            .lock()
            .iter()
            .map(|(name, count)| (*name, *count))
            .collect()
    }

    /// Ends every task: cancels [`Tasks::shutdown`] and [`Tasks::drained`],
    /// then waits at most `grace` for all of them. True when all ended; the
    /// names of those that did not are logged.
    pub async fn stop(&self, grace: Duration) -> bool {
        self.draining.cancel();
        self.shutdown.cancel();
        self.drained.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
        {
            return true;
        }
        tracing::warn!(still_running = ?self.running(), "tasks did not stop in time");
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tasks_are_named_counted_and_awaited() {
        let tasks = Tasks::new();
        let stop = tasks.shutdown().clone();
        tasks.spawn("worker", async move { stop.cancelled().await });
        let drained = tasks.drained().clone();
        tasks.spawn("writer", async move { drained.cancelled().await });
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = runs.clone();
        tasks.periodic("tick", Duration::from_secs(1), None, move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(runs.load(std::sync::atomic::Ordering::Relaxed), 3);
        assert_eq!(tasks.running(), [("tick", 1), ("worker", 1), ("writer", 1)]);
        assert!(tasks.stop(Duration::from_secs(1)).await);
        assert!(tasks.running().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ignores_shutdown_is_reported() {
        let tasks = Tasks::new();
        tasks.spawn("stuck", std::future::pending());
        assert!(!tasks.stop(Duration::from_secs(1)).await);
        assert_eq!(tasks.running(), [("stuck", 1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_periodic_task_wakes_early_when_notified() {
        let tasks = Tasks::new();
        let wake = Arc::new(Notify::new());
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = runs.clone();
        tasks.periodic(
            "woken",
            Duration::from_secs(60),
            Some(wake.clone()),
            move || {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            },
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(runs.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert!(tasks.stop(Duration::from_secs(1)).await);
    }
}
