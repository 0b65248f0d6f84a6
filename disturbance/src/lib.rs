//! What disturbs a run on purpose, on a timeline from the replay's time 0, and what the run did
//! around it (AEFM's interference generator and invitro's injected failures, in one place):
//!
//! - [`spec`]: `--interference KIND:key=value,…` and `--fault AT:ACTION[:key=value,…]`, parsed and
//!   checked against what the run offers, before anything starts;
//! - [`process`]: the generators' process groups, which never outlive the run;
//! - [`local`]: stress-ng and iperf3 on this machine, off the dispatcher's CPU;
//! - [`timeline`]: the thread that starts, ends and injects everything at its second, and its [`Log`];
//! - [`kubernetes`]: the same on a cluster's nodes (a Job each), and pods deleted by selection;
//! - [`files`]: the log as `collect/interference.csv` and `collect/faults.csv`;
//! - [`windows`]: latency, errors and rate before, during and after each, and recovery times.

pub mod files;
pub mod kubernetes;
pub mod local;
pub mod process;
pub mod spec;
pub mod timeline;
pub mod windows;

pub use spec::{
    Fault, FaultAction, Interference, InterferenceKind, Offered, Place, PodSelection, Share,
    SpecError,
};
pub use timeline::{Log, Targets, Timeline};
