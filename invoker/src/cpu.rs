//! CPU placement: which CPUs exist and pinning the calling thread to some of them (Linux affinity).

/// CPUs this process may use.
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Every CPU but `cpu` (or `cpu` itself on a one-CPU machine).
pub fn all_cpus_but(cpu: usize) -> Vec<usize> {
    let others: Vec<usize> = (0..online_cpus()).filter(|&c| c != cpu).collect();
    if others.is_empty() {
        vec![cpu]
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
    }
}
