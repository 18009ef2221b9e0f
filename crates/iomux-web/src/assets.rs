//! The front end's files, built into the binary: HTML, CSS and JS with no build step and
//! nothing from a CDN. Each is served with a strong `ETag` (a hash of its bytes: a matching
//! `If-None-Match` gets 304), `Cache-Control: no-cache` (always revalidated, since the names
//! carry no version), and gzip (compressed once, at start) when the client accepts it.
//!
//! `iomux web --assets DIR` serves the same names from DIR instead, read on each request, for
//! working on the pages without rebuilding. Only the names listed here are served, so no path
//! can reach outside.
use std::borrow::Cow;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use iomux_http::{Request, Response};

/// (name, content type, bytes) of every file the front end has.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("assets/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/app.js"),
    ),
    (
        "timeline.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/timeline.js"),
    ),
    (
        "tables.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/tables.js"),
    ),
    (
        "claims.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/claims.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/style.css"),
    ),
    (
        "pages.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/pages.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("assets/favicon.svg"),
    ),
];

/// Smaller than this, gzip is not worth its header.
const GZIP_FROM: usize = 512;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: Cow<'static, [u8]>,
    gzip: Option<Vec<u8>>,
    etag: String,
}

impl Asset {
    fn new(name: &'static str, content_type: &'static str, body: Cow<'static, [u8]>) -> Asset {
        let gzip = (body.len() >= GZIP_FROM).then(|| gzip(&body));
        let etag = format!("\"{:016x}\"", fnv1a(&body));
        Asset {
            name,
            content_type,
            body,
            gzip,
            etag,
        }
    }
}

/// The files, and where they come from.
pub struct Assets {
    built_in: Vec<Asset>,
    dir: Option<PathBuf>,
}

impl Assets {
    /// The built-in files, or (`dir`) the same names read from a folder on each request.
    pub fn new(dir: Option<&Path>) -> Assets {
        Assets {
            built_in: FILES
                .iter()
                .map(|&(name, content_type, body)| Asset::new(name, content_type, body.into()))
                .collect(),
            dir: dir.map(Path::to_owned),
        }
    }

    /// The answer for file `name` (404 if there is no such file). The built-in files live as
    /// long as the server, so their bytes are answered without a copy.
    pub fn serve(&'static self, name: &str, request: &Request) -> Response {
        let Some(built_in) = self.built_in.iter().find(|a| a.name == name) else {
            return Response::error(404, &format!("no such file: {name}"));
        };
        let Some(dir) = &self.dir else {
            let gzip = built_in.gzip.as_deref().map(Cow::Borrowed);
            return respond(built_in, Cow::Borrowed(&built_in.body), gzip, request);
        };
        match std::fs::read(dir.join(built_in.name)) {
            Ok(bytes) => {
                let asset = Asset::new(built_in.name, built_in.content_type, bytes.into());
                let gzip = asset.gzip.clone().map(Cow::Owned);
                respond(&asset, asset.body.clone(), gzip, request)
            }
            Err(e) => Response::error(
                500,
                &format!("cannot read {}: {e}", dir.join(name).display()),
            ),
        }
    }
}

/// An asset's answer: 304 when the client has it, else its bytes (gzipped if it takes them).
fn respond(
    asset: &Asset,
    body: Cow<'static, [u8]>,
    gzip: Option<Cow<'static, [u8]>>,
    request: &Request,
) -> Response {
    // The gzipped bytes are another representation: their own tag (RFC 9110 §8.8.3).
    let gzipped = gzip.is_some() && request.accepts_gzip();
    let etag = if gzipped {
        format!("{}-gz\"", asset.etag.trim_end_matches('"'))
    } else {
        asset.etag.clone()
    };
    // If-None-Match compares weakly: a `W/` prefix does not matter.
    let fresh = request.header("if-none-match").is_some_and(|tags| {
        tags.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag || t == "*")
    });
    let (status, body) = match gzip {
        _ if fresh => (304, Cow::Borrowed(&[][..])),
        Some(gz) if gzipped => (200, gz),
        _ => (200, body),
    };
    let mut response = Response {
        status,
        headers: Vec::with_capacity(5),
        body,
    };
    if status == 200 {
        response
            .headers
            .push(("Content-Type", asset.content_type.to_owned()));
        if gzipped {
            response
                .headers
                .push(("Content-Encoding", "gzip".to_owned()));
        }
    }
    response.headers.push(("ETag", etag));
    response
        .headers
        .push(("Cache-Control", "no-cache".to_owned()));
    response
        .headers
        .push(("Vary", "Accept-Encoding".to_owned()));
    response
}

/// Gzip at the best ratio: for the built-in files, compressed once.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    gzip_at(bytes, flate2::Compression::best())
}

/// Gzip at the fastest level: for answers made on request (a trace's timeline, megabytes, is
/// compressed about ten times faster than at the best level, to a third instead of a quarter).
pub fn gzip_fast(bytes: &[u8]) -> Vec<u8> {
    gzip_at(bytes, flate2::Compression::fast())
}

fn gzip_at(bytes: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .expect("compressing into memory cannot fail")
}

/// FNV-1a, 64 bits: a stable hash of a file's bytes for its `ETag`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
