//! The machine the tools run on: which CPUs exist, pinning the calling thread to some of them (Linux
//! affinity), the hypervisor steal time each CPU suffered (so a figure can say what the VM took), and a
//! description of the machine and a file for benchmark output ([`bench`]).

/// CPUs this process may use.
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Every CPU but `cpu` (or `cpu` itself on a one-CPU machine).
pub fn all_cpus_but(cpu: usize) -> Vec<usize> {
    cpus_except(&[cpu])
}

/// Every online CPU but `taken` (all of `taken` if that leaves none).
pub fn cpus_except(taken: &[usize]) -> Vec<usize> {
    let others: Vec<usize> = (0..online_cpus()).filter(|c| !taken.contains(c)).collect();
    if others.is_empty() {
        taken.to_vec()
    } else {
        others
    }
}

/// Restricts the calling thread to `cpus`; `false` if the kernel refused.
pub fn pin_to(cpus: &[usize]) -> bool {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays within it for cpu < CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Memory the kernel says can be given to new work without swapping (`MemAvailable`), bytes; `None`
/// where it does not say.
pub fn available_memory_bytes() -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()?
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))?
        .split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kib| kib * 1024)
}

/// Time the hypervisor ran something else while each CPU had work ("steal", from `/proc/stat`), ms, by
/// CPU number; empty where the kernel does not say (not Linux, or not virtualised).
pub fn steal_ms() -> Vec<(usize, f64)> {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return Vec::new();
    };
    // SAFETY: sysconf has no preconditions.
    let ticks_per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    stat.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let cpu = fields.next()?.strip_prefix("cpu")?.parse::<usize>().ok()?;
            // user nice system idle iowait irq softirq steal
            let steal = fields.nth(7)?.parse::<f64>().ok()?;
            Some((cpu, steal * 1e3 / ticks_per_s))
        })
        .collect()
}

/// How many times the calling thread has been preempted (involuntary context switches, from
/// `getrusage(RUSAGE_THREAD)`): a spinning thread's count of interruptions by others.
pub fn thread_preemptions() -> u64 {
    // SAFETY: a zeroed rusage is a valid output buffer; RUSAGE_THREAD reads the calling thread's.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_THREAD, &mut usage) == 0 {
            usage.ru_nivcsw.max(0) as u64
        } else {
            0
        }
    }
}

/// Steal accrued between two [`steal_ms`] readings, per CPU.
pub fn steal_between(before: &[(usize, f64)], after: &[(usize, f64)]) -> Vec<(usize, f64)> {
    after
        .iter()
        .filter_map(|&(cpu, a)| {
            let b = before.iter().find(|(c, _)| *c == cpu)?.1;
            Some((cpu, (a - b).max(0.0)))
        })
        .collect()
}

/// Benchmark output: every line printed and written to a file, under a header saying when and on what
/// machine it was measured, so a figure quoted elsewhere can name its source.
pub mod bench {
    use std::fmt::Write as _;
    use std::io::Write as _;
    use std::path::{Path, PathBuf};

    /// This machine in one line: kernel, CPU model, CPUs, memory.
    pub fn machine() -> String {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let model = read("/proc/cpuinfo")
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown CPU".to_owned(), |(_, m)| m.trim().to_owned());
        let memory_gib = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / (1024.0 * 1024.0));
        let kernel = read("/proc/sys/kernel/osrelease");
        format!(
            "{} CPUs ({model}), {memory_gib:.0} GiB, Linux {}",
            super::online_cpus(),
            kernel.trim()
        )
    }

    /// Lines printed and kept, written to a file at [`Output::finish`].
    pub struct Output {
        path: PathBuf,
        text: String,
    }

    impl Output {
        /// Output for the benchmark `name`, to be written to `path`; prints the header (UTC date,
        /// machine, command).
        pub fn new(name: &str, path: &Path) -> Output {
            let mut out = Output {
                path: path.to_owned(),
                text: String::new(),
            };
            let date = std::process::Command::new("date")
                .args(["-u", "+%Y-%m-%d %H:%M UTC"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default();
            out.line(&format!("# {name}: {date}"));
            out.line(&format!("# machine: {}", machine()));
            out
        }

        /// Prints `line` and keeps it.
        pub fn line(&mut self, line: &str) {
            println!("{line}");
            let _ = writeln!(self.text, "{line}");
        }

        /// Writes everything kept to the file (created with its directory); says where.
        pub fn finish(self) {
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            match std::fs::File::create(&self.path)
                .and_then(|mut f| f.write_all(self.text.as_bytes()))
            {
                Ok(()) => println!("written to {}", self.path.display()),
                Err(e) => eprintln!("could not write {}: {e}", self.path.display()),
            }
        }
    }

    /// The median of `values` (the mean of the middle two when they are even in number; NaN for none).
    pub fn median(values: &[f64]) -> f64 {
        let mut v: Vec<f64> = values.to_vec();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// `values` as `median [min–max]` with `digits` decimals, for spreads over repeated runs.
    pub fn spread(values: &[f64], digits: usize) -> String {
        let mut v: Vec<f64> = values.to_vec();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => "-".into(),
            1 => format!("{:.digits$}", v[0]),
            n => format!(
                "{:.digits$} [{:.digits$}–{:.digits$}]",
                median(&v),
                v[0],
                v[n - 1]
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_read_per_cpu_and_differenced() {
        let now = steal_ms();
        if std::path::Path::new("/proc/stat").exists() {
            assert_eq!(now.len(), online_cpus().max(now.len()));
            assert!(now.iter().all(|&(_, ms)| ms >= 0.0));
        }
        let d = steal_between(&[(0, 10.0), (1, 5.0)], &[(0, 30.0), (1, 5.0), (2, 1.0)]);
        assert_eq!(d, vec![(0, 20.0), (1, 0.0)]);
        assert_eq!(bench::spread(&[3.0, 1.0, 2.0], 1), "2.0 [1.0–3.0]");
        assert_eq!(bench::spread(&[4.0, 1.0], 0), "2 [1–4]");
        assert_eq!(bench::median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(bench::median(&[3.0, 1.0, 2.0]), 2.0);
        assert!(bench::machine().contains("CPUs"));
        if std::path::Path::new("/proc/meminfo").exists() {
            assert!(available_memory_bytes().unwrap() > 0);
        }
    }
}
