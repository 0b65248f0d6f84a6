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
