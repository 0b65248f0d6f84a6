//! STeLLAR's experiment JSON, read as STeLLAR reads it (`src/setup/extract-configuration.go`): the same
//! fields, the same defaults (IAT `stochastic`, Parallelism 1, 128 MB, a chain of 1), then checked so that
//! a run never starts on a file it would break on. An unknown field is refused with its JSON path; fields
//! that describe a cloud deployment we do not make are read and listed as not applicable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Why an experiment or endpoints file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StellarError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not what STeLLAR writes, or a value cannot run.
    #[error("{}: {json_path}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where in it, as a JSON path (`SubExperiments[1].BurstSizes`).
        json_path: String,
        /// What is wrong, with the value.
        reason: String,
    },
}

/// How the gap before each round is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IatType {
    /// `IATSeconds` + an exponential draw of mean ln(`IATSeconds`) seconds: STeLLAR's shifted
    /// exponential.
    Stochastic,
    /// `IATSeconds` exactly (STeLLAR truncates it to whole seconds; we keep fractions).
    Deterministic,
}

/// One sub-experiment, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SubExperiment {
    /// Its position in the file.
    pub index: usize,
    /// `Title`.
    pub title: String,
    /// `Bursts`: bursts sent in all.
    pub bursts: u64,
    /// `BurstSizes`: calls per burst, by round (cycled).
    pub burst_sizes: Vec<u32>,
    /// `IATSeconds`.
    pub iat_seconds: f64,
    /// `IATType`.
    pub iat_type: IatType,
    /// `DesiredServiceTimes`, by round (the last one repeats).
    pub service_times: Vec<Duration>,
    /// `DesiredServiceTimes` as written (STeLLAR's directory names use the first).
    pub service_times_text: Vec<String>,
    /// `PayloadLengthBytes`.
    pub payload_bytes: u64,
    /// `Parallelism`: gateways bursting in turn.
    pub parallelism: u32,
    /// `FunctionMemoryMB`.
    pub memory_mb: u32,
    /// `FunctionImageSizeMB`.
    pub image_size_mb: f64,
    /// `DataTransferChainLength`: functions per request, each handing `PayloadLengthBytes` to the next
    /// (1: a lone call; more: a chain workflow, the functions calling one another).
    pub chain_length: u32,
    /// `StorageTransfer`: the chain's data goes through a store (`--store`) rather than inline.
    pub storage_transfer: bool,
}

/// An experiment file, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// The file.
    pub file: PathBuf,
    /// `Sequential`: false runs the sub-experiments at once.
    pub sequential: bool,
    /// `Provider` (STeLLAR's default: aws).
    pub provider: String,
    /// The sub-experiments.
    pub sub_experiments: Vec<SubExperiment>,
    /// JSON paths of the fields read but not applicable here (cloud packaging and the like).
    pub not_applicable: Vec<String>,
}

/// The file as STeLLAR's `Configuration`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExperiment {
    #[serde(rename = "Sequential", default)]
    sequential: bool,
    #[serde(rename = "Provider", default)]
    provider: String,
    #[serde(rename = "Runtime", default)]
    runtime: Option<serde_json::Value>,
    #[serde(rename = "SubExperiments")]
    sub_experiments: Vec<RawSub>,
}

/// STeLLAR's `SubExperiment`, every field it has had.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSub {
    #[serde(rename = "Title", default)]
    title: String,
    #[serde(rename = "Bursts", default)]
    bursts: i64,
    #[serde(rename = "BurstSizes", default)]
    burst_sizes: Option<Vec<i64>>,
    #[serde(rename = "PayloadLengthBytes", default)]
    payload_length_bytes: i64,
    #[serde(rename = "IATSeconds", default)]
    iat_seconds: f64,
    #[serde(rename = "DesiredServiceTimes", default)]
    desired_service_times: Option<Vec<String>>,
    #[serde(rename = "IATType", default)]
    iat_type: String,
    #[serde(rename = "Parallelism", default)]
    parallelism: i64,
    #[serde(rename = "FunctionMemoryMB", default)]
    function_memory_mb: i64,
    #[serde(rename = "FunctionImageSizeMB", default)]
    function_image_size_mb: f64,
    #[serde(rename = "DataTransferChainLength", default)]
    data_transfer_chain_length: i64,
    #[serde(rename = "StorageTransfer", default)]
    storage_transfer: bool,
    // Fields that describe how STeLLAR deploys to a cloud, or that it computes itself: read, not used.
    #[serde(rename = "ID")]
    id: Option<serde_json::Value>,
    #[serde(rename = "Function")]
    function: Option<serde_json::Value>,
    #[serde(rename = "Handler")]
    handler: Option<serde_json::Value>,
    #[serde(rename = "Runtime")]
    runtime: Option<serde_json::Value>,
    #[serde(rename = "PackageType")]
    package_type: Option<serde_json::Value>,
    #[serde(rename = "PackagePattern")]
    package_pattern: Option<serde_json::Value>,
    #[serde(rename = "Visualization")]
    visualization: Option<serde_json::Value>,
    #[serde(rename = "GatewaysNumber")]
    gateways_number: Option<serde_json::Value>,
    #[serde(rename = "CooldownSeconds")]
    cooldown_seconds: Option<serde_json::Value>,
    #[serde(rename = "RepurposeIdentifier")]
    repurpose_identifier: Option<serde_json::Value>,
    #[serde(rename = "SnapStartEnabled")]
    snap_start_enabled: Option<serde_json::Value>,
    #[serde(rename = "Routing")]
    routing: Option<serde_json::Value>,
    #[serde(rename = "BusySpinIncrements")]
    busy_spin_increments: Option<serde_json::Value>,
    #[serde(rename = "FunctionIncrementLimits")]
    function_increment_limits: Option<serde_json::Value>,
    #[serde(rename = "Endpoints")]
    endpoints: Option<serde_json::Value>,
}

impl RawSub {
    /// The names of those present.
    fn present(&self) -> Vec<&'static str> {
        [
            ("ID", self.id.is_some()),
            ("Function", self.function.is_some()),
            ("Handler", self.handler.is_some()),
            ("Runtime", self.runtime.is_some()),
            ("PackageType", self.package_type.is_some()),
            ("PackagePattern", self.package_pattern.is_some()),
            ("Visualization", self.visualization.is_some()),
            ("GatewaysNumber", self.gateways_number.is_some()),
            ("CooldownSeconds", self.cooldown_seconds.is_some()),
            ("RepurposeIdentifier", self.repurpose_identifier.is_some()),
            ("SnapStartEnabled", self.snap_start_enabled.is_some()),
            ("Routing", self.routing.is_some()),
            ("BusySpinIncrements", self.busy_spin_increments.is_some()),
            (
                "FunctionIncrementLimits",
                self.function_increment_limits.is_some(),
            ),
            ("Endpoints", self.endpoints.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect()
    }
}

/// Whether `text` is a STeLLAR experiment (it has `SubExperiments`), not one of ours.
pub fn is_stellar_experiment(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.get("SubExperiments").is_some())
}

impl Experiment {
    /// Reads and checks `path`.
    pub fn read(path: &Path) -> Result<Experiment, StellarError> {
        let text = std::fs::read_to_string(path).map_err(|source| StellarError::Io {
            path: path.to_owned(),
            source,
        })?;
        Experiment::parse(path, &text)
    }

    /// Checks `text`, read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Experiment, StellarError> {
        let invalid = |json_path: String, reason: String| StellarError::Invalid {
            path: path.to_owned(),
            json_path,
            reason,
        };
        let raw: RawExperiment =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text))
                .map_err(|e| {
                    let at = e.path().to_string();
                    invalid(
                        if at == "." { "(top)".into() } else { at },
                        e.into_inner().to_string(),
                    )
                })?;
        let mut not_applicable = Vec::new();
        if raw.runtime.is_some() {
            not_applicable.push("Runtime".to_owned());
        }
        let provider = if raw.provider.is_empty() {
            "aws".to_owned()
        } else {
            raw.provider.to_ascii_lowercase()
        };
        if raw.sub_experiments.is_empty() {
            return Err(invalid(
                "SubExperiments".into(),
                "is empty: nothing to run".into(),
            ));
        }
        let mut subs = Vec::with_capacity(raw.sub_experiments.len());
        for (i, sub) in raw.sub_experiments.into_iter().enumerate() {
            for name in sub.present() {
                not_applicable.push(format!("SubExperiments[{i}].{name}"));
            }
            subs.push(check_sub(i, sub).map_err(|(field, reason)| {
                invalid(format!("SubExperiments[{i}].{field}"), reason)
            })?);
        }
        Ok(Experiment {
            file: path.to_owned(),
            sequential: raw.sequential,
            provider,
            sub_experiments: subs,
            not_applicable,
        })
    }
}

/// `IATSeconds` and `IATType`, checked: STeLLAR's stochastic gap needs an IAT above 1 s.
fn check_iat(iat_seconds: f64, iat_type: &str) -> Result<IatType, (&'static str, String)> {
    if !(0.0..=86_400.0 * 30.0).contains(&iat_seconds) {
        return Err((
            "IATSeconds",
            format!("`{}` is not from 0 to 30 days of seconds", iat_seconds),
        ));
    }
    let kind = match iat_type {
        "" | "stochastic" => IatType::Stochastic,
        "deterministic" => IatType::Deterministic,
        other => {
            return Err((
                "IATType",
                format!("`{other}` is not `stochastic` or `deterministic`"),
            ))
        }
    };
    if kind == IatType::Stochastic && iat_seconds <= 1.0 {
        return Err((
            "IATSeconds",
            format!(
                "`{}` with a stochastic IAT: STeLLAR draws the gap as IAT + Exp(mean ln IAT), which has no \
                 meaning for IAT ≤ 1 s (ln IAT ≤ 0); use \"IATType\": \"deterministic\", or an IAT above 1",
                iat_seconds
            ),
        ));
    }
    Ok(kind)
}

/// One sub-experiment checked and its defaults given; the error names the field and the value.
fn check_sub(index: usize, s: RawSub) -> Result<SubExperiment, (&'static str, String)> {
    let whole = |field: &'static str, v: i64, least: i64, most: i64| {
        if (least..=most).contains(&v) {
            Ok(v)
        } else {
            Err((field, format!("`{v}` is not from {least} to {most}")))
        }
    };
    let bursts = whole("Bursts", s.bursts, 1, 100_000_000)? as u64;
    let burst_sizes = match s.burst_sizes {
        None => vec![1],
        Some(sizes) if sizes.is_empty() => {
            return Err((
                "BurstSizes",
                "is empty: give at least one burst size".into(),
            ))
        }
        Some(sizes) => sizes
            .iter()
            .map(|&b| whole("BurstSizes", b, 1, 100_000).map(|b| b as u32))
            .collect::<Result<_, _>>()?,
    };
    let iat_type = check_iat(s.iat_seconds, &s.iat_type)?;
    let service_times_text = s
        .desired_service_times
        .unwrap_or_else(|| vec!["0ms".into()]);
    if service_times_text.is_empty() {
        return Err(("DesiredServiceTimes", "is empty: give at least one".into()));
    }
    let service_times = service_times_text
        .iter()
        .map(|t| go_duration(t).map_err(|reason| ("DesiredServiceTimes", reason)))
        .collect::<Result<_, _>>()?;
    let chain_length = whole(
        "DataTransferChainLength",
        if s.data_transfer_chain_length == 0 {
            1
        } else {
            s.data_transfer_chain_length
        },
        1,
        100,
    )? as u32;
    if s.storage_transfer && chain_length < 2 {
        return Err((
            "StorageTransfer",
            "`true` moves the payload from one function of a chain to the next: give a \
             DataTransferChainLength of 2 or more"
                .into(),
        ));
    }
    Ok(SubExperiment {
        index,
        title: if s.title.is_empty() {
            format!("sub-experiment-{index}")
        } else {
            s.title
        },
        bursts,
        burst_sizes,
        iat_seconds: s.iat_seconds,
        iat_type,
        service_times,
        service_times_text,
        payload_bytes: whole("PayloadLengthBytes", s.payload_length_bytes, 0, 1 << 30)? as u64,
        parallelism: whole(
            "Parallelism",
            if s.parallelism == 0 { 1 } else { s.parallelism },
            1,
            10_000,
        )? as u32,
        memory_mb: whole(
            "FunctionMemoryMB",
            if s.function_memory_mb == 0 {
                128
            } else {
                s.function_memory_mb
            },
            1,
            1 << 20,
        )? as u32,
        chain_length,
        storage_transfer: s.storage_transfer,
        image_size_mb: s.function_image_size_mb.max(0.0),
    })
}

/// A Go duration (`time.ParseDuration`): a sequence of decimal numbers with units ns, us (µs), ms, s, m,
/// h, such as `0ms`, `1.5s`, `1m30s`; a bare `0` too.
pub fn go_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("`{text}` is not a Go duration (such as \"0ms\", \"150ms\", \"1.5s\", \"1m30s\")")
    };
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * seconds;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

#[cfg(test)]
mod tests;
