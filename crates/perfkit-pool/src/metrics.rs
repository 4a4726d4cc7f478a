//! Prometheus metrics: `ProcessMetrics` for any process manager, and the pool's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
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
    pub task_duration: TaskDurations,
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
        let task_duration = TaskDurations::new(prometheus::exponential_buckets(1e-6, 4.0, 13)?)?;
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

/// `pool_task_duration_seconds`: a Prometheus histogram that takes many observations of one
/// value at once. Tasks answered in one block share their latency (dispatch to result), so
/// the pool records a block with one `observe_n` (three atomic adds) instead of one
/// observation per task.
#[derive(Clone, Debug)]
pub struct TaskDurations {
    inner: Arc<DurationsInner>,
}

#[derive(Debug)]
struct DurationsInner {
    desc: Desc,
    /// Upper bounds of the buckets (the `+Inf` bucket is implicit).
    bounds: Vec<f64>,
    /// Observations per bucket (not cumulative); one more than `bounds`, for `+Inf`.
    counts: Vec<AtomicU64>,
    /// Sum of observations, in nanoseconds.
    sum_ns: AtomicU64,
}

impl TaskDurations {
    fn new(bounds: Vec<f64>) -> prometheus::Result<TaskDurations> {
        let desc = Desc::new(
            "pool_task_duration_seconds".to_string(),
            "Time from a task's dispatch to a worker until its outcome".to_string(),
            Vec::new(),
            std::collections::HashMap::new(),
        )?;
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Ok(TaskDurations {
            inner: Arc::new(DurationsInner {
                desc,
                bounds,
                counts,
                sum_ns: AtomicU64::new(0),
            }),
        })
    }

    /// Records `n` observations of `took`.
    pub fn observe_n(&self, took: Duration, n: u64) {
        if n == 0 {
            return;
        }
        let secs = took.as_secs_f64();
        let bucket = self.inner.bounds.partition_point(|&bound| bound < secs);
        self.inner.counts[bucket].fetch_add(n, Ordering::Relaxed);
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.inner
            .sum_ns
            .fetch_add(ns.saturating_mul(n), Ordering::Relaxed);
    }

    /// Observations so far.
    #[must_use]
    pub fn sample_count(&self) -> u64 {
        self.inner
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

impl Collector for TaskDurations {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.inner.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let inner = &self.inner;
        let counts: Vec<u64> = inner
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let mut cumulative = 0u64;
        let mut buckets = Vec::with_capacity(inner.bounds.len());
        for (bound, count) in inner.bounds.iter().zip(&counts) {
            cumulative += count;
            let mut bucket = proto::Bucket::default();
            bucket.set_upper_bound(*bound);
            bucket.set_cumulative_count(cumulative);
            buckets.push(bucket);
        }
        // The count is the sum of the buckets read above, so `+Inf` always equals it.
        let total: u64 = counts.iter().sum();
        let mut histogram = proto::Histogram::default();
        histogram.set_sample_count(total);
        histogram.set_sample_sum(inner.sum_ns.load(Ordering::Relaxed) as f64 * 1e-9);
        histogram.set_bucket(buckets);
        let mut metric = proto::Metric::default();
        metric.set_histogram(histogram);
        let mut family = MetricFamily::default();
        family.set_name(inner.desc.fq_name.clone());
        family.set_help(inner.desc.help.clone());
        family.set_field_type(MetricType::HISTOGRAM);
        family.set_metric(vec![metric]);
        vec![family]
    }
}

/// Connections to a metrics endpoint served at once; more are closed at once.
const MAX_METRICS_CONNECTIONS: usize = 32;

impl PoolMetrics {
    /// Serves `GET /metrics` (the Prometheus text format) on `addr` from a thread, for as long
    /// as the process runs. Returns the address it listens on (port 0 picks one).
    ///
    /// Each connection is served on its own thread with read and write timeouts, so an idle or
    /// slow client never holds up a scrape; at most 32 are served at once.
    ///
    /// # Errors
    /// [`PoolError::Listen`](crate::PoolError::Listen) when the address cannot be bound, [`PoolError::Setup`](crate::PoolError::Setup) when the
    /// thread cannot start.
    pub fn serve(&self, addr: &str) -> Result<std::net::SocketAddr, crate::PoolError> {
        let listen_error = |source| crate::PoolError::Listen {
            addr: addr.to_owned(),
            source,
        };
        let listener = std::net::TcpListener::bind(addr).map_err(listen_error)?;
        let local = listener.local_addr().map_err(listen_error)?;
        let metrics = self.clone();
        std::thread::Builder::new()
            .name("perfkit-metrics".into())
            .spawn(move || {
                let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                for stream in listener.incoming().flatten() {
                    if active.load(Ordering::Acquire) >= MAX_METRICS_CONNECTIONS {
                        continue;
                    }
                    active.fetch_add(1, Ordering::AcqRel);
                    let (metrics, done) = (metrics.clone(), Arc::clone(&active));
                    let spawned = std::thread::Builder::new()
                        .name("perfkit-metrics-conn".into())
                        .spawn(move || {
                            let _ = answer_scrape(stream, &metrics);
                            done.fetch_sub(1, Ordering::AcqRel);
                        });
                    if spawned.is_err() {
                        active.fetch_sub(1, Ordering::AcqRel);
                    }
                }
            })
            .map_err(|source| crate::PoolError::Setup {
                what: "metrics thread",
                source,
            })?;
        Ok(local)
    }
}

/// Answers one HTTP request: the metrics for `GET /metrics`, 404 for anything else.
fn answer_scrape(mut stream: std::net::TcpStream, metrics: &PoolMetrics) -> std::io::Result<()> {
    use std::io::{Read, Write};
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 << 10 {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
    let (status, content_type, body) = if line.starts_with(b"GET /metrics ") {
        (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        )
    } else {
        (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "only GET /metrics is served here\n".to_string(),
        )
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_durations_count_many_observations_at_once() {
        let metrics = PoolMetrics::new();
        let d = &metrics.task_duration;
        d.observe_n(Duration::from_micros(3), 10); // le 4e-6
        d.observe_n(Duration::from_micros(100), 5); // le 2.56e-4
        d.observe_n(Duration::from_secs(100), 1); // only +Inf
        assert_eq!(d.sample_count(), 16);
        let text = metrics.render();
        assert!(
            text.contains("pool_task_duration_seconds_bucket{le=\"0.000001\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("pool_task_duration_seconds_bucket{le=\"0.000004\"} 10"),
            "{text}"
        );
        assert!(
            text.contains("pool_task_duration_seconds_bucket{le=\"0.000256\"} 15"),
            "{text}"
        );
        assert!(
            text.contains("pool_task_duration_seconds_bucket{le=\"+Inf\"} 16"),
            "{text}"
        );
        assert!(
            text.contains("pool_task_duration_seconds_count 16"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE pool_task_duration_seconds histogram"),
            "{text}"
        );
    }
}
