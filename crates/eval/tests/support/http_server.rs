//! A minimal HTTP/1.1 file server on 127.0.0.1 for the weights-download tests: `Range` requests (206 /
//! 416), transfers cut after a number of bytes, servers that ignore `Range`, 404 for unknown paths, and
//! the log of every request (path, `Range` header). Standard library only, so `xtask`'s command-line
//! tests can include the same file.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One file served by the test server.
#[derive(Clone)]
pub struct Route {
    /// The file's bytes.
    pub body: Vec<u8>,
    /// The first `n` responses for this path stop after this many body bytes (connection closed).
    pub cut: Option<(usize, usize)>,
    /// Ignore `Range` (answer 200 with the whole file).
    pub no_range: bool,
}

/// A route serving `body` whole, honouring `Range`.
pub fn route(body: Vec<u8>) -> Route {
    Route {
        body,
        cut: None,
        no_range: false,
    }
}

/// A request as the server saw it: path and `Range` header.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    /// Request path.
    pub path: String,
    /// `Range` header, if any.
    pub range: Option<String>,
}

/// The running server.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// The files served, by path (may be changed while the server runs).
    pub routes: Arc<Mutex<BTreeMap<String, Route>>>,
}

impl Server {
    /// Serve `routes` on 127.0.0.1 (random port): at most 64 connections, for at most 120 s.
    pub fn start(routes: BTreeMap<String, Route>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let routes = Arc::new(Mutex::new(routes));
        let (s2, r2) = (seen.clone(), routes.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut served = 0;
            let mut cuts: BTreeMap<String, usize> = BTreeMap::new();
            while served < 64 && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        let _ = handle(stream, &s2, &r2, &mut cuts);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { base, seen, routes }
    }

    /// The address of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn handle(
    stream: TcpStream,
    seen: &Mutex<Vec<Seen>>,
    routes: &Mutex<BTreeMap<String, Route>>,
    cuts: &mut BTreeMap<String, usize>,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.trim().eq_ignore_ascii_case("range")
        {
            range = Some(v.trim().to_string());
        }
    }
    seen.lock().unwrap().push(Seen {
        path: path.clone(),
        range: range.clone(),
    });
    let mut out = stream;
    let Some(route) = routes.lock().unwrap().get(&path).cloned() else {
        let body = b"no such file";
        write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        out.write_all(body)?;
        return Ok(());
    };
    let len = route.body.len();
    let start = match (&range, route.no_range) {
        (Some(r), false) => r
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok()),
        _ => None,
    };
    let (head, from) = match start {
        Some(s) if s >= len => {
            write!(
                out,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            return Ok(());
        }
        Some(s) => (
            format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{len}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                len - 1,
                len - s
            ),
            s,
        ),
        None => (
            format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"),
            0,
        ),
    };
    out.write_all(head.as_bytes())?;
    let n_cut = cuts.entry(path.clone()).or_insert(0);
    let stop = match route.cut {
        Some((times, after)) if *n_cut < times => {
            *n_cut += 1;
            (from + after).min(len)
        }
        _ => len,
    };
    out.write_all(&route.body[from..stop])?;
    out.flush()?;
    Ok(())
}
