//! A real nginx (Debian's `nginx-light`) on loopback, started and stopped by the test: HTTP/1.1, h2c and
//! TLS (h2 and HTTP/1.1 by ALPN) servers answering fixed replies, for the HTTP client's tests and
//! benchmarks.
//!
//! Locations: `/` answers 200 with `hello`, `/kib` 200 with 1,024 bytes, `/missing` 404, `/busy` 503, and
//! `/reset` closes the connection without a reply (nginx's 444), `/authorization` answers with the
//! request's `Authorization` header.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The ports a started nginx listens on.
pub struct Nginx {
    child: Child,
    /// HTTP/1.1 (`http://127.0.0.1:PORT`).
    pub http: u16,
    /// HTTP/2 with prior knowledge (`h2c://127.0.0.1:PORT`).
    pub h2c: u16,
    /// TLS with ALPN (`https://localhost:PORT`), when started with a certificate.
    pub https: Option<u16>,
    dir: tempfile::TempDir,
}

/// The nginx binary, or `None` when it is not installed (`.ci/run` installs it).
pub fn binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A free loopback port (free when asked; the server binds it a moment later).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

const LOCATIONS: &str = r#"
        location = / { return 200 "hello"; }
        location = /kib { alias KIB; default_type application/octet-stream; }
        location = /missing { return 404; }
        location = /busy { return 503; }
        location = /reset { return 444; }
        location = /authorization { return 200 "$http_authorization"; }
        location = /echo { return 200 "$request_method|$http_x_tenant|$arg_PayloadLengthBytes"; }
        location = /short-lived { keepalive_requests 2; return 200 "short"; }
        location = /idle-closing { keepalive_timeout 50ms; return 200 "idle"; }
"#;

impl Nginx {
    /// Starts nginx; with `tls` (a certificate chain's PEM and its key's PEM), a TLS server too. Panics
    /// when nginx is missing or does not listen within 10 s.
    pub fn start(tls: Option<(&str, &str)>) -> Nginx {
        let binary = binary().expect("nginx is installed (apt-get install nginx-light)");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let d = dir.path();
        let kib = d.join("kib");
        std::fs::write(&kib, vec![b'k'; 1024]).expect("writing /kib");
        let (http, h2c) = (free_port(), free_port());
        let locations = LOCATIONS.replace("KIB", &kib.display().to_string());
        let mut servers = format!(
            "    server {{ listen 127.0.0.1:{http}; {locations} }}\n    server {{ listen 127.0.0.1:{h2c} http2; {locations} }}\n"
        );
        let https = tls.map(|(chain, key)| {
            std::fs::write(d.join("chain.pem"), chain).expect("writing the chain");
            std::fs::write(d.join("key.pem"), key).expect("writing the key");
            let port = free_port();
            servers.push_str(&format!(
                "    server {{ listen 127.0.0.1:{port} ssl http2; ssl_certificate {0}/chain.pem; ssl_certificate_key {0}/key.pem; {locations} }}\n",
                d.display()
            ));
            port
        });
        let temp = |name: &str| format!("{name}_temp_path {}/{name};", d.display());
        let config = format!(
            "daemon off;\nmaster_process off;\npid {0}/nginx.pid;\nerror_log {0}/error.log warn;\nevents {{ worker_connections 4096; }}\nhttp {{\n    access_log off;\n    keepalive_requests 1000000;\n    http2_max_concurrent_streams 1024;\n    {1} {2} {3} {4} {5}\n{servers}}}\n",
            d.display(),
            temp("client_body"),
            temp("proxy"),
            temp("fastcgi"),
            temp("uwsgi"),
            temp("scgi"),
        );
        let conf = d.join("nginx.conf");
        std::fs::write(&conf, config).expect("writing nginx.conf");
        let child = Command::new(binary)
            .args(["-p", &d.display().to_string(), "-e"])
            .arg(d.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting nginx");
        let mut nginx = Nginx {
            child,
            http,
            h2c,
            https,
            dir,
        };
        let ports: Vec<u16> = [Some(http), Some(h2c), https]
            .into_iter()
            .flatten()
            .collect();
        crate::wait_until(Duration::from_secs(10), "nginx listening", || {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited ({status}): {}", nginx.error_log());
            }
            ports
                .iter()
                .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
                .then_some(())
        });
        nginx
    }

    /// Its process (one: nginx runs without a master here), to pin it to CPUs in benchmarks.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What nginx wrote to its error log.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir().join("error.log")).unwrap_or_default()
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
