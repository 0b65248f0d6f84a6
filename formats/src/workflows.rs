//! `workflows.csv`: one line per workflow instance of a workflow load, saying where its time went.
//!
//! ```text
//! workflow_instance,warmup,due_us,calls,failed,bytes,end_to_end_us,critical_path_us,overhead_us,transfer_us
//! 0,0,29914,4,0,1102000,61210,45107,16103,
//! ```
//!
//! - `warmup`: 1 when it was due in a warm-up period (left out of the report's figures);
//! - `due_us`: when the instance was due (its entry's due time), µs from the run's start;
//! - `calls`: its calls; `failed`: those that did not succeed (not sent included);
//! - `bytes`: what its calls sent (their `request_bytes`, summed);
//! - `end_to_end_us`: from its due time to the end of its last call;
//! - `critical_path_us`: along the longest path through its graph (each call weighted by its function's
//!   own execution time, `exec_us`), the time the functions computed: `exec_us` less `transfer_us`;
//! - `overhead_us`: end to end minus the critical path minus the transfers on it: what orchestration and
//!   the platform added (and, with data inline, moving it in the requests, which no function times);
//! - `transfer_us`: the time the data on that path took to move: each function's inline input, from its
//!   request's headers to its body's last frame, and, with a store (`--store`), its reads and writes
//!   there; empty when no function timed any.
//!
//! The last four are empty when a call failed or a function did not report its time.

use std::io::{self, Write};
use std::path::Path;

/// The file's name in a run directory.
pub const WORKFLOWS: &str = "workflows.csv";

/// The header, the one definition of the columns.
pub const WORKFLOWS_HEADER: &str =
    "workflow_instance,warmup,due_us,calls,failed,bytes,end_to_end_us,critical_path_us,overhead_us,transfer_us";

/// One workflow instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InstanceRow {
    /// The instance.
    pub instance: u64,
    /// Due in a warm-up period.
    pub warmup: bool,
    /// When it was due, µs from the run's start.
    pub due_us: u64,
    /// Its calls.
    pub calls: u32,
    /// Calls that did not succeed.
    pub failed: u32,
    /// Bytes its calls sent.
    pub bytes: u64,
    /// Due time to the end of its last call, µs, when every call succeeded.
    pub end_to_end_us: Option<u64>,
    /// Along its longest path of its functions' own execution times, the time they computed, µs, when
    /// every one reported.
    pub critical_path_us: Option<u64>,
    /// Along that path, the time its functions spent moving data through a store, µs (none: inline).
    pub transfer_us: Option<u64>,
}

impl InstanceRow {
    /// End to end minus the critical path and its data transfers, µs.
    pub fn overhead_us(&self) -> Option<u64> {
        Some(
            self.end_to_end_us?
                .saturating_sub(self.critical_path_us? + self.transfer_us.unwrap_or(0)),
        )
    }
}

/// Writes `rows` to `path`, whole or not at all.
pub fn write(path: &Path, rows: &[InstanceRow]) -> io::Result<()> {
    let mut text = Vec::with_capacity(64 * (rows.len() + 1));
    writeln!(text, "{WORKFLOWS_HEADER}")?;
    let field = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    for r in rows {
        writeln!(
            text,
            "{},{},{},{},{},{},{},{},{},{}",
            r.instance,
            u8::from(r.warmup),
            r.due_us,
            r.calls,
            r.failed,
            r.bytes,
            field(r.end_to_end_us),
            field(r.critical_path_us),
            field(r.overhead_us()),
            field(r.transfer_us)
        )?;
    }
    crate::output::write_atomic(path, &text).map_err(|e| crate::output::with_path(path, e))
}

/// Reads a `workflows.csv` back; a line that is not a row is an error naming the file and line.
pub fn read(path: &Path) -> io::Result<Vec<InstanceRow>> {
    let text = std::fs::read_to_string(path).map_err(|e| crate::output::with_path(path, e))?;
    let bad = |line: usize, why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: line {line}: {why}", path.display()),
        )
    };
    let mut lines = text.lines();
    if lines.next() != Some(WORKFLOWS_HEADER) {
        return Err(bad(1, &format!("the header is not `{WORKFLOWS_HEADER}`")));
    }
    lines
        .enumerate()
        .map(|(k, line)| {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 10 {
                return Err(bad(k + 2, "not 10 fields"));
            }
            let number = |i: usize| -> io::Result<Option<u64>> {
                match f[i] {
                    "" => Ok(None),
                    v => v
                        .parse()
                        .map(Some)
                        .map_err(|_| bad(k + 2, &format!("`{v}` is not a whole number"))),
                }
            };
            let needed =
                |i: usize| number(i)?.ok_or_else(|| bad(k + 2, "a required field is empty"));
            Ok(InstanceRow {
                instance: needed(0)?,
                warmup: needed(1)? == 1,
                due_us: needed(2)?,
                calls: needed(3)? as u32,
                failed: needed(4)? as u32,
                bytes: needed(5)?,
                end_to_end_us: number(6)?,
                critical_path_us: number(7)?,
                transfer_us: number(9)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_written_with_their_overhead_and_blanks_where_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(WORKFLOWS);
        let done = InstanceRow {
            instance: 0,
            warmup: false,
            due_us: 10,
            calls: 4,
            failed: 0,
            bytes: 2048,
            end_to_end_us: Some(500),
            critical_path_us: Some(420),
            transfer_us: None,
        };
        let stored = InstanceRow {
            instance: 2,
            transfer_us: Some(30),
            ..done
        };
        let failed = InstanceRow {
            instance: 1,
            failed: 1,
            end_to_end_us: None,
            ..done
        };
        write(&path, &[done, failed, stored]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!(
                "{WORKFLOWS_HEADER}\n0,0,10,4,0,2048,500,420,80,\n1,0,10,4,1,2048,,420,,\n\
                 2,0,10,4,0,2048,500,420,50,30\n"
            )
        );
        assert_eq!(read(&path).unwrap(), [done, failed, stored]);
        std::fs::write(&path, format!("{WORKFLOWS_HEADER}\n0,1,2\n")).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("workflows.csv: line 2"), "{e}");
    }
}
