//! Where calls go: an endpoint of a load file read as a URL.
//!
//! | endpoint                        | protocol                                  | port when none is named |
//! |---------------------------------|-------------------------------------------|-------------------------|
//! | `host`, `host:port`, `grpc://…` | gRPC `helloworld.Greeter` (vSwarm's)      | `--port` (vSwarm's 80)  |
//! | `http://…`                      | HTTP/1.1                                  | 80                      |
//! | `h2c://…`                       | HTTP/2 with prior knowledge (no upgrade)  | 80                      |
//! | `https://…`                     | TLS, then h2 or HTTP/1.1 as ALPN chooses  | 443                     |
//! | `vhive://…`                     | gRPC `proto_gen.ProducerConsumer` (STeLLAR's vHive provider) | 80 (STeLLAR's) |
//!
//! An HTTP endpoint's path and query are kept and sent with every call. A `vhive://` endpoint's query
//! gives the request's fields in STeLLAR's HTTP names: `IncrementLimit`, `PayloadLengthBytes`,
//! `DataTransferChainIDs`.

use crate::error::ReplayError;

/// How calls to an endpoint travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// gRPC over h2c.
    Grpc,
    /// HTTP/1.1 over TCP.
    Http,
    /// HTTP/2 over TCP, with prior knowledge.
    H2c,
    /// HTTP over TLS; ALPN picks h2 or HTTP/1.1.
    Https,
    /// STeLLAR's producer-consumer gRPC service (`InvokeNext`), over h2c.
    Vhive,
}

/// An endpoint, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// How calls travel.
    pub scheme: Scheme,
    /// Host name or address (an IPv6 address without its brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// `host:port` as it goes in `Host` or `:authority` (brackets kept).
    pub authority: String,
    /// Path and query sent with each HTTP call; `/` when the endpoint names none.
    pub path_and_query: String,
}

impl Target {
    /// Reads an endpoint as written in a load or an endpoints file; `default_port` is for gRPC endpoints
    /// that name none.
    pub fn parse(endpoint: &str, default_port: u16) -> Result<Target, ReplayError> {
        let bad = |reason: String| ReplayError::BadEndpoint {
            endpoint: endpoint.to_owned(),
            reason,
        };
        let (scheme, rest) = match endpoint.split_once("://") {
            None => (Scheme::Grpc, endpoint),
            Some((name, rest)) => (
                match name.to_ascii_lowercase().as_str() {
                    "grpc" => Scheme::Grpc,
                    "http" => Scheme::Http,
                    "h2c" => Scheme::H2c,
                    "https" => Scheme::Https,
                    "vhive" => Scheme::Vhive,
                    other => {
                        return Err(bad(format!(
                            "unknown scheme `{other}://` (grpc://, http://, h2c://, https:// or vhive://, or a bare host:port for gRPC)"
                        )))
                    }
                },
                rest,
            ),
        };
        let port_if_none = match scheme {
            Scheme::Grpc => default_port,
            Scheme::Http | Scheme::H2c | Scheme::Vhive => 80,
            Scheme::Https => 443,
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        // `http::uri::Authority` checks the characters, the port, and IPv6 brackets.
        let parsed = authority
            .parse::<hyper::http::uri::Authority>()
            .map_err(|e| bad(format!("`{authority}` is not a host[:port] ({e})")))?;
        if parsed.host().is_empty() || authority.contains('@') {
            return Err(bad(format!("`{authority}` names no host")));
        }
        let host = parsed.host().trim_start_matches('[').trim_end_matches(']');
        // `Authority` reads a port out of range as none; that must not become the default port.
        let after_host = authority
            .rfind(']')
            .map_or(authority, |i| &authority[i + 1..]);
        let port = match after_host.rsplit_once(':') {
            None => port_if_none,
            Some((_, p)) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                bad(format!(
                    "`{authority}` is not a host[:port] (port `{p}` is not 1 to 65535)"
                ))
            })?,
        };
        let path_and_query = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        if scheme == Scheme::Vhive && !path_and_query.starts_with("/?") && path_and_query != "/" {
            return Err(bad(format!(
                "a vhive:// endpoint has a query but no path (`{path_and_query}`): it calls `/proto_gen.ProducerConsumer/InvokeNext`"
            )));
        }
        if scheme == Scheme::Grpc && path_and_query != "/" {
            return Err(bad(format!(
                "a gRPC endpoint has no path (`{path_and_query}`): gRPC calls `/helloworld.Greeter/SayHello`"
            )));
        }
        path_and_query
            .parse::<hyper::http::uri::PathAndQuery>()
            .map_err(|e| bad(format!("path `{path_and_query}`: {e}")))?;
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        Ok(Target {
            scheme,
            host: host.to_owned(),
            port,
            authority: format!("{bracketed}:{port}"),
            path_and_query,
        })
    }

    /// The URI a gRPC channel dials.
    pub fn grpc_uri(&self) -> String {
        format!("http://{}", self.authority)
    }

    /// The `Host` an HTTP call names: the host, with the port only when it is not the scheme's default
    /// (as browsers and curl send it; AWS signatures cover it).
    pub fn host_header(&self) -> String {
        let default = if self.scheme == Scheme::Https {
            443
        } else {
            80
        };
        if self.port == default {
            self.authority
                .rsplit_once(':')
                .map_or(self.authority.clone(), |(h, _)| h.to_owned())
        } else {
            self.authority.clone()
        }
    }

    /// The full URI of an HTTP call (what an HTTP/2 request carries).
    pub fn http_uri(&self) -> String {
        let scheme = if self.scheme == Scheme::Https {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}{}", self.host_header(), self.path_and_query)
    }
}

/// `url` with `query` appended to its query (`?` or `&`, as it already has one or not).
pub fn with_query(url: &str, query: Option<&str>) -> String {
    match query {
        None => url.to_owned(),
        Some(q) if url.contains('?') => format!("{url}&{q}"),
        Some(q) => format!("{url}?{q}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(e: &str) -> Target {
        Target::parse(e, 80).unwrap()
    }

    #[test]
    fn every_form_of_endpoint() {
        let g = t("127.0.0.1:5000");
        assert_eq!((g.scheme, g.port), (Scheme::Grpc, 5000));
        assert_eq!(g.grpc_uri(), "http://127.0.0.1:5000");
        let g = Target::parse("aes.default.192.168.1.240.sslip.io", 8080).unwrap();
        assert_eq!(g.authority, "aes.default.192.168.1.240.sslip.io:8080");
        assert_eq!(t("grpc://h:9").scheme, Scheme::Grpc);

        let h = t("http://h:1/fn?x=1");
        assert_eq!((h.scheme, h.host.as_str(), h.port), (Scheme::Http, "h", 1));
        assert_eq!(h.path_and_query, "/fn?x=1");
        assert_eq!(t("http://h").port, 80);
        assert_eq!(t("http://h?q=2").path_and_query, "/?q=2");
        assert_eq!(t("H2C://h:3").scheme, Scheme::H2c);
        let s = t("https://abc.execute-api.eu-west-1.amazonaws.com/prod/fn");
        assert_eq!((s.scheme, s.port), (Scheme::Https, 443));
        assert_eq!(
            s.http_uri(),
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod/fn"
        );
        let v6 = t("http://[::1]:8080/");
        assert_eq!(
            (v6.host.as_str(), v6.authority.as_str()),
            ("::1", "[::1]:8080")
        );
        let v = t("vhive://10.0.0.1?IncrementLimit=5&PayloadLengthBytes=9");
        assert_eq!((v.scheme, v.port), (Scheme::Vhive, 80));
        assert_eq!(v.path_and_query, "/?IncrementLimit=5&PayloadLengthBytes=9");
    }

    #[test]
    fn bad_endpoints_are_refused_with_the_reason() {
        for (e, why) in [
            ("bad host:1", "not a host"),
            ("ftp://h:1", "unknown scheme `ftp://`"),
            ("vhive://h:1/path", "has a query but no path"),
            ("http://:80/x", "names no host"),
            ("http://h:99999", "not a host"),
            ("grpc://h:1/x", "no path"),
            ("http://user@h/", "names no host"),
        ] {
            let err = Target::parse(e, 80).unwrap_err().to_string();
            assert!(err.contains(e) && err.contains(why), "{e}: {err}");
        }
    }
}
