//! The `certctl list` / `certctl scan` table, laid out to fit the terminal.
//!
//! A person reads this at 80 columns at 3 a.m.: rows must not wrap. The table is built once
//! from either listing rows (the fast path) or full records, then laid out: at the terminal's
//! width, the columns a person needs least are dropped first (issuer, expiry date, name), then
//! the subject and target are shortened with `…` (a path keeps its end, where the file name is).
//! `-o wide` shows every column in full plus the labels; output that is not a terminal is never
//! cut (scripts should use JSON or CSV anyway).
//!
//! A plain aligned writer rather than a table crate: `certctl list` must stay interactive at
//! 100 000 rows, and general table layout engines spend most of a second there (measured with
//! comfy-table: 0.45 s of a 0.95 s listing).

use std::borrow::Cow;
use std::io::Write;

use super::output::{expires_in, status_style};
use crate::model::{Severity, Status, UnixSeconds};
use crate::policy::rfc3339;

/// How to lay the table out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Layout {
    /// Fit into this many columns (`None`: no limit).
    pub width: Option<usize>,
    /// Every column, in full, plus labels.
    pub wide: bool,
    /// Print the header line.
    pub headers: bool,
    /// Colour the status column.
    pub colour: bool,
}

/// The columns, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Status,
    Id,
    Name,
    Target,
    Subject,
    Expires,
    Left,
    Issuer,
    Findings,
    Labels,
}

const COLS: [Col; 10] = [
    Col::Status,
    Col::Id,
    Col::Name,
    Col::Target,
    Col::Subject,
    Col::Expires,
    Col::Left,
    Col::Issuer,
    Col::Findings,
    Col::Labels,
];

const HEADERS: [&str; 10] = [
    "STATUS", "ID", "NAME", "TARGET", "SUBJECT", "EXPIRES", "LEFT", "ISSUER", "FINDINGS", "LABELS",
];

/// Dropped in this order when the table is too wide.
const DROP_ORDER: [Col; 3] = [Col::Issuer, Col::Expires, Col::Name];

/// Shortened, the wider first, down to these widths when it is still too wide; then the
/// findings, down to their own minimum.
const SHRINK: [(Col, usize); 2] = [(Col::Subject, 10), (Col::Target, 18)];
/// Before anything is dropped, subject and target give up what they have beyond these.
const COMFORT: [(Col, usize); 2] = [(Col::Target, 32), (Col::Subject, 24)];
const FINDINGS_MIN: usize = 12;

/// The cells of one row; most borrow from the row they show.
pub type Cells<'a> = [Cow<'a, str>; 10];

/// What one table row shows, whichever record it comes from.
pub struct Fields<'a, I> {
    pub status: Status,
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub target: Cow<'a, str>,
    pub subject: Option<&'a str>,
    pub expires: Option<UnixSeconds>,
    pub issuer: Option<&'a str>,
    /// Finding codes with their severities, worst first.
    pub codes: I,
    /// How many codes there are (a lone info finding is shown; info beside worse ones is not).
    pub code_count: usize,
    pub labels: &'a [(String, String)],
}

/// Builds the cells of a row. `compact` writes the time left as `38d` / `5h` / `6d ago`
/// (the fitted table) instead of `in 38 days` / `expired 6 days ago` (`-o wide`).
pub fn cells<'a, I>(f: Fields<'a, I>, now: UnixSeconds, compact: bool) -> (Status, Cells<'a>)
where
    I: Iterator<Item = (&'static str, Severity)>,
{
    let many = f.code_count > 1;
    let codes = join(
        f.codes
            .filter(|(_, sev)| !many || *sev > Severity::Info)
            .map(|(c, _)| c),
    );
    let labels = if f.labels.is_empty() {
        Cow::Borrowed("")
    } else {
        Cow::Owned(
            f.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
        )
    };
    let cells = [
        Cow::Borrowed(f.status.as_str()),
        Cow::Borrowed(f.id),
        Cow::Borrowed(f.name.unwrap_or("")),
        f.target,
        Cow::Borrowed(f.subject.unwrap_or("-")),
        f.expires
            .map_or(Cow::Borrowed("-"), |at| Cow::Owned(date(at))),
        f.expires.map_or(Cow::Borrowed("-"), |at| {
            Cow::Owned(if compact {
                left(at - now)
            } else {
                expires_in(at, now)
            })
        }),
        Cow::Borrowed(f.issuer.unwrap_or("-")),
        codes,
        labels,
    ];
    (f.status, cells)
}

/// Writes the table.
pub fn write(
    out: &mut impl Write,
    rows: &[(Status, Cells<'_>)],
    layout: &Layout,
) -> std::io::Result<()> {
    let widths = plan(rows, layout);
    let shown: Vec<(usize, usize)> = widths
        .iter()
        .enumerate()
        .filter_map(|(i, w)| w.map(|w| (i, w)))
        .collect();
    let mut line = String::with_capacity(256);
    let mut emit = |out: &mut dyn Write, cells: [&str; 10], status: Option<Status>| {
        line.clear();
        for (n, &(i, w)) in shown.iter().enumerate() {
            let (cell, cell_width) = fit(cells[i], w, COLS[i] == Col::Target);
            let styled = match (COLS[i], status) {
                (Col::Status, Some(status)) if layout.colour => {
                    let style = status_style(status);
                    line.push_str(&format!("{style}{cell}{style:#}"));
                    true
                }
                _ => false,
            };
            if !styled {
                line.push_str(&cell);
            }
            if n + 1 < shown.len() {
                pad(&mut line, w.saturating_sub(cell_width) + 2);
            }
        }
        let end = line.trim_end().len();
        line.truncate(end);
        line.push('\n');
        out.write_all(line.as_bytes())
    };
    if layout.headers {
        emit(out, HEADERS, None)?;
    }
    for (status, r) in rows {
        let cells: [&str; 10] = std::array::from_fn(|i| r[i].as_ref());
        emit(out, cells, Some(*status))?;
    }
    Ok(())
}

/// The width of each column, `None` for a column not shown.
fn plan(rows: &[(Status, Cells<'_>)], layout: &Layout) -> [Option<usize>; 10] {
    let mut natural = [0usize; 10];
    if layout.headers {
        natural = HEADERS.map(str::len);
    }
    let mut used = [false; 10];
    for (_, r) in rows {
        for (i, cell) in r.iter().enumerate() {
            natural[i] = natural[i].max(width(cell));
            used[i] |= !cell.is_empty();
        }
    }
    let mut widths: [Option<usize>; 10] = std::array::from_fn(|i| {
        let optional = matches!(COLS[i], Col::Name | Col::Labels);
        let wanted = match COLS[i] {
            Col::Labels => layout.wide,
            _ => true,
        };
        (wanted && (used[i] || !optional)).then_some(natural[i])
    });
    let Some(limit) = layout.width.filter(|_| !layout.wide) else {
        return widths;
    };
    let total = |w: &[Option<usize>; 10]| {
        let cols: Vec<usize> = w.iter().flatten().copied().collect();
        cols.iter().sum::<usize>() + 2 * cols.len().saturating_sub(1)
    };
    let over = total(&widths).saturating_sub(limit);
    let mut over = shrink(&mut widths, over, &COMFORT);
    for col in DROP_ORDER {
        if over == 0 {
            break;
        }
        widths[index(col)] = None;
        over = total(&widths).saturating_sub(limit);
    }
    if over == 0 {
        // Room freed by a dropped column goes back to subject and target, up to their need.
        let mut slack = limit.saturating_sub(total(&widths));
        for (col, _) in COMFORT {
            let i = index(col);
            if let Some(w) = widths[i].as_mut() {
                let give = natural[i].saturating_sub(*w).min(slack);
                *w += give;
                slack -= give;
            }
        }
        return widths;
    }
    let over = shrink(&mut widths, over, &SHRINK);
    if over > 0
        && let Some(w) = widths[index(Col::Findings)].as_mut()
    {
        *w = (*w).saturating_sub(over).max(FINDINGS_MIN.min(*w));
    }
    widths
}

/// Takes up to `over` columns away, one at a time from whichever of `mins`' columns is widest
/// above its minimum; returns what is still over.
fn shrink(widths: &mut [Option<usize>; 10], mut over: usize, mins: &[(Col, usize)]) -> usize {
    while over > 0 {
        let widest = mins
            .iter()
            .filter_map(|&(col, min)| widths[index(col)].filter(|w| *w > min).map(|w| (w, col)))
            .max_by_key(|(w, _)| *w);
        let Some((_, col)) = widest else { break };
        if let Some(w) = widths[index(col)].as_mut() {
            *w -= 1;
        }
        over -= 1;
    }
    over
}

fn index(col: Col) -> usize {
    COLS.iter().position(|c| *c == col).unwrap_or(0)
}

/// A cell cut to `max` columns with `…`: from the end for targets (a path's file name and an
/// endpoint's name come last), else from the start.
/// Returns the cell and the columns it takes.
fn fit(text: &str, max: usize, keep_end: bool) -> (Cow<'_, str>, usize) {
    let w = width(text);
    if w <= max || max == 0 {
        return (Cow::Borrowed(text), w);
    }
    let keep = max.saturating_sub(1);
    let mut out = String::with_capacity(max + 3);
    if keep_end {
        out.push('…');
        out.extend(text.chars().skip(w - keep));
    } else {
        out.extend(text.chars().take(keep));
        out.push('…');
    }
    (Cow::Owned(out), max)
}

/// Time left in the fewest characters: `38d`, `5h`, `12m`, `30s`; `6d ago` once past. Whole
/// units rounded toward zero, as `days_left` counts.
fn left(seconds: i64) -> String {
    let abs = seconds.unsigned_abs();
    let (n, unit) = match abs {
        0..120 => (abs, "s"),
        120..7_200 => (abs / 60, "m"),
        7_200..172_800 => (abs / 3_600, "h"),
        _ => (abs / 86_400, "d"),
    };
    if seconds > 0 {
        format!("{n}{unit}")
    } else {
        format!("{n}{unit} ago")
    }
}

/// The day part of an RFC 3339 timestamp.
fn date(at: UnixSeconds) -> String {
    let mut text = rfc3339(at);
    text.truncate(10);
    text
}

/// Finding codes joined by commas (no allocation for none or one).
fn join<'a>(mut codes: impl Iterator<Item = &'a str>) -> Cow<'a, str> {
    match (codes.next(), codes.next()) {
        (None, _) => Cow::Borrowed(""),
        (Some(one), None) => Cow::Borrowed(one),
        (Some(a), Some(b)) => {
            let mut joined = format!("{a},{b}");
            for c in codes {
                joined.push(',');
                joined.push_str(c);
            }
            Cow::Owned(joined)
        }
    }
}

/// Columns a cell takes (one per char; ASCII, the usual case, without decoding).
fn width(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    }
}

fn pad(line: &mut String, mut n: usize) {
    const SPACES: &str = "                                                                ";
    while n > 0 {
        let k = n.min(SPACES.len());
        line.push_str(&SPACES[..k]);
        n -= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: &str, subject: &str, codes: &'static str) -> (Status, Cells<'static>) {
        let target: &'static str = Box::leak(target.to_string().into_boxed_str());
        let subject: &'static str = Box::leak(subject.to_string().into_boxed_str());
        cells(
            Fields {
                status: Status::Critical,
                id: "f2892cb609a3",
                name: Some("system-trust-store"),
                target: Cow::Borrowed(target),
                subject: Some(subject),
                expires: Some(1_677_801_600),
                issuer: Some("E-Tugra Certification Authority"),
                codes: [(codes, Severity::Critical)].into_iter(),
                code_count: 1,
                labels: &[],
            },
            1_796_601_600,
            true,
        )
    }

    fn render(rows: &[(Status, Cells<'_>)], layout: Layout) -> String {
        let mut out = Vec::new();
        write(&mut out, rows, &layout).expect("write");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn fits_80_columns_without_trailing_spaces() {
        let rows = vec![
            row(
                "/etc/ssl/certs/E-Tugra_Certification_Authority.pem",
                "E-Tugra Certification Authority",
                "expired",
            ),
            row(
                "10.0.0.7:443 (billing.corp)",
                "billing.corp",
                "chain_expired",
            ),
        ];
        let layout = Layout {
            width: Some(80),
            headers: true,
            ..Layout::default()
        };
        let text = render(&rows, layout);
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "{} > 80: {line}", line.len());
            assert_eq!(line, line.trim_end());
        }
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("STATUS    ID            TARGET"),
            "{text}"
        );
        assert!(!lines[0].contains("ISSUER"), "issuer dropped first: {text}");
        // The path keeps its file name; the finding code is whole.
        assert!(lines[1].contains("…"), "{text}");
        assert!(lines[1].contains("Authority.pem"), "{text}");
        assert!(lines[1].ends_with("expired"), "{text}");
        assert!(lines[2].ends_with("chain_expired"), "{text}");
        assert!(lines[1].contains("1375d ago"), "{text}");
    }

    #[test]
    fn compact_time_left() {
        assert_eq!(left(38 * 86_400 + 5), "38d");
        assert_eq!(left(47 * 3_600), "47h");
        assert_eq!(left(90), "90s");
        assert_eq!(left(-6 * 86_400 - 1), "6d ago");
        assert_eq!(left(0), "0s ago");
    }

    #[test]
    fn wide_and_unlimited_keep_everything() {
        let rows = vec![row(
            "/a/very/long/path/to/a/certificate.pem",
            "subject",
            "expired",
        )];
        let wide = render(
            &rows,
            Layout {
                width: Some(40),
                wide: true,
                headers: true,
                colour: false,
            },
        );
        assert!(wide.contains("ISSUER") && wide.contains("/a/very/long/path/to/a/certificate.pem"));
        let plain = render(&rows, Layout::default());
        assert!(!plain.contains("STATUS"), "no headers asked for");
        assert!(plain.contains("E-Tugra Certification Authority"));
    }
}
