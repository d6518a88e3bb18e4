//! What the admin listener answers, path by path. Each page is made from the live
//! counters when it is asked for.

use super::classic;
use super::json;
use super::metrics::Metrics;
use crate::cache::Cache;
use crate::runtime::RuntimeStats;
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// The content type of `/metrics` in OpenMetrics, what `prometheus_client` writes and
/// Prometheus asks for first.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of `/metrics` in the Prometheus text format, for anyone else.
pub const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `stats` groups `/stats/<group>` serves.
pub const GROUPS: &[&str] = &["settings", "items", "slabs", "latency", "extstore"];

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its body.
    pub body: Vec<u8>,
}

impl Page {
    fn text(status: u16, body: &str) -> Page {
        Page {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
        }
    }
}

/// Everything the pages read.
pub struct Pages {
    cache: Arc<Cache>,
    runtime: Arc<RuntimeStats>,
    registry: Registry,
}

impl Pages {
    /// Pages over a cache and the runtime serving it.
    pub fn new(cache: Arc<Cache>, runtime: Arc<RuntimeStats>) -> Pages {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Metrics::new(cache.clone(), runtime.clone())));
        Pages {
            cache,
            runtime,
            registry,
        }
    }

    /// The answer to `method path`, `accept` being the request's `Accept` header (empty
    /// when it had none): `/metrics` is in OpenMetrics to those who ask for it, in the
    /// Prometheus text format 0.0.4 to the rest ([`classic`](super::classic)).
    pub fn respond(&self, method: &[u8], path: &[u8], accept: &[u8]) -> Page {
        if method != b"GET" {
            return Page::text(405, "only GET is served\n");
        }
        match path {
            b"/metrics" => {
                let mut text = String::new();
                if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
                    return Page::text(500, "metrics could not be encoded\n");
                }
                let wanted = b"application/openmetrics-text";
                if accept.windows(wanted.len()).any(|w| w == wanted) {
                    Page {
                        status: 200,
                        content_type: OPENMETRICS_CONTENT_TYPE,
                        body: text.into_bytes(),
                    }
                } else {
                    Page {
                        status: 200,
                        content_type: CLASSIC_CONTENT_TYPE,
                        body: classic::from_openmetrics(&text).into_bytes(),
                    }
                }
            }
            b"/health" => {
                if self.runtime.accepting.load(Relaxed) == 1 {
                    Page::text(200, "OK\n")
                } else {
                    Page::text(503, "shutting down\n")
                }
            }
            b"/" => Page::text(
                200,
                "corvid admin: /metrics /health /stats /stats/settings /stats/items \
                 /stats/slabs /stats/latency\n",
            ),
            _ => self.stats(path),
        }
    }

    /// `/stats` and `/stats/<group>`, as JSON objects.
    fn stats(&self, path: &[u8]) -> Page {
        let group = match path.strip_prefix(b"/stats") {
            Some(b"" | b"/") => "",
            Some(rest) => match GROUPS
                .iter()
                .find(|g| rest.strip_prefix(b"/") == Some(g.as_bytes()))
            {
                Some(g) => g,
                None => return Page::text(404, "no such page\n"),
            },
            None => return Page::text(404, "no such page\n"),
        };
        match self.cache.stats_lines(group, &self.runtime) {
            Some(lines) => Page {
                status: 200,
                content_type: "application/json",
                body: json::from_stat_lines(&lines),
            },
            None => Page::text(404, "no such page\n"),
        }
    }
}
