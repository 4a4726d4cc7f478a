//! Prometheus metrics: the original text's `ProcessMetrics` and the pool's own.

use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Worker processes: spawned, alive, and how long a spawn took.
#[derive(Clone, Debug)]
pub struct ProcessMetrics {
    /// `process_spawned_total`.
    pub spawned_total: IntCounter,
    /// `process_active`.
    pub active: IntGauge,
    /// `process_spawn_duration_seconds`.
    pub spawn_duration: Histogram,
}

impl ProcessMetrics {
    /// Registers the three metrics in `registry`.
    ///
    /// # Errors
    ///
    /// When `registry` already holds metrics with these names.
    pub fn register(registry: &Registry) -> prometheus::Result<ProcessMetrics> {
        let spawned_total = IntCounter::new("process_spawned_total", "Worker processes spawned")?;
        let active = IntGauge::new("process_active", "Worker processes alive now")?;
        let spawn_duration = Histogram::with_opts(
            HistogramOpts::new(
                "process_spawn_duration_seconds",
                "Time to spawn a worker process",
            )
            .buckets(vec![0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 1.0]),
        )?;
        registry.register(Box::new(spawned_total.clone()))?;
        registry.register(Box::new(active.clone()))?;
        registry.register(Box::new(spawn_duration.clone()))?;
        Ok(ProcessMetrics {
            spawned_total,
            active,
            spawn_duration,
        })
    }

    /// A process was spawned in `took`.
    pub fn record_spawn(&self, took: Duration) {
        self.spawned_total.inc();
        self.active.inc();
        self.spawn_duration.observe(took.as_secs_f64());
    }

    /// A process exited (and was reaped).
    pub fn record_exit(&self) {
        self.active.dec();
    }
}

/// Everything a [`ProcessPool`](crate::ProcessPool) reports.
#[derive(Clone, Debug)]
pub struct PoolMetrics {
    registry: Registry,
    /// Worker processes.
    pub process: ProcessMetrics,
    /// `pool_tasks_total{outcome="ok|error|crashed|timed_out|quarantined|cancelled"}`.
    pub tasks_total: IntCounterVec,
    /// `pool_task_duration_seconds`: from a task's dispatch to a worker until its outcome.
    pub task_duration: Histogram,
    /// `pool_queue_depth`: tasks submitted and not yet sent to a worker.
    pub queue_depth: IntGauge,
    /// `pool_worker_restarts_total{reason="crash|timeout|protocol|recycle"}`.
    pub worker_restarts_total: IntCounterVec,
}

impl PoolMetrics {
    /// The pool's metrics in a registry of their own.
    ///
    /// # Panics
    ///
    /// Never: the names are fixed and the registry is new.
    #[must_use]
    pub fn new() -> PoolMetrics {
        PoolMetrics::register(Registry::new()).expect("fixed metric names in a fresh registry")
    }

    /// The pool's metrics, registered in `registry` (shared with the application's own).
    ///
    /// # Errors
    ///
    /// When `registry` already holds metrics with these names.
    pub fn register(registry: Registry) -> prometheus::Result<PoolMetrics> {
        let process = ProcessMetrics::register(&registry)?;
        let tasks_total = IntCounterVec::new(
            Opts::new("pool_tasks_total", "Tasks finished, by outcome"),
            &["outcome"],
        )?;
        let task_duration = Histogram::with_opts(
            HistogramOpts::new(
                "pool_task_duration_seconds",
                "Time from a task's dispatch to a worker until its outcome",
            )
            .buckets(prometheus::exponential_buckets(1e-6, 4.0, 13)?),
        )?;
        let queue_depth = IntGauge::new(
            "pool_queue_depth",
            "Tasks submitted and not yet sent to a worker",
        )?;
        let worker_restarts_total = IntCounterVec::new(
            Opts::new("pool_worker_restarts_total", "Workers replaced, by reason"),
            &["reason"],
        )?;
        registry.register(Box::new(tasks_total.clone()))?;
        registry.register(Box::new(task_duration.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(worker_restarts_total.clone()))?;
        // Every label value from the start, so a scrape shows zeros rather than nothing.
        for outcome in [
            "ok",
            "error",
            "crashed",
            "timed_out",
            "quarantined",
            "cancelled",
        ] {
            tasks_total.with_label_values(&[outcome]);
        }
        for reason in ["crash", "timeout", "protocol", "recycle"] {
            worker_restarts_total.with_label_values(&[reason]);
        }
        Ok(PoolMetrics {
            registry,
            process,
            tasks_total,
            task_duration,
            queue_depth,
            worker_restarts_total,
        })
    }

    /// The registry holding these metrics.
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Everything in the registry in the Prometheus text format (what `/metrics` serves).
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // The text encoder only fails on metric families it cannot encode, which the
        // registry's own metrics never are.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Default for PoolMetrics {
    fn default() -> Self {
        PoolMetrics::new()
    }
}
