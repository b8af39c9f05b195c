//! A CA generated per simulated cluster and a server certificate it signs for 127.0.0.1
//! and localhost, so clients verify TLS exactly as against a real apiserver.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct Tls {
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
}

pub fn generate() -> Result<Tls, String> {
    let e = |x: rcgen::Error| x.to_string();
    let ca_key = KeyPair::generate().map_err(e)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "rook-sim-ca");
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(e)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let srv_key = KeyPair::generate().map_err(e)?;
    let mut srv_params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).map_err(e)?;
    srv_params.distinguished_name.push(DnType::CommonName, "rook-sim-apiserver");
    srv_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let srv_cert = srv_params.signed_by(&srv_key, &issuer).map_err(e)?;

    let chain = vec![CertificateDer::from(srv_cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(srv_key.serialize_der()));
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|x| x.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|x| x.to_string())?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls { ca_pem: ca_cert.pem(), server_config: Arc::new(cfg) })
}

/// A client certificate and its private key (PEM), signed by a throwaway CA: for tests of
/// clients whose kubeconfig carries a client key (the simulated apiserver asks for none).
pub fn client_identity(common_name: &str) -> Result<(String, String), String> {
    let e = |x: rcgen::Error| x.to_string();
    let ca_key = KeyPair::generate().map_err(e)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().map_err(e)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).map_err(e)?;
    Ok((cert.pem(), key.serialize_pem()))
}
