//! What each call sends, beyond where: the HTTP method, headers and payload, and how connections are
//! held. [`RequestArgs`] is the one definition of these flags, shared by `invoker` and `loadgen run`, and
//! [`RequestArgs::to_args`] writes them back for the invokers of workers. The file is long because the
//! flags, their resolution (headers, `$VAR`s, signing, endpoints' own requests) and its tests sit together.

use std::path::PathBuf;

use bytes::Bytes;
use clap::Args;

/// The request flags.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RequestArgs {
    /// HTTP method of HTTP endpoints' calls: GET or POST.
    #[arg(long, value_name = "METHOD", default_value = "GET", value_parser = parse_method)]
    pub method: String,

    /// A header of every HTTP call, `Name: value` (repeatable). `$VAR` or `${VAR}` in the value is taken
    /// from the environment where the invoker starts, so tokens stay out of files and command lines.
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,

    /// Payload of every call, bytes: a POST's body, a GET's `PayloadLengthBytes=N` query (the reply size
    /// STeLLAR's functions are asked for), or the gRPC request's `name` field.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=MAX_PAYLOAD_BYTES))]
    pub payload_bytes: Option<u64>,

    /// Most HTTP/1.1 connections per endpoint: a call that finds every open one busy opens another, up to
    /// this many, and otherwise waits for one (the wait shows in its send lag).
    #[arg(long, value_name = "N", default_value_t = MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections: u32,

    /// A new connection (and TLS handshake) for every HTTP call, as STeLLAR dials, so that latencies
    /// include connection set-up.
    #[arg(long)]
    pub connection_per_call: bool,

    /// A PEM file of root certificates trusted for https:// endpoints, besides the platform's.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Sign every HTTP call with AWS Signature V4 for SERVICE in REGION (`execute-api:us-west-1` for API
    /// Gateway, `lambda:REGION` for function URLs), with the credentials of `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` where the invoker starts.
    #[arg(long, value_name = "SERVICE:REGION")]
    pub aws_sigv4: Option<String>,

    /// An endpoints file (`endpoints.json`) whose entries may give their endpoint its own `method`,
    /// `headers` and `payload_bytes`, in place of `--method`, `--header` and `--payload-bytes` for that
    /// endpoint's calls (an entry's header replaces a `--header` of the same name).
    #[arg(long, value_name = "FILE")]
    pub endpoint_requests: Option<PathBuf>,
}

/// The largest payload a call may send, bytes (1 GiB).
pub const MAX_PAYLOAD_BYTES: u64 = 1 << 30;

/// Most HTTP/1.1 connections per endpoint unless `--max-connections` says.
pub const MAX_CONNECTIONS: u32 = 1024;

impl Default for RequestArgs {
    /// The flags' defaults.
    fn default() -> Self {
        RequestArgs {
            method: "GET".to_owned(),
            headers: Vec::new(),
            payload_bytes: None,
            max_connections: MAX_CONNECTIONS,
            connection_per_call: false,
            ca_cert: None,
            aws_sigv4: None,
            endpoint_requests: None,
        }
    }
}

fn parse_method(text: &str) -> Result<String, String> {
    match text.to_ascii_uppercase().as_str() {
        m @ ("GET" | "POST") => Ok(m.to_owned()),
        _ => Err(format!("`{text}` is not GET or POST")),
    }
}

fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` has no colon: a header is `Name: value`"))?;
    let name = name.trim();
    hyper::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a header name"))?;
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// A `$VAR` of a header value that the environment does not hold, signing credentials missing, or an
/// endpoint's own request that is not one.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct HeaderError {
    /// The flag and header (`--header `Authorization``, `--aws-sigv4`), or the file and JSON path of an
    /// endpoint's own request (`endpoints.json [2].method`).
    pub name: String,
    /// What is missing or wrong.
    pub reason: String,
}

/// The request every call sends, resolved once before the run.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    /// `GET` or `POST`.
    pub method: hyper::Method,
    /// Headers, their `$VAR`s resolved.
    pub headers: hyper::HeaderMap,
    /// A POST's body (empty for GET).
    pub body: Bytes,
    /// Appended to a GET's query (`PayloadLengthBytes=N`), if a payload is asked.
    pub query: Option<String>,
    /// The gRPC request's `name` (vSwarm's helloworld has no other field for a payload).
    pub grpc_name: String,
    /// `--payload-bytes`, as asked (STeLLAR's `payloadLengthBytes` for `vhive://`).
    pub payload_bytes: Option<u64>,
    /// Most HTTP/1.1 connections per endpoint.
    pub max_connections: usize,
    /// A new connection per call.
    pub connection_per_call: bool,
    /// Extra trusted roots.
    pub ca_cert: Option<PathBuf>,
    /// Signs each call, when asked.
    pub signer: Option<crate::client::aws::AwsSigner>,
}

/// Each endpoint's request: the flags', or the one its entry in `--endpoint-requests` gives it.
#[derive(Debug)]
pub struct EndpointRequests {
    /// The distinct requests; the first is the flags'.
    pub templates: Vec<RequestTemplate>,
    /// Per endpoint of the load, the index of its request in `templates`.
    pub of_endpoint: Vec<usize>,
}

/// An endpoint's own request, from its entry in an endpoints file.
#[derive(Debug, Clone)]
pub struct OwnRequest {
    /// The entry's index in the file.
    pub entry: usize,
    /// The endpoint, as the load names it.
    pub endpoint: String,
    /// The flags with the entry's method, headers and payload in place.
    pub args: RequestArgs,
}

/// What the invoker sends as a gRPC request's name when no payload is asked (vSwarm's relay accepts any).
pub const GRPC_NAME: &str = "Invoke Relay";

impl RequestArgs {
    /// The template, with each header's `$VAR` taken from `env`.
    pub fn resolve(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<RequestTemplate, HeaderError> {
        let mut headers = hyper::HeaderMap::new();
        for (name, value) in &self.headers {
            let error = |reason: String| HeaderError {
                name: format!("--header `{name}`"),
                reason,
            };
            let value = expand(value, &env).map_err(error)?;
            let value = hyper::header::HeaderValue::from_str(&value)
                .map_err(|_| error("the value holds a character a header cannot".into()))?;
            let name = hyper::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| error("not a header name".into()))?;
            headers.append(name, value);
        }
        let post = self.method == "POST";
        let payload = self.payload_bytes.unwrap_or(0) as usize;
        Ok(RequestTemplate {
            method: if post {
                hyper::Method::POST
            } else {
                hyper::Method::GET
            },
            headers,
            body: if post {
                Bytes::from(vec![b'x'; payload])
            } else {
                Bytes::new()
            },
            query: self
                .payload_bytes
                .filter(|_| !post)
                .map(|n| format!("PayloadLengthBytes={n}")),
            payload_bytes: self.payload_bytes,
            grpc_name: match self.payload_bytes {
                Some(n) => "x".repeat(n as usize),
                None => GRPC_NAME.to_owned(),
            },
            max_connections: self.max_connections.max(1) as usize,
            connection_per_call: self.connection_per_call,
            ca_cert: self.ca_cert.clone(),
            signer: self
                .aws_sigv4
                .as_deref()
                .map(|scope| crate::client::aws::AwsSigner::from_env(scope, &env))
                .transpose()
                .map_err(|reason| HeaderError {
                    name: "--aws-sigv4".into(),
                    reason,
                })?,
        })
    }

    /// Per endpoint of `endpoints` (a load's, in its order), its request: the flags', or the one its
    /// entry in `--endpoint-requests` gives it. Every entry's own request is checked, whether the load
    /// calls its endpoint or not; only those the load calls take their `$VAR`s from `env`.
    pub fn resolve_for(
        &self,
        endpoints: &[String],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<EndpointRequests, HeaderError> {
        let mut requests = EndpointRequests {
            templates: vec![self.resolve(&env)?],
            of_endpoint: vec![0; endpoints.len()],
        };
        let Some(path) = &self.endpoint_requests else {
            return Ok(requests);
        };
        let position: std::collections::HashMap<&str, usize> = endpoints
            .iter()
            .enumerate()
            .map(|(k, e)| (e.as_str(), k))
            .collect();
        for own in self.own_requests("--endpoint-requests", path)? {
            let Some(&k) = position.get(own.endpoint.as_str()) else {
                continue;
            };
            let template = own.args.resolve(&env).map_err(|e| HeaderError {
                name: format!("{} [{}] ({})", path.display(), own.entry, e.name),
                reason: e.reason,
            })?;
            requests.templates.push(template);
            requests.of_endpoint[k] = requests.templates.len() - 1;
        }
        Ok(requests)
    }

    /// The entries of the endpoints file `path` (given by `flag`, which an unreadable file's error names)
    /// that give their endpoint a request of its own; an entry's bad method, header or payload is refused
    /// with the file, its JSON path and the value, and so is an endpoint given two requests.
    pub fn own_requests(
        &self,
        flag: &str,
        path: &std::path::Path,
    ) -> Result<Vec<OwnRequest>, HeaderError> {
        let entries = formats::endpoints::read(path).map_err(|e| HeaderError {
            name: flag.into(),
            reason: e.to_string(),
        })?;
        let mut own = Vec::new();
        let mut first_of = std::collections::HashMap::new();
        for (i, entry) in entries.iter().enumerate() {
            if !entry.has_own_request() {
                continue;
            }
            let at = |field: String, reason: String| HeaderError {
                name: format!("{} [{i}].{field}", path.display()),
                reason,
            };
            if let Some(first) = first_of.insert(entry.endpoint.as_str(), i) {
                return Err(at(
                    "endpoint".into(),
                    format!(
                        "`{}` is given its own request by entry [{first}] already",
                        entry.endpoint
                    ),
                ));
            }
            let mut args = self.clone();
            if let Some(method) = &entry.method {
                args.method = parse_method(method).map_err(|r| at("method".into(), r))?;
            }
            for (j, header) in entry.headers.iter().enumerate() {
                let (name, value) =
                    parse_header(header).map_err(|r| at(format!("headers[{j}]"), r))?;
                args.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
                args.headers.push((name, value));
            }
            if let Some(n) = entry.payload_bytes {
                if n > MAX_PAYLOAD_BYTES {
                    return Err(at(
                        "payload_bytes".into(),
                        format!("{n} is over the largest payload, {MAX_PAYLOAD_BYTES}"),
                    ));
                }
                args.payload_bytes = Some(n);
            }
            own.push(OwnRequest {
                entry: i,
                endpoint: entry.endpoint.clone(),
                args,
            });
        }
        Ok(own)
    }

    /// The files these flags name, by flag (`ca-cert`, `endpoint-requests`): what a worker elsewhere
    /// fetches from its coordinator.
    pub fn files(&self) -> [(&'static str, Option<&PathBuf>); 2] {
        [
            ("ca-cert", self.ca_cert.as_ref()),
            ("endpoint-requests", self.endpoint_requests.as_ref()),
        ]
    }

    /// [`RequestArgs::files`], to point them elsewhere (at a worker's copies).
    pub fn files_mut(&mut self) -> [(&'static str, &mut Option<PathBuf>); 2] {
        [
            ("ca-cert", &mut self.ca_cert),
            ("endpoint-requests", &mut self.endpoint_requests),
        ]
    }

    /// The environment variables the calls need where the invoker runs: those `$VAR`s of the headers
    /// (and of the `--endpoint-requests` entries' headers) name, and with `--aws-sigv4` the AWS
    /// credentials (what a Kubernetes worker gets from a Secret). A file that cannot be read adds none:
    /// resolving the requests says why.
    pub fn variables(&self) -> Vec<String> {
        let found = std::cell::RefCell::new(Vec::new());
        let own = self
            .endpoint_requests
            .as_deref()
            .and_then(|path| self.own_requests("--endpoint-requests", path).ok())
            .unwrap_or_default();
        let headers = self
            .headers
            .iter()
            .chain(own.iter().flat_map(|o| &o.args.headers));
        for (_, value) in headers {
            let _ = expand(value, &|name: &str| {
                found.borrow_mut().push(name.to_owned());
                Some(String::new())
            });
        }
        let mut names = found.into_inner();
        if self.aws_sigv4.is_some() {
            names.extend(
                [
                    "AWS_ACCESS_KEY_ID",
                    "AWS_SECRET_ACCESS_KEY",
                    "AWS_SESSION_TOKEN",
                ]
                .map(String::from),
            );
        }
        names.sort();
        names.dedup();
        names
    }

    /// The flags again, as an invoker's arguments (only those away from their defaults).
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.method != "GET" {
            args.extend(["--method".to_owned(), self.method.clone()]);
        }
        for (name, value) in &self.headers {
            args.extend(["--header".to_owned(), format!("{name}: {value}")]);
        }
        if let Some(n) = self.payload_bytes {
            args.extend(["--payload-bytes".to_owned(), n.to_string()]);
        }
        if self.max_connections != MAX_CONNECTIONS {
            args.extend([
                "--max-connections".to_owned(),
                self.max_connections.to_string(),
            ]);
        }
        if self.connection_per_call {
            args.push("--connection-per-call".to_owned());
        }
        if let Some(ca) = &self.ca_cert {
            args.extend(["--ca-cert".to_owned(), ca.display().to_string()]);
        }
        if let Some(scope) = &self.aws_sigv4 {
            args.extend(["--aws-sigv4".to_owned(), scope.clone()]);
        }
        if let Some(file) = &self.endpoint_requests {
            args.extend(["--endpoint-requests".to_owned(), file.display().to_string()]);
        }
        args
    }
}

/// `value` with each `$VAR` and `${VAR}` replaced from `env`; `$$` is a `$`.
fn expand(value: &str, env: &impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, next) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("`${{` without its `}}` in `{value}`"))?;
            (&braced[..end], &braced[end + 1..])
        } else if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if name.is_empty() {
            return Err(format!(
                "a `$` names no variable in `{value}` (write `$$` for a dollar)"
            ));
        }
        let found =
            env(name).ok_or_else(|| format!("the environment variable `{name}` is not set"))?;
        out.push_str(&found);
        rest = next;
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        request: RequestArgs,
    }

    fn parse(args: &[&str]) -> Result<RequestArgs, String> {
        Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .map(|c| c.request)
            .map_err(|e| e.to_string())
    }

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_owned())
    }

    #[test]
    fn headers_take_their_variables_from_the_environment() {
        let a = parse(&[
            "--header",
            "Authorization: Bearer $TOKEN",
            "--header",
            "x-a:${TOKEN}-$$5",
            "--method",
            "post",
            "--payload-bytes",
            "3",
        ])
        .unwrap();
        let t = a.resolve(env).unwrap();
        assert_eq!(t.headers["authorization"], "Bearer s3cret");
        assert_eq!(t.headers["x-a"], "s3cret-$5");
        assert_eq!((t.method.as_str(), &t.body[..]), ("POST", &b"xxx"[..]));
        assert_eq!((t.query.as_deref(), t.grpc_name.as_str()), (None, "xxx"));
        // The arguments name the variable, never its value.
        let again = parse(&a.to_args().iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
        assert_eq!(again, a);
        assert!(!a.to_args().concat().contains("s3cret"));
        assert_eq!(a.variables(), ["TOKEN"]);
        let signed = RequestArgs {
            aws_sigv4: Some("execute-api:eu-west-1".into()),
            ..a.clone()
        };
        assert_eq!(
            signed.variables(),
            [
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN",
                "TOKEN"
            ]
        );

        let get = parse(&["--payload-bytes", "1024"])
            .unwrap()
            .resolve(env)
            .unwrap();
        assert_eq!(get.query.as_deref(), Some("PayloadLengthBytes=1024"));
        assert!(get.body.is_empty());
        assert_eq!(parse(&[]).unwrap(), RequestArgs::default());
        assert_eq!(parse(&[]).unwrap().to_args(), Vec::<String>::new());
        let d = parse(&[]).unwrap().resolve(env).unwrap();
        assert_eq!((d.grpc_name.as_str(), d.max_connections), (GRPC_NAME, 1024));
    }

    #[test]
    fn an_endpoints_own_requests_stand_in_for_the_flags_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("endpoints.json");
        let write = |json: serde_json::Value| std::fs::write(&file, json.to_string()).unwrap();
        write(serde_json::json!([
            {"proxy": "a", "endpoint": "http://a/", "method": "post",
             "headers": ["X-Key: ${TOKEN}", "x-own: 1"], "payload_bytes": 5},
            {"proxy": "b", "endpoint": "http://b/"},
            {"proxy": "c", "endpoint": "http://c/", "headers": ["x-c: $NOT_SET"]},
        ]));
        let flags = RequestArgs {
            headers: vec![
                ("x-key".into(), "flag".into()),
                ("x-all".into(), "2".into()),
            ],
            endpoint_requests: Some(file.clone()),
            ..RequestArgs::default()
        };
        let endpoints = ["http://b/".to_owned(), "http://a/".to_owned()];
        let r = flags.resolve_for(&endpoints, env).unwrap();
        assert_eq!(r.of_endpoint, [0, 1]);
        let own = &r.templates[1];
        assert_eq!(
            (own.method.as_str(), &own.body[..]),
            ("POST", &b"xxxxx"[..])
        );
        // The entry's header replaces the flag's of the same name; the others stay.
        assert_eq!(own.headers["x-key"], "s3cret");
        assert_eq!(own.headers.get_all("x-key").iter().count(), 1);
        assert_eq!(
            (
                own.headers["x-all"].as_bytes(),
                own.headers["x-own"].as_bytes()
            ),
            (&b"2"[..], &b"1"[..])
        );
        assert_eq!(r.templates[0].headers["x-key"], "flag");
        // The load does not call c, so its variable is not needed; the file's are named for a Secret.
        assert_eq!(flags.variables(), ["NOT_SET", "TOKEN"]);
        assert!(flags.to_args().contains(&"--endpoint-requests".to_owned()));
        let e = flags
            .resolve_for(&["http://c/".to_owned()], env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[2]") && e.contains("`NOT_SET` is not set"),
            "{e}"
        );

        for (json, path, says) in [
            (
                serde_json::json!([{"endpoint": "e", "method": "PUT"}]),
                "[0].method",
                "`PUT` is not GET or POST",
            ),
            (
                serde_json::json!([{"endpoint": "e"}, {"endpoint": "e", "headers": ["ok: 1", "NoColon"]}]),
                "[1].headers[1]",
                "has no colon",
            ),
            (
                serde_json::json!([{"endpoint": "e", "payload_bytes": 1u64 << 31}]),
                "[0].payload_bytes",
                "over the largest",
            ),
            (
                serde_json::json!([{"endpoint": "e", "method": "GET"}, {"endpoint": "e", "method": "POST"}]),
                "[1].endpoint",
                "by entry [0] already",
            ),
        ] {
            write(json);
            let e = flags.resolve_for(&[], env).unwrap_err().to_string();
            assert!(
                e.contains(&format!("endpoints.json {path}")) && e.contains(says),
                "{e}"
            );
        }
        write(serde_json::json!({"endpoint": "e"}));
        let e = flags.resolve_for(&[], env).unwrap_err().to_string();
        assert!(
            e.contains("--endpoint-requests") && e.contains("endpoints.json"),
            "{e}"
        );
    }

    #[test]
    fn bad_headers_are_refused_with_the_header_named() {
        let e = parse(&["--header", "NoColon"]).unwrap_err();
        assert!(e.contains("`NoColon` has no colon"), "{e}");
        let e = parse(&["--header", "bad name: v"]).unwrap_err();
        assert!(e.contains("`bad name` is not a header name"), "{e}");
        let e = parse(&["--method", "PUT"]).unwrap_err();
        assert!(e.contains("`PUT` is not GET or POST"), "{e}");
        let a = parse(&["--header", "Authorization: $MISSING"]).unwrap();
        let e = a.resolve(env).unwrap_err().to_string();
        assert!(
            e.contains("--header `Authorization`") && e.contains("`MISSING` is not set"),
            "{e}"
        );
        let e = parse(&["--header", "a: ${TOKEN"])
            .unwrap()
            .resolve(env)
            .unwrap_err();
        assert!(e.to_string().contains("without its"), "{e}");
    }
}
