//! Reading a `load.json`: serde visitors that intern endpoints and node names as they go, so a load of
//! millions of calls never holds their strings more than once, and check each period's arrays.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::{CallAsk, Invocation, Load, LoadError, Period, WorkflowStep};
use crate::Interner;

/// Reads a `load.json` (or a worker's `load-k.json`), plain or zstd-compressed.
pub fn read(path: &Path) -> Result<Load, LoadError> {
    let mut periods = Vec::new();
    let names = read_periods(path, |period, _| {
        periods.push(period);
        Ok::<(), LoadError>(())
    })?;
    Ok(Load {
        endpoints: names.endpoints,
        nodes: names.nodes,
        periods,
    })
}

/// The names a load's calls refer to, by number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadNames {
    /// Distinct endpoints, in order of first appearance.
    pub endpoints: Vec<String>,
    /// Distinct workflow node names, in order of first appearance.
    pub nodes: Vec<String>,
}

/// Reads a load period by period, handing each to `each` with the endpoints met so far (a period's calls
/// only name those) and dropping it: memory holds one period, not the load. An error of `each` stops the
/// reading and is returned as it is. Returns the load's names.
pub fn read_periods<E: From<LoadError>>(
    path: &Path,
    each: impl FnMut(Period, &[String]) -> Result<(), E>,
) -> Result<LoadNames, E> {
    let file = crate::compressed::open(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_periods_from(file, path, each)
}

/// [`read_periods`] from `reader` (a load's text, plain: see [`crate::compressed::reader`]), which
/// errors name as `path` (a file, or where a stream came from).
pub fn read_periods_from<E: From<LoadError>>(
    reader: impl std::io::Read,
    path: &Path,
    mut each: impl FnMut(Period, &[String]) -> Result<(), E>,
) -> Result<LoadNames, E> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut interner = Interner::default();
    let mut nodes = Interner::default();
    let mut instances_before = std::collections::HashSet::new();
    let mut stopped: Option<E> = None;
    let mut sink = |period: Period, endpoints: &[String]| match each(period, endpoints) {
        Ok(()) => true,
        Err(e) => {
            stopped = Some(e);
            false
        }
    };
    let result = LoadSeed {
        interner: &mut interner,
        nodes: &mut nodes,
        instances_before: &mut instances_before,
        sink: &mut sink,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if let Some(e) = stopped {
        return Err(e);
    }
    result.map_err(|e| {
        if e.is_io() {
            LoadError::Io {
                path: path.to_owned(),
                source: e.into(),
            }
        } else {
            LoadError::Format {
                path: path.to_owned(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            }
        }
    })?;
    Ok(LoadNames {
        endpoints: interner.names,
        nodes: nodes.names,
    })
}

struct LoadSeed<'a> {
    interner: &'a mut Interner,
    nodes: &'a mut Interner,
    /// Workflow instances of the periods read so far (an instance lies in one period).
    instances_before: &'a mut std::collections::HashSet<u64>,
    /// Takes each period; false stops the reading.
    sink: &'a mut dyn FnMut(Period, &[String]) -> bool,
}

impl<'de> DeserializeSeed<'de> for LoadSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for LoadSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of periods")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut index = 0;
        while let Some(period) = seq.next_element_seed(PeriodSeed {
            interner: &mut *self.interner,
            nodes: &mut *self.nodes,
            instances_before: &mut *self.instances_before,
            index,
        })? {
            index += 1;
            if !(self.sink)(period, &self.interner.names) {
                return Err(de::Error::custom("stopped by its reader"));
            }
        }
        Ok(())
    }
}

struct PeriodSeed<'a> {
    interner: &'a mut Interner,
    nodes: &'a mut Interner,
    instances_before: &'a mut std::collections::HashSet<u64>,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for PeriodSeed<'_> {
    type Value = Period;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PeriodSeed<'_> {
    type Value = Period;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "period {}: an object with `timestamp` and `endpoint` arrays",
            self.index + 1
        )
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut timestamps: Option<Vec<u64>> = None;
        let mut endpoints: Option<Vec<u32>> = None;
        let mut durations: Option<Vec<Option<u64>>> = None;
        let mut memory: Option<Vec<Option<u32>>> = None;
        let mut payloads: Option<Vec<u32>> = None;
        let mut instances: Option<Vec<u64>> = None;
        let mut nodes: Option<Vec<u32>> = None;
        let mut after: Option<Vec<Vec<u32>>> = None;
        let mut after_bytes: Option<Vec<Vec<u64>>> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "workflow_instance" => instances = Some(map.next_value()?),
                "after" => after = Some(map.next_value()?),
                "after_bytes" => after_bytes = Some(map.next_value()?),
                "node" => {
                    nodes = Some(map.next_value_seed(EndpointsSeed {
                        interner: &mut *self.nodes,
                    })?)
                }
                "timestamp" => timestamps = Some(map.next_value()?),
                "duration_us" => durations = Some(map.next_value()?),
                "memory_mb" => memory = Some(map.next_value()?),
                "payload_bytes" => payloads = Some(map.next_value()?),
                "endpoint" => {
                    endpoints = Some(map.next_value_seed(EndpointsSeed {
                        interner: &mut *self.interner,
                    })?)
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        let period = self.index + 1;
        let timestamps = timestamps.ok_or_else(|| {
            de::Error::custom(format!("period {period}: missing `timestamp` array"))
        })?;
        let endpoints = endpoints.ok_or_else(|| {
            de::Error::custom(format!("period {period}: missing `endpoint` array"))
        })?;
        if timestamps.len() != endpoints.len() {
            return Err(de::Error::custom(format!(
                "period {period}: {} timestamps but {} endpoints",
                timestamps.len(),
                endpoints.len()
            )));
        }
        let asks =
            asks_of(period, timestamps.len(), (durations, memory)).map_err(de::Error::custom)?;
        let payloads = payloads.unwrap_or_default();
        if !payloads.is_empty() && payloads.len() != timestamps.len() {
            return Err(de::Error::custom(format!(
                "period {period}: {} timestamps but {} payload sizes (`payload_bytes` has one per call)",
                timestamps.len(),
                payloads.len()
            )));
        }
        let steps = steps_of(
            period,
            &timestamps,
            (instances, nodes, after, after_bytes),
            self.instances_before,
        )
        .map_err(de::Error::custom)?;
        Ok(Period {
            payloads,
            steps,
            calls: timestamps
                .into_iter()
                .zip(endpoints)
                .map(|(offset_us, endpoint)| Invocation {
                    offset_us,
                    endpoint,
                })
                .collect(),
            asks,
        })
    }
}

/// A period's workflow arrays as steps, checked: one per call; each instance's calls in this period only,
/// at one timestamp, each waiting only for calls before it.
fn workflow_steps(
    period: usize,
    timestamps: &[u64],
    (instances, nodes, after): (Vec<u64>, Vec<u32>, Vec<Vec<u32>>),
    instances_before: &mut std::collections::HashSet<u64>,
) -> Result<Vec<WorkflowStep>, String> {
    let calls = timestamps.len();
    if instances.len() != calls || nodes.len() != calls || after.len() != calls {
        return Err(format!(
            "period {period}: {calls} calls but {} `workflow_instance`, {} `node` and {} `after` entries (one per call)",
            instances.len(),
            nodes.len(),
            after.len()
        ));
    }
    // Per instance of this period: its calls so far, and its timestamp.
    let mut seen: HashMap<u64, (u32, u64)> = HashMap::new();
    let mut steps = Vec::with_capacity(calls);
    for (k, ((instance, node), after)) in instances.into_iter().zip(nodes).zip(after).enumerate() {
        if instances_before.contains(&instance) {
            return Err(format!(
                "period {period}, call {k}: workflow instance {instance} has calls in an earlier period (an instance lies in one period)"
            ));
        }
        let (position, at) = seen.entry(instance).or_insert((0, timestamps[k]));
        if *at != timestamps[k] {
            return Err(format!(
                "period {period}, call {k}: workflow instance {instance} has calls at {at} µs and at {} µs (all at its entry's timestamp)",
                timestamps[k]
            ));
        }
        if let Some(late) = after.iter().find(|&&a| a >= *position) {
            return Err(format!(
                "period {period}, call {k}: `after` names call {late} of workflow instance {instance}, which is not before it (it is call {position})"
            ));
        }
        *position += 1;
        steps.push(WorkflowStep {
            instance,
            node,
            after,
            after_bytes: Vec::new(),
        });
    }
    instances_before.extend(seen.into_keys());
    Ok(steps)
}

/// A period's `duration_us` and `memory_mb` arrays, as read (`null` for a call that asks nothing).
type AskArrays = (Option<Vec<Option<u64>>>, Option<Vec<Option<u32>>>);

/// A period's `duration_us` and `memory_mb` arrays as its calls' asks, checked: both or neither, one
/// per call; a call with `null` in both asks nothing ([`CallAsk::NOTHING`]).
fn asks_of(
    period: usize,
    calls: usize,
    (durations, memory): AskArrays,
) -> Result<Vec<CallAsk>, String> {
    match (durations, memory) {
        (None, None) => Ok(Vec::new()),
        (Some(d), Some(m)) if d.len() == calls && m.len() == calls => d
            .into_iter()
            .zip(m)
            .enumerate()
            .map(|(k, ask)| match ask {
                (Some(duration_us), Some(memory_mb)) => Ok(CallAsk {
                    duration_us,
                    memory_mb,
                }),
                (None, None) => Ok(CallAsk::NOTHING),
                _ => Err(format!(
                    "period {period}, call {k}: `duration_us` and `memory_mb` are both null (the call asks nothing) or neither"
                )),
            })
            .collect(),
        (d, m) => Err(format!(
            "period {period}: `duration_us` and `memory_mb` must both be there or neither, one per call \
             ({calls} calls; {} durations, {} memory sizes)",
            d.map_or(0, |d| d.len()),
            m.map_or(0, |m| m.len())
        )),
    }
}

/// The arrays of a workflow load's period (`workflow_instance`, `node`, `after`, `after_bytes`) as its
/// steps, checked: none when none is there.
type WorkflowArrays = (
    Option<Vec<u64>>,
    Option<Vec<u32>>,
    Option<Vec<Vec<u32>>>,
    Option<Vec<Vec<u64>>>,
);

fn steps_of(
    period: usize,
    timestamps: &[u64],
    (instances, nodes, after, after_bytes): WorkflowArrays,
    instances_before: &mut std::collections::HashSet<u64>,
) -> Result<Vec<WorkflowStep>, String> {
    match (instances, nodes, after) {
        (None, None, None) => Ok(Vec::new()),
        (Some(i), Some(n), Some(a)) => {
            let mut steps = workflow_steps(period, timestamps, (i, n, a), instances_before)?;
            if let Some(sizes) = after_bytes {
                edge_sizes(period, &mut steps, sizes)?;
            }
            Ok(steps)
        }
        _ => Err(format!(
            "period {period}: `workflow_instance`, `node` and `after` must all be there or none"
        )),
    }
}

/// A period's `after_bytes` into its steps, checked: one list per call, as long as its `after`.
fn edge_sizes(
    period: usize,
    steps: &mut [WorkflowStep],
    sizes: Vec<Vec<u64>>,
) -> Result<(), String> {
    if sizes.len() != steps.len() {
        return Err(format!(
            "period {period}: {} calls but {} `after_bytes` entries (one per call)",
            steps.len(),
            sizes.len()
        ));
    }
    for (k, (step, sizes)) in steps.iter_mut().zip(sizes).enumerate() {
        if sizes.len() != step.after.len() {
            return Err(format!(
                "period {period}, call {k}: `after_bytes` has {} sizes for {} calls in `after` (one per call waited for)",
                sizes.len(),
                step.after.len()
            ));
        }
        step.after_bytes = sizes;
    }
    Ok(())
}

struct EndpointsSeed<'a> {
    interner: &'a mut Interner,
}

impl<'de> DeserializeSeed<'de> for EndpointsSeed<'_> {
    type Value = Vec<u32>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EndpointsSeed<'_> {
    type Value = Vec<u32>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of strings (endpoints, or workflow nodes)")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(name) = seq.next_element_seed(EndpointSeed {
            interner: &mut *self.interner,
        })? {
            ids.push(name);
        }
        Ok(ids)
    }
}

struct EndpointSeed<'a> {
    interner: &'a mut Interner,
}

impl<'de> DeserializeSeed<'de> for EndpointSeed<'_> {
    type Value = u32;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for EndpointSeed<'_> {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an endpoint string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u32, E> {
        Ok(self.interner.intern(v))
    }
}
