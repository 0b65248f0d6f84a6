//! A generator's processes: started in a process group of their own, each told to die with the thread
//! that started it (`PR_SET_PDEATHSIG`), the group adopted by the program's stop handler (a third
//! Ctrl-C kills it before the program ends at once), and ended as a group: SIGTERM, then SIGKILL.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant, SystemTime};

/// A process group started for an interference, ended when dropped.
#[derive(Debug)]
pub struct Group {
    child: Child,
    pgid: i32,
    /// When it started.
    pub started: SystemTime,
    /// When it ended, once it has.
    pub ended: Option<SystemTime>,
    status: Option<ExitStatus>,
}

impl Group {
    /// Starts `command` as the leader of a new process group.
    pub fn spawn(command: &mut Command) -> io::Result<Group> {
        let parent = std::process::id() as libc::pid_t;
        command.process_group(0);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before the prctl: then nothing would signal us.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let child = command.spawn()?;
        let pgid = child.id() as i32;
        cmdline::adopt_group(pgid);
        Ok(Group {
            child,
            pgid,
            started: SystemTime::now(),
            ended: None,
            status: None,
        })
    }

    /// The group leader's process id (the group's id too).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has ended by itself (its leader exited).
    pub fn finished(&mut self) -> bool {
        if self.status.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(status);
                self.ended = Some(SystemTime::now());
            }
        }
        self.status.is_some()
    }

    /// Ends the whole group: SIGTERM (a generator reports what it did), SIGKILL after `grace`; returns
    /// the leader's exit status.
    pub fn end(&mut self, grace: Duration) -> Option<ExitStatus> {
        if !self.finished() {
            signal_group(self.pgid, libc::SIGTERM);
            let deadline = Instant::now() + grace;
            while !self.finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if !self.finished() {
                signal_group(self.pgid, libc::SIGKILL);
                self.status = self.child.wait().ok();
                self.ended = Some(SystemTime::now());
            }
        }
        // Whatever the leader left behind in its group goes too.
        signal_group(self.pgid, libc::SIGKILL);
        cmdline::release_group(self.pgid);
        self.status
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.end(Duration::from_millis(500));
    }
}

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: a plain syscall; a group that is gone makes it fail harmlessly (ESRCH).
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// Sends `signal` to process `pid` (a worker paused, resumed or killed): an error names why it failed.
pub fn signal_process(pid: u32, signal: i32) -> io::Result<()> {
    // SAFETY: a plain syscall.
    if unsafe { libc::kill(pid as libc::pid_t, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_ends_with_its_children() {
        let mut group =
            Group::spawn(Command::new("sh").args(["-c", "sleep 30 & sleep 30 & wait"])).unwrap();
        let pgid = group.pid() as i32;
        group.end(Duration::from_millis(500));
        // No process is left in the group (init reaps the orphans it killed: a bounded wait for that).
        let deadline = Instant::now() + Duration::from_secs(5);
        while unsafe { libc::kill(-pgid, 0) } == 0 {
            assert!(
                Instant::now() < deadline,
                "group {pgid} still has processes"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(group.ended.is_some());
    }
}
