//! Just enough of a SPDY/3.1 server (draft-mbelshe-httpbis-spdy-00) for
//! `kubectl exec -i` over the remote-command protocol `v4.channel.k8s.io`,
//! what kubectl falls back to when the API server refuses WebSockets: it
//! answers every SYN_STREAM, echoes the stdin stream to stdout, and when
//! stdin ends writes a Success status on the error stream and ends every
//! stream. Header blocks are zlib with the spec's preset dictionary.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const FLAG_FIN: u8 = 1;

/// The SPDY/3 header compression dictionary (spec §2.6.10.1): the
/// length-prefixed names and values, then a run of plain text.
pub fn dictionary() -> Vec<u8> {
    const WORDS: [&str; 65] = [
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ];
    const TAIL: &str = concat!(
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
        "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
        "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
        "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
        "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
        "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
    );
    let mut dict = Vec::new();
    for word in WORDS {
        dict.extend_from_slice(&(word.len() as u32).to_be_bytes());
        dict.extend_from_slice(word.as_bytes());
    }
    dict.extend_from_slice(TAIL.as_bytes());
    dict
}

struct Headers {
    inflate: Decompress,
    deflate: Compress,
    dict: Vec<u8>,
}

impl Headers {
    fn new() -> Self {
        let dict = dictionary();
        let mut deflate = Compress::new(Compression::new(6), true);
        deflate.set_dictionary(&dict).unwrap();
        Headers {
            inflate: Decompress::new(true),
            deflate,
            dict,
        }
    }

    /// Decodes one header block (the connection shares one zlib stream).
    fn decode(&mut self, mut block: &[u8]) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(64 << 10);
        while !block.is_empty() {
            let before = self.inflate.total_in();
            let result = self
                .inflate
                .decompress_vec(block, &mut out, FlushDecompress::Sync);
            let used = (self.inflate.total_in() - before) as usize;
            block = &block[used..];
            match result {
                Ok(_) if used == 0 => out.reserve(64 << 10),
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate.set_dictionary(&self.dict).unwrap();
                }
                Err(e) => panic!("bad SPDY header block: {e}"),
            }
        }
        let u32_at =
            |b: &[u8], i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap()) as usize;
        let count = u32_at(&out, 0);
        let mut at = 4;
        let mut headers = Vec::new();
        for _ in 0..count {
            let n = u32_at(&out, at);
            let name = String::from_utf8_lossy(&out[at + 4..at + 4 + n]).into_owned();
            at += 4 + n;
            let v = u32_at(&out, at);
            let value = String::from_utf8_lossy(&out[at + 4..at + 4 + v]).into_owned();
            at += 4 + v;
            headers.push((name, value));
        }
        headers
    }

    /// Encodes a header block.
    fn encode(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut plain = (headers.len() as u32).to_be_bytes().to_vec();
        for (n, v) in headers {
            plain.extend_from_slice(&(n.len() as u32).to_be_bytes());
            plain.extend_from_slice(n.as_bytes());
            plain.extend_from_slice(&(v.len() as u32).to_be_bytes());
            plain.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(plain.len() + 1024);
        self.deflate
            .compress_vec(&plain, &mut out, FlushCompress::Sync)
            .unwrap();
        out
    }
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80, 0x03];
    frame.extend_from_slice(&kind.to_be_bytes());
    frame.push(flags);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    frame.extend_from_slice(payload);
    frame
}

fn data(stream: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
    frame.push(flags);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    frame.extend_from_slice(payload);
    frame
}

/// Serves one `kubectl exec -i ... cat` session on `io`.
pub async fn serve_exec(io: impl AsyncRead + AsyncWrite + Unpin) {
    let (mut rd, mut wr) = tokio::io::split(io);
    let mut headers = Headers::new();
    let mut streams: HashMap<String, u32> = HashMap::new();
    loop {
        let mut head = [0u8; 8];
        if rd.read_exact(&mut head).await.is_err() {
            return;
        }
        let length = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        let flags = head[4];
        let mut payload = vec![0u8; length];
        if rd.read_exact(&mut payload).await.is_err() {
            return;
        }
        if head[0] & 0x80 != 0 {
            match u16::from_be_bytes([head[2], head[3]]) {
                SYN_STREAM => {
                    let id = u32::from_be_bytes(payload[0..4].try_into().unwrap()) & 0x7fff_ffff;
                    let block = headers.decode(&payload[10..]);
                    if let Some((_, kind)) = block.iter().find(|(n, _)| n == "streamtype") {
                        streams.insert(kind.clone(), id);
                    }
                    let mut reply = id.to_be_bytes().to_vec();
                    reply.extend(headers.encode(&[]));
                    if wr.write_all(&control(SYN_REPLY, 0, &reply)).await.is_err() {
                        return;
                    }
                }
                PING if wr.write_all(&control(PING, 0, &payload)).await.is_err() => return,
                GOAWAY => return,
                _ => {} // SETTINGS, WINDOW_UPDATE, RST_STREAM, HEADERS
            }
        } else {
            let id = u32::from_be_bytes(head[0..4].try_into().unwrap()) & 0x7fff_ffff;
            if Some(&id) != streams.get("stdin") {
                continue;
            }
            if !payload.is_empty()
                && let Some(&stdout) = streams.get("stdout")
                && wr.write_all(&data(stdout, 0, &payload)).await.is_err()
            {
                return;
            }
            if flags & FLAG_FIN != 0 {
                let mut end = Vec::new();
                if let Some(&error) = streams.get("error") {
                    end.extend(data(
                        error,
                        FLAG_FIN,
                        br#"{"metadata":{},"status":"Success"}"#,
                    ));
                }
                for kind in ["stdout", "stderr"] {
                    if let Some(&id) = streams.get(kind) {
                        end.extend(data(id, FLAG_FIN, b""));
                    }
                }
                if wr.write_all(&end).await.is_err() {
                    return;
                }
            }
        }
        let _ = wr.flush().await;
    }
}
