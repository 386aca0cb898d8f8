//! A small HTTP/1.1 client for the service's JSON API (plain `http://`:
//! `w2s serve` speaks nothing else; put TLS in front of both ends).
//!
//! One request per connection (`Connection: close`), the answer read whole
//! up to [`MAX_RESPONSE_BYTES`]. Small on purpose: the service's API is a
//! handful of JSON routes, and a full client (hyper's, reqwest) would add
//! features to the whole workspace's build for four requests.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Error, Result};

/// Largest answer read (a report is well under it).
const MAX_RESPONSE_BYTES: u64 = 64 << 20;
/// Longest wait for one request.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// A service's address: `http://HOST:PORT`.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    host: String,
    port: u16,
}

impl Endpoint {
    /// Parses `http://HOST[:PORT][/]`.
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            Error::InvalidArguments(format!("server URL {url:?}: only http://HOST:PORT"))
        })?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(Error::InvalidArguments(format!(
                "server URL {url:?}: expected http://HOST:PORT"
            )));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse().map_err(|_| {
                    Error::InvalidArguments(format!("server URL {url:?}: bad port"))
                })?,
            ),
            None => (authority, 80),
        };
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// Sends one request; returns the status and the body parsed as JSON
    /// (`Value::Null` for an empty or non-JSON body).
    pub(crate) async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<(u16, Value)> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(method, path, headers, body))
            .await
            .map_err(|_| Error::Transport(format!("{method} {path}: no answer in time")))?
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<(u16, Value)> {
        let transport = |e: std::io::Error| Error::Transport(format!("{method} {path}: {e}"));
        let mut stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(transport)?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.host,
            self.port,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.map_err(transport)?;
        stream.write_all(body).await.map_err(transport)?;
        let mut raw = Vec::new();
        stream
            .take(MAX_RESPONSE_BYTES)
            .read_to_end(&mut raw)
            .await
            .map_err(transport)?;
        parse_response(&raw).map_err(|why| Error::Transport(format!("{method} {path}: {why}")))
    }
}

/// Splits a raw HTTP/1.1 response into its status and JSON body.
fn parse_response(raw: &[u8]) -> Result<(u16, Value), String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let chunked = lines.any(|l| {
        l.to_ascii_lowercase()
            .replace(' ', "")
            .starts_with("transfer-encoding:chunked")
    });
    let mut body = raw[split + 4..].to_vec();
    if chunked {
        body = dechunk(&body)?;
    }
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// Decodes a chunked body.
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_text = std::str::from_utf8(&data[..end]).map_err(|_| "bad chunk size")?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size")?;
        data = &data[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// A `multipart/form-data` body: (boundary, bytes) for `parts` of (field
/// name, file name if a file, content type, bytes).
pub(crate) fn multipart(parts: &[(&str, Option<&str>, &str, &[u8])]) -> (String, Vec<u8>) {
    let mut nonce = [0u8; 16];
    // A fixed boundary would do but for a wasm that contains it.
    getrandom::fill(&mut nonce).unwrap_or_default();
    let boundary = format!("w2s-mcp-{}", hex::encode(nonce));
    let mut body = Vec::new();
    for (name, file, content_type, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match file {
            Some(f) => format!("form-data; name=\"{name}\"; filename=\"{f}\""),
            None => format!("form-data; name=\"{name}\""),
        };
        body.extend_from_slice(
            format!("Content-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_answers() {
        let plain = b"HTTP/1.1 201 Created\r\ncontent-length: 11\r\n\r\n{\"id\":\"a\"}";
        assert_eq!(parse_response(plain).unwrap().0, 201);
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        let (status, v) = parse_response(chunked).unwrap();
        assert_eq!((status, v), (200, serde_json::json!({"a": 1})));
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn urls() {
        assert!(Endpoint::parse("http://127.0.0.1:8080/").is_ok());
        assert!(Endpoint::parse("https://x").is_err());
        assert!(Endpoint::parse("http://x/v1").is_err());
    }
}
