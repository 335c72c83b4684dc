//! `GET /metrics`: the server's counters in Prometheus text format —
//! connections by transport, cursor datagrams in, out and dropped, frames
//! built and tick time, event stream resets, and the bus reader's lag.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use salvo::http::{HeaderValue, header};
use salvo::prelude::*;

use super::{ApiError, state};

/// Routes of this resource.
pub fn router() -> Router {
    Router::with_path("metrics").get(metrics)
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

#[handler]
async fn metrics(depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let c = &state.counters;
    let k = &state.cursors.counters;
    let mut out = String::with_capacity(2048);
    metric(
        &mut out,
        "ovasabi_connections",
        "gauge",
        "Open live connections by transport.",
        &[
            ("transport=\"sse\"", c.sse_open.load(Relaxed)),
            (
                "transport=\"webtransport\"",
                c.webtransport_open.load(Relaxed),
            ),
        ],
    );
    metric(
        &mut out,
        "ovasabi_webtransport_refused_total",
        "counter",
        "WebTransport handshakes refused, by the status answered.",
        &[
            ("status=\"403\"", c.webtransport_refused_403.load(Relaxed)),
            ("status=\"429\"", c.webtransport_refused_429.load(Relaxed)),
        ],
    );
    metric(
        &mut out,
        "ovasabi_connections_refused_total",
        "counter",
        "Connections refused before a request or session: over a connection cap, or (QUIC) silent past the handshake deadline.",
        &[
            (
                "transport=\"http\"",
                c.http_connections_refused.load(Relaxed),
            ),
            (
                "transport=\"quic\"",
                c.quic_connections_refused.load(Relaxed),
            ),
        ],
    );
    metric(
        &mut out,
        "ovasabi_rate_limit_fallbacks_total",
        "counter",
        "Rate-limit checks this instance decided alone because Redis did not answer in time.",
        &[("", state.limiter.fallbacks.load(Relaxed))],
    );
    metric(
        &mut out,
        "ovasabi_sse_events_total",
        "counter",
        "Events written to event streams.",
        &[("", c.sse_events_out.load(Relaxed))],
    );
    metric(
        &mut out,
        "ovasabi_sse_resets_total",
        "counter",
        "Event streams skipped ahead with reset.",
        &[("", c.sse_resets.load(Relaxed))],
    );
    metric(
        &mut out,
        "ovasabi_cursor_uplinks_total",
        "counter",
        "Cursor uplinks by outcome.",
        &[
            ("outcome=\"accepted\"", k.uplinks.load(Relaxed)),
            ("outcome=\"rate_limited\"", k.dropped_rate.load(Relaxed)),
            ("outcome=\"malformed\"", k.dropped_malformed.load(Relaxed)),
            ("outcome=\"stale\"", k.dropped_stale.load(Relaxed)),
        ],
    );
    metric(
        &mut out,
        "ovasabi_cursor_frames_total",
        "counter",
        "Room ticks that built a frame.",
        &[("", k.frames.load(Relaxed))],
    );
    k.tick.render(
        &mut out,
        "ovasabi_cursor_tick_seconds",
        "Time a room tick spent building its frame.",
    );
    metric(
        &mut out,
        "ovasabi_cursor_datagrams_out_total",
        "counter",
        "Frame datagrams handed to members.",
        &[("", k.datagrams_out.load(Relaxed))],
    );
    metric(
        &mut out,
        "ovasabi_cursor_bytes_out_total",
        "counter",
        "Frame bytes handed to members.",
        &[("", k.bytes_out.load(Relaxed))],
    );
    metric(
        &mut out,
        "ovasabi_cursor_lagged_total",
        "counter",
        "Ticks members missed for being slow.",
        &[("", k.lagged.load(Relaxed))],
    );
    metric(
        &mut out,
        "ovasabi_cursor_rooms",
        "gauge",
        "Cursor rooms alive.",
        &[("", state.cursors.room_count() as u64)],
    );
    c.sse_delivery.render(
        &mut out,
        "ovasabi_sse_delivery_seconds",
        "Time from an event's publishing to its handing to each event stream's connection.",
    );
    state.bus.delivery_lag().render(
        &mut out,
        "ovasabi_bus_lag_seconds",
        "Time from an event's publishing (on any instance) to its delivery to this instance's streams.",
    );
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res.body(out);
    Ok(())
}
