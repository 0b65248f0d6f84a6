//! Reading (and writing) the Azure Functions 2019 trace.
//!
//! A trace directory holds three CSV files: invocation counts per function and period, execution time
//! percentiles per function, and allocated memory percentiles per function or, in the raw Azure day files,
//! per application. [`read`] joins them on (owner, app, function) into a [`Trace`]: the functions present in
//! all three files and a dense count matrix for the requested window of periods. Only the window's count
//! columns are parsed, so a full day (46,000 functions × 1,440 minutes) reads in well under a second.
//!
//! Every error names the file and, for a bad row, its line and column ([`TraceError`]).
//!
//! Three trace-to-trace steps live here too: [`synth`] writes a synthetic trace (no data needed),
//! [`preprocess`] turns raw Azure days into the sampled layout, and [`sample`] draws representative
//! samples of functions from it.

mod arrivals;
mod azure2021;
mod csvread;
mod error;
mod layout;
mod model;
mod read;
mod write;

pub mod preprocess;
pub mod sample;
pub mod synth;

pub use arrivals::{Arrival, ArrivalStream, Arrivals, CallSource, CallStream};
pub use azure2021::{
    azure2021_file, is_azure2021, read_azure2021, Azure2021Options, Azure2021Writer,
    AZURE2021_FILE, AZURE2021_HEADER,
};
pub use error::TraceError;
pub use layout::{raw_days, Layout, TraceFiles, RAW_DURATIONS, RAW_INVOCATIONS, RAW_MEMORY};
pub use model::{
    duration_column, memory_column, AppMemory, Duplicates, Function, FunctionId, Granularity,
    LeftOut, MemoryLevel, Percentiles, ReadReport, Trace, DURATION_PERCENTILES, MEMORY_PERCENTILES,
};
pub use read::{period_columns, read, read_files, PeriodColumns, ReadOptions};
pub use write::{write_trace, DurationRow, MemoryRow, TraceWriter};

/// Helpers for this workspace's tests (not part of the supported API).
#[doc(hidden)]
pub mod testing {
    use std::path::PathBuf;

    /// The real vSwarm sample beside the workspace (`../shared/data/vswarm-sample`), if present.
    ///
    /// Absent, a test skips, unless `REQUIRE_SHARED_DATA=1` (as CI sets it), where it fails.
    pub fn vswarm_sample() -> Option<PathBuf> {
        let dir = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/vswarm-sample"
        ));
        if dir.join("invocations.csv").is_file() {
            return Some(dir);
        }
        if std::env::var("REQUIRE_SHARED_DATA").as_deref() == Ok("1") {
            panic!(
                "REQUIRE_SHARED_DATA=1 but the shared sample is missing at {}",
                dir.display()
            );
        }
        eprintln!("skipping: shared sample not found at {}", dir.display());
        None
    }
}
