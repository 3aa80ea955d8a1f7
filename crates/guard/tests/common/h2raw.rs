//! A bare HTTP/2 client over TLS that shows every frame the server sends,
//! for what a full client hides: GOAWAY, RST_STREAM, how a connection ends.
//! It writes request headers with HPACK literals (no Huffman, no table) and
//! does not decode the server's headers.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// The client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

/// How the connection ended (EOF, close_notify or reset), as text.
pub type End = String;

pub struct H2 {
    io: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
}

impl H2 {
    /// TLS with ALPN h2, then the preface and an empty SETTINGS frame.
    pub async fn open(
        port: u16,
        ca: &Path,
        identity: Option<(&Path, &Path)>,
    ) -> Result<Self, String> {
        let io = super::client::tls_connect(port, ca, identity, &[b"h2"]).await?;
        assert_eq!(io.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let mut h2 = H2 { io };
        h2.io.write_all(PREFACE).await.map_err(|e| e.to_string())?;
        h2.send(SETTINGS, 0, 0, &[]).await;
        Ok(h2)
    }

    pub async fn send(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let len = payload.len() as u32;
        let mut frame = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        frame.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        frame.extend_from_slice(payload);
        self.io.write_all(&frame).await.unwrap();
        self.io.flush().await.unwrap();
    }

    /// The next frame; `Err` when the connection ended.
    pub async fn read(&mut self) -> Result<Frame, End> {
        let mut head = [0u8; 9];
        if let Err(e) = self.io.read_exact(&mut head).await {
            return Err(e.to_string());
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; len];
        if let Err(e) = self.io.read_exact(&mut payload).await {
            return Err(e.to_string());
        }
        Ok(Frame {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
            payload,
        })
    }

    /// The next frame that is not connection housekeeping: SETTINGS and
    /// PING are acknowledged as a client does; WINDOW_UPDATE is skipped.
    pub async fn next(&mut self) -> Result<Frame, End> {
        loop {
            let frame = self.read().await?;
            match (frame.kind, frame.flags & ACK) {
                (SETTINGS, 0) => self.send(SETTINGS, ACK, 0, &[]).await,
                (PING, 0) => self.send(PING, ACK, 0, &frame.payload).await,
                (SETTINGS, _) | (PING, _) | (0x8, _) => {}
                _ => return Ok(frame),
            }
        }
    }

    /// HEADERS for `method path` on `stream`; with `end_stream` the request
    /// has no body.
    pub async fn headers(
        &mut self,
        stream: u32,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        end_stream: bool,
    ) {
        let mut block = vec![match method {
            "GET" => 0x82,
            "POST" => 0x83,
            other => panic!("method {other}"),
        }];
        block.push(0x87); // :scheme https
        literal(&mut block, &[0x04], path); // :path
        literal(&mut block, &[0x01], "127.0.0.1"); // :authority
        if let Some(ct) = content_type {
            literal(&mut block, &[0x0f, 0x10], ct); // content-type (static index 31)
        }
        let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
        self.send(HEADERS, flags, stream, &block).await;
    }

    /// Sends `body` as one DATA frame that ends the stream.
    pub async fn body(&mut self, stream: u32, body: &[u8]) {
        self.send(DATA, END_STREAM, stream, body).await;
    }

    /// Reads until `stream`'s answer has ended (a frame on it with
    /// END_STREAM, or a RST_STREAM); returns every non-housekeeping frame.
    pub async fn answer(&mut self, stream: u32) -> Result<Vec<Frame>, End> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await?;
            let done = frame.stream == stream
                && (frame.flags & END_STREAM != 0 || frame.kind == RST_STREAM);
            frames.push(frame);
            if done {
                return Ok(frames);
            }
        }
    }

    /// Sends a PING and reads until its ACK: whatever the server sent
    /// before answering it (frames are ordered) is returned.
    pub async fn sync(&mut self) -> Result<Vec<Frame>, End> {
        self.send(PING, 0, 0, b"guardsyn").await;
        let mut frames = Vec::new();
        loop {
            let frame = self.read().await?;
            match (frame.kind, frame.flags & ACK) {
                (PING, ACK) if frame.payload == b"guardsyn" => return Ok(frames),
                (SETTINGS, 0) => self.send(SETTINGS, ACK, 0, &[]).await,
                (PING, 0) => self.send(PING, ACK, 0, &frame.payload).await,
                _ => frames.push(frame),
            }
        }
    }
}

/// An HPACK "literal without indexing" with an indexed name (`name` is the
/// encoded index) and a plain value.
fn literal(block: &mut Vec<u8>, name: &[u8], value: &str) {
    assert!(value.len() < 127);
    block.extend_from_slice(name);
    block.push(value.len() as u8);
    block.extend_from_slice(value.as_bytes());
}
