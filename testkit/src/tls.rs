//! Certificates made by the test: a CA, and a server certificate it signs (for `localhost` and
//! 127.0.0.1), so TLS is tested with a real chain and no file from outside.

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

/// A CA and a server certificate it signed, as PEM.
pub struct TestCertificates {
    /// The CA's certificate (what a client trusts: `--ca-cert`).
    pub ca: String,
    /// The server's certificate.
    pub server: String,
    /// The server's private key.
    pub server_key: String,
}

/// A fresh CA and a server certificate for `names` (e.g. `localhost`, `127.0.0.1`).
pub fn certificates(names: &[&str]) -> TestCertificates {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "loadgen test CA");
    let ca_key = KeyPair::generate().expect("a CA key");
    let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");
    let params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
        .expect("server parameters");
    let key = KeyPair::generate().expect("a server key");
    let server = params
        .signed_by(&key, &ca, &ca_key)
        .expect("the server certificate");
    TestCertificates {
        ca: ca.pem(),
        server: server.pem(),
        server_key: key.serialize_pem(),
    }
}
