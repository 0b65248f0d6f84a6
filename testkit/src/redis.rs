//! A real Redis (Debian's `redis-server`) on a free loopback port, started and stopped by the test: the
//! store a workflow's data goes through (`--store`). It keeps nothing on disk.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A started redis-server.
pub struct Redis {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// Starts redis-server; panics when it is missing or does not answer within 10 s. The free port it is
    /// given may be taken by a neighbour test before redis binds it: then redis exits, and it is started
    /// again on another port (5 tries); its own output names why it could not start.
    pub fn start() -> Redis {
        let mut why = String::new();
        for _ in 0..5 {
            match Redis::try_start() {
                Ok(redis) => return redis,
                Err(e) => why = e,
            }
        }
        panic!("redis-server did not start in 5 tries: {why}");
    }

    fn try_start() -> Result<Redis, String> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = crate::nginx::free_port();
        let log = dir.path().join("redis.log");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (apt-get install redis-server)");
        let mut redis = Redis {
            child,
            port,
            _dir: dir,
        };
        let exited = crate::wait_until(Duration::from_secs(10), "redis-server answering", || {
            if let Ok(Some(status)) = redis.child.try_wait() {
                return Some(Some(status));
            }
            redis
                .command("PING")
                .ok()
                .filter(|r| r == "+PONG")
                .map(|_| None)
        });
        match exited {
            None => Ok(redis),
            Some(status) => Err(format!(
                "it exited ({status}) on port {port}: {}",
                std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .lines()
                    .last()
                    .unwrap_or("no output")
            )),
        }
    }

    /// Its URL, as `--store` takes it.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends one inline command; its one-line answer (`+PONG`, `:3`, …).
    pub fn command(&self, command: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(format!("{command}\r\n").as_bytes())?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line)?;
        Ok(line.trim_end().to_owned())
    }

    /// How many keys it holds.
    pub fn keys(&self) -> u64 {
        let answer = self.command("DBSIZE").expect("DBSIZE");
        answer
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("DBSIZE answered `{answer}`"))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
