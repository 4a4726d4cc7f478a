//! A criterion [`Profiler`]: `cargo bench -- --profile-time 10` then writes a flamegraph and
//! a pprof file for each benchmark, sampled by the in-process sampler.

use std::path::Path;

use criterion::profiler::Profiler;

use super::{Sampler, SamplerOptions};
use crate::ProfilerError;
use crate::drawing::{FlameFiles, FlamePaths};
use crate::flamegraph::FlamegraphOptions;

/// Samples each benchmark criterion profiles and writes `flamegraph.svg` and `profile.pb.gz`
/// into the benchmark's profile directory (`target/criterion/<group>/<bench>/profile/`).
///
/// ```no_run
/// use criterion::Criterion;
/// use perfkit_profilers::sampler::SamplingProfiler;
///
/// fn config() -> Criterion {
///     Criterion::default().with_profiler(SamplingProfiler::new(997))
/// }
/// // criterion_group! { name = benches; config = config(); targets = ... }
/// ```
#[derive(Debug)]
pub struct SamplingProfiler {
    options: SamplerOptions,
    running: Option<Sampler>,
}

impl SamplingProfiler {
    /// A profiler sampling at `frequency` Hz of each thread's CPU time.
    #[must_use]
    pub fn new(frequency: u32) -> SamplingProfiler {
        SamplingProfiler {
            options: SamplerOptions {
                frequency,
                ..SamplerOptions::default()
            },
            running: None,
        }
    }
}

impl Profiler for SamplingProfiler {
    fn start_profiling(&mut self, benchmark_id: &str, _benchmark_dir: &Path) {
        match Sampler::start(self.options) {
            Ok(sampler) => self.running = Some(sampler),
            Err(e) => eprintln!("perfkit: cannot profile {benchmark_id}: {e}"),
        }
    }

    fn stop_profiling(&mut self, benchmark_id: &str, benchmark_dir: &Path) {
        let Some(sampler) = self.running.take() else {
            return;
        };
        let profile = sampler.stop();
        for note in &profile.notes {
            eprintln!("perfkit: {benchmark_id}: {note}");
        }
        match write(&profile, benchmark_id, benchmark_dir) {
            Ok(()) => eprintln!(
                "perfkit: {benchmark_id}: {} samples ({:.2} s of CPU); flamegraph.svg and profile.pb.gz in {}",
                profile.stacks.total(),
                profile.cpu_time().as_secs_f64(),
                benchmark_dir.display()
            ),
            Err(e) => eprintln!("perfkit: cannot write the profile of {benchmark_id}: {e}"),
        }
    }
}

fn write(profile: &super::SamplerProfile, id: &str, dir: &Path) -> Result<(), ProfilerError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| ProfilerError::io(format!("creating {}", dir.display()), e))?;
    let (svg, pprof) = (dir.join("flamegraph.svg"), dir.join("profile.pb.gz"));
    let paths = FlamePaths {
        pprof: Some(&pprof),
        ..FlamePaths::svg(&svg)
    };
    let flame = FlamegraphOptions {
        title: id.to_owned(),
        ..FlamegraphOptions::default()
    };
    FlameFiles::named(paths, &[])?.write(&profile.to_fold(), &flame, id)
}
