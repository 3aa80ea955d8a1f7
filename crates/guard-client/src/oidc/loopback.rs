//! The loopback redirect listener of the browser flow (RFC 8252 §7.3): it
//! waits on 127.0.0.1 for the one request that carries the authorization
//! code and the expected `state`, answers the browser, and stops.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::ClientError;

/// Page shown once the code has arrived.
const DONE_PAGE: &str = "<!doctype html><title>guard</title><p>You are logged in. You can close this tab and return to the terminal.</p>";
/// Page shown when the identity provider sent an error.
const FAILED_PAGE: &str =
    "<!doctype html><title>guard</title><p>The login failed. The terminal says why.</p>";

/// A bound listener and the redirect URI that reaches it.
pub struct Loopback {
    listener: TcpListener,
    redirect_uri: String,
}

impl Loopback {
    /// Binds `addr` (port 0: any free port); the redirect URI names
    /// `host` and the bound port.
    pub async fn bind(addr: SocketAddr, host: &str) -> Result<Self, ClientError> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            ClientError::Login(format!("cannot listen on {addr} for the redirect: {e}"))
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| ClientError::Login(e.to_string()))?
            .port();
        Ok(Loopback {
            listener,
            redirect_uri: format!("http://{host}:{port}/"),
        })
    }

    /// The redirect URI to send in the authorization request.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits for the redirect that carries `state`; returns its code.
    /// Requests with another state or path are answered and ignored.
    pub async fn wait_for_code(self, state: &str) -> Result<String, ClientError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Result<String, String>>();
        let mut connections = tokio::task::JoinSet::new();
        let outcome = loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let tx = tx.clone();
                    let state = state.to_owned();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let answer = answer(&request, &state, &tx);
                            async move { Ok::<_, Infallible>(answer) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .keep_alive(false)
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
                Some(outcome) = rx.recv() => break outcome,
            }
        };
        // Let the browser receive its page before the process moves on.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        outcome.map_err(ClientError::Login)
    }
}

/// The answer to one request on the listener; sends the outcome when the
/// request is the redirect.
fn answer<B>(
    request: &Request<B>,
    state: &str,
    outcome: &mpsc::UnboundedSender<Result<String, String>>,
) -> Response<Full<Bytes>> {
    let page = |status: StatusCode, body: &'static str| {
        let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = status;
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
        );
        response
    };
    if request.uri().path() != "/" {
        return page(StatusCode::NOT_FOUND, "not found");
    }
    let query = request.uri().query().unwrap_or_default();
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if param("state").as_deref() != Some(state) {
        return page(StatusCode::BAD_REQUEST, "unexpected request");
    }
    if let Some(error) = param("error") {
        let description = param("error_description").unwrap_or_default();
        let _ = outcome.send(Err(format!("{error} {description}").trim().to_owned()));
        return page(StatusCode::OK, FAILED_PAGE);
    }
    match param("code").filter(|c| !c.is_empty()) {
        Some(code) => {
            let _ = outcome.send(Ok(code));
            page(StatusCode::OK, DONE_PAGE)
        }
        None => page(StatusCode::BAD_REQUEST, "no code in the redirect"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn get(port: u16, target: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// A listener on a free port, and that port (read from its redirect URI).
    async fn bound() -> (Loopback, u16) {
        let lb = Loopback::bind("127.0.0.1:0".parse().unwrap(), "127.0.0.1")
            .await
            .unwrap();
        let port = lb
            .redirect_uri()
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        (lb, port)
    }

    #[tokio::test]
    async fn ignores_strays_and_returns_the_code_with_the_right_state() {
        let (lb, port) = bound().await;
        assert_eq!(lb.redirect_uri(), format!("http://127.0.0.1:{port}/"));
        let waiter = tokio::spawn(lb.wait_for_code("s1"));
        assert!(get(port, "/favicon.ico").await.starts_with("HTTP/1.1 404"));
        assert!(
            get(port, "/?code=evil&state=other")
                .await
                .starts_with("HTTP/1.1 400")
        );
        let page = get(port, "/?code=c%2B1&state=s1").await;
        assert!(
            page.starts_with("HTTP/1.1 200") && page.contains("logged in"),
            "{page}"
        );
        assert_eq!(waiter.await.unwrap().unwrap(), "c+1");
    }

    #[tokio::test]
    async fn an_error_redirect_fails_the_login_without_echoing_it() {
        let (lb, port) = bound().await;
        let waiter = tokio::spawn(lb.wait_for_code("s1"));
        let page = get(
            port,
            "/?error=access_denied&error_description=%3Cscript%3E&state=s1",
        )
        .await;
        assert!(!page.contains("<script>"), "{page}");
        let err = waiter.await.unwrap().unwrap_err().to_string();
        assert!(err.contains("access_denied"), "{err}");
    }
}
