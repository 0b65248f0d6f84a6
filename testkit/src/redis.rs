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
    /// Starts redis-server; panics when it is missing or does not answer within 10 s.
    pub fn start() -> Redis {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = crate::nginx::free_port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
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
        crate::wait_until(Duration::from_secs(10), "redis-server answering", || {
            if let Ok(Some(status)) = redis.child.try_wait() {
                panic!("redis-server exited ({status})");
            }
            redis.command("PING").ok().filter(|r| r == "+PONG")
        });
        redis
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
