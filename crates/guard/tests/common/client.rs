//! A small mTLS HTTP client (HTTP/1.1 or HTTP/2) for the cases kubectl
//! cannot make: no client certificate, a foreign CA, raw bodies.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// What the client sends.
pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub body: Vec<u8>,
    pub content_type: Option<&'a str>,
    /// `(cert, key)` of the client certificate, if any.
    pub identity: Option<(PathBuf, PathBuf)>,
    pub http2: bool,
}

impl<'a> Call<'a> {
    pub fn post(path: &'a str, body: impl Into<Vec<u8>>) -> Self {
        Call {
            method: "POST",
            path,
            body: body.into(),
            content_type: Some("application/json"),
            identity: None,
            http2: false,
        }
    }

    pub fn get(path: &'a str) -> Self {
        Call {
            method: "GET",
            path,
            body: Vec::new(),
            content_type: None,
            identity: None,
            http2: false,
        }
    }

    pub fn with_identity(mut self, cert: &Path, key: &Path) -> Self {
        self.identity = Some((cert.to_owned(), key.to_owned()));
        self
    }
}

/// The answer: status, headers, body, and the server certificate seen.
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
    pub alpn: Option<Vec<u8>>,
    pub server_cert: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends `call` to 127.0.0.1:`port`, trusting `ca` for the server.
pub async fn send(port: u16, ca: &Path, call: Call<'_>) -> Result<Answer, String> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let mut config = match &call.identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(|c| c.unwrap())
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = if call.http2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let server_cert = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();

    let mut req = Request::builder()
        .method(call.method)
        .uri(format!("https://127.0.0.1:{port}{}", call.path));
    if let Some(ct) = call.content_type {
        req = req.header("content-type", ct);
    }
    let req = req.body(Full::new(Bytes::from(call.body))).unwrap();
    let io = TokioIo::new(tls);
    let resp = if call.http2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        sender.send_request(req).await.map_err(|e| e.to_string())?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        sender.send_request(req).await.map_err(|e| e.to_string())?
    };
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes()
        .to_vec();
    Ok(Answer {
        status,
        headers,
        body,
        alpn,
        server_cert,
    })
}

/// `GET path` over plain HTTP/1.1 on 127.0.0.1:`port` (the probe port):
/// status and body.
pub fn plain_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text}"));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        unchunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn unchunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&tail[..size]);
        rest = &tail[size + 2..];
    }
    out
}

/// A TLS connection to 127.0.0.1:`port` offering `alpn`, with an optional
/// client certificate; trusts `ca` for the server.
pub async fn tls_connect(
    port: u16,
    ca: &Path,
    identity: Option<(&Path, &Path)>,
    alpn: &[&[u8]],
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(|c| c.unwrap())
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))
}

/// Sends `n` copies of `call` at once as HTTP/2 streams of one connection
/// (as the API server does), returning each stream's status and body.
pub async fn send_streams(
    port: u16,
    ca: &Path,
    call: Call<'_>,
    n: usize,
) -> Result<Vec<(u16, Vec<u8>)>, String> {
    let identity = call
        .identity
        .as_ref()
        .map(|(cert, key)| (cert.as_path(), key.as_path()));
    let tls = tls_connect(port, ca, identity, &[b"h2"]).await?;
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut tasks = Vec::new();
    for _ in 0..n {
        let mut sender = sender.clone();
        let mut req = Request::builder()
            .method(call.method)
            .uri(format!("https://127.0.0.1:{port}{}", call.path));
        if let Some(ct) = call.content_type {
            req = req.header("content-type", ct);
        }
        let req = req.body(Full::new(Bytes::from(call.body.clone()))).unwrap();
        tasks.push(tokio::spawn(async move {
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes()
                .to_vec();
            Ok::<_, String>((status, body))
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.map_err(|e| e.to_string())??);
    }
    Ok(answers)
}
