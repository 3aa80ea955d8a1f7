//! A request head as `guard proxy` receives it from anyone on the network:
//! the first line is the method and target, the others `name: value`
//! headers. Credentials, identity headers, `Impersonate-*` requests and
//! forwarding must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n');
    let first = lines.next().unwrap_or_default();
    let mut parts = first.splitn(2, |b| *b == b' ');
    let method = hyper::Method::from_bytes(parts.next().unwrap_or_default())
        .unwrap_or(hyper::Method::GET);
    let uri: hyper::Uri = std::str::from_utf8(parts.next().unwrap_or_default())
        .ok()
        .and_then(|u| u.trim().parse().ok())
        .unwrap_or_else(|| hyper::Uri::from_static("/"));
    let mut headers = hyper::HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name),
            hyper::header::HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    for allow in [false, true] {
        let _ = guard_proxy::examine_request_head(&method, &uri, &headers, allow);
    }
});
