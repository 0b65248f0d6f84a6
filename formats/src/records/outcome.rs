//! How a call ended: the outcome names of the records and the summary, defined once.

/// gRPC status codes by number, as named in the records (`error:<name>`): the canonical codes, lowercased.
const STATUS_NAMES: [&str; 17] = [
    "error:ok",
    "error:cancelled",
    "error:unknown",
    "error:invalidargument",
    "error:deadlineexceeded",
    "error:notfound",
    "error:alreadyexists",
    "error:permissiondenied",
    "error:resourceexhausted",
    "error:failedprecondition",
    "error:aborted",
    "error:outofrange",
    "error:unimplemented",
    "error:internal",
    "error:unavailable",
    "error:dataloss",
    "error:unauthenticated",
];

/// gRPC's code for "unknown", which any code outside the canonical ones is read as (as gRPC does).
const UNKNOWN: u8 = 2;

/// `http_<code>` for every status an [`Outcome::Http`] can hold, made once so names stay `&'static str`.
fn http_name(code: u16) -> &'static str {
    static NAMES: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| (0..600).map(|c| format!("http_{c}")).collect());
    NAMES
        .get(usize::from(code))
        .map_or("http_unknown", String::as_str)
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Answered successfully.
    Ok,
    /// No answer within the call's timeout.
    Timeout,
    /// Answered with a gRPC error status (its canonical code), or failed to connect (`unavailable`).
    Status(u8),
    /// Answered over HTTP with a status outside 2xx (`http_<code>`); a failure to connect or a reset is
    /// `error:unavailable`, as for gRPC.
    Http(u16),
    /// Not sent: `--max-in-flight` calls were already outstanding.
    NotSentBackPressure,
    /// Not sent: the run was interrupted before it was due.
    NotSentInterrupted,
    /// Sent, but the run ended before it was answered or timed out (a second Ctrl-C).
    Cancelled,
    /// Not sent: its worker was not ready until after it was due (it started late).
    NotSentLateStart,
    /// Not sent: a call of its workflow instance it waits for did not succeed.
    NotSentUpstreamFailed,
    /// No record came back: its worker died (or was lost) before reporting, and the call was due after
    /// the worker was seen gone (or the worker never reported at all), so it was never sent.
    WorkerLost,
    /// No record came back, and the call was due before its worker was seen gone: it may have been sent
    /// (its record was in a chunk that never arrived). Counted as not sent: no send time is known.
    WorkerLostUnknown,
}

impl Outcome {
    /// A gRPC status code as an outcome; codes outside the canonical 0..=16 count as `unknown`.
    pub fn status(code: i32) -> Outcome {
        match u8::try_from(code) {
            Ok(c) if usize::from(c) < STATUS_NAMES.len() => Outcome::Status(c),
            _ => Outcome::Status(UNKNOWN),
        }
    }

    /// An HTTP status other than 2xx as an outcome (a 2xx is [`Outcome::Ok`]); none outside 100..=599.
    pub fn http(code: u16) -> Option<Outcome> {
        match code {
            200..=299 => Some(Outcome::Ok),
            100..=599 => Some(Outcome::Http(code)),
            _ => None,
        }
    }

    /// Name in the records file and the summary.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Timeout => "timeout",
            Outcome::Status(code) => STATUS_NAMES
                .get(usize::from(code))
                .copied()
                .unwrap_or(STATUS_NAMES[usize::from(UNKNOWN)]),
            Outcome::Http(code) => http_name(code),
            Outcome::NotSentBackPressure => "not_sent:max_in_flight",
            Outcome::NotSentInterrupted => "not_sent:interrupted",
            Outcome::Cancelled => "cancelled",
            Outcome::NotSentLateStart => "not_sent:late_start",
            Outcome::WorkerLost => "not_sent:worker_lost",
            Outcome::WorkerLostUnknown => "unknown:worker_lost",
            Outcome::NotSentUpstreamFailed => "not_sent:upstream_failed",
        }
    }

    /// The outcome a [`Outcome::name`] stands for.
    pub fn parse(name: &str) -> Option<Outcome> {
        Some(match name {
            "ok" => Outcome::Ok,
            "timeout" => Outcome::Timeout,
            "not_sent:max_in_flight" => Outcome::NotSentBackPressure,
            "not_sent:interrupted" => Outcome::NotSentInterrupted,
            "cancelled" => Outcome::Cancelled,
            "not_sent:late_start" => Outcome::NotSentLateStart,
            "not_sent:worker_lost" => Outcome::WorkerLost,
            "unknown:worker_lost" => Outcome::WorkerLostUnknown,
            "not_sent:upstream_failed" => Outcome::NotSentUpstreamFailed,
            http if http.starts_with("http_") => Outcome::http(http[5..].parse().ok()?)?,
            _ => Outcome::Status(STATUS_NAMES.iter().position(|n| *n == name)? as u8),
        })
    }

    /// Whether the request left.
    pub fn was_sent(self) -> bool {
        !matches!(
            self,
            Outcome::NotSentBackPressure
                | Outcome::NotSentInterrupted
                | Outcome::NotSentLateStart
                | Outcome::NotSentUpstreamFailed
                | Outcome::WorkerLost
                | Outcome::WorkerLostUnknown
        )
    }
}
