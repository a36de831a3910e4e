//! A bare HTTP/1.1 client over a TCP socket, enough for tests to fetch a presigned URL from a
//! loopback server without pulling in an HTTP client crate.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends one request and returns the status and body. Only `http://` URLs; the body is read to EOF.
pub async fn request(method: &str, url: &str, body: &[u8]) -> (u16, Vec<u8>) {
    request_with(method, url, &[], body).await
}

/// `request` with extra headers.
pub async fn request_with(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    try_request_with(method, url, headers, body)
        .await
        .unwrap_or_else(|| panic!("{method} {url}: no complete response"))
}

/// `request_with`, or `None` when the server cannot be reached or stops before a complete response
/// (for tests that kill servers on purpose).
pub async fn try_request_with(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, Vec<u8>)> {
    exchange(method, url, headers, body)
        .await
        .map(|answer| (answer.status, answer.body))
}

/// An answer with its headers.
pub struct Answer {
    pub status: u16,
    /// The header lines, as sent.
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    /// The value of the first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// One request, answered with its status, headers and body; `None` as for `try_request_with`.
pub async fn exchange(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Answer> {
    try_exchange(method, url, headers, body).await.ok()
}

/// One request, answered with its status, headers and body, or what went wrong on the connection
/// (refused, reset, or closed before a whole response head).
pub async fn try_exchange(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Answer> {
    let url = url::Url::parse(url).expect("a URL");
    assert_eq!(url.scheme(), "http", "only plain HTTP on loopback");
    let host = url.host_str().expect("a host");
    let port = url.port_or_known_default().expect("a port");
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut stream = TcpStream::connect((host, port)).await?;
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    if !response.windows(4).any(|w| w == b"\r\n\r\n") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!(
                "the connection closed after {} bytes, before a whole response head",
                response.len()
            ),
        ));
    }
    Ok(parse(&response))
}

fn parse(response: &[u8]) -> Answer {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = &response[split + 4..];
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    Answer {
        status,
        head: head.into_owned(),
        body: if chunked {
            dechunk(body)
        } else {
            body.to_vec()
        },
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&body[..line_end]).trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
        body = &body[line_end + 2 + size + 2..];
    }
    out
}
