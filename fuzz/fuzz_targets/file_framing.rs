//! File source line framing: `sources::file::frame` and `batch::Input::from_ndjson`.
//!
//! The input is an 8-byte header, then the file's bytes (so seeds are written by hand: a
//! header and a fixture): `[flags, batch, grow_steps, first_line, poll1..poll4]`, where flags
//! bit 0 is `full`, bit 1 `can_grow`, bit 2 `to_end` of the one `frame` call on the whole
//! data; `batch` is the simulated read size (BATCH_BYTES, scaled down), `grow_steps` how
//! often a chunk may double before a long line is taken as it is (MAX_LINE_BYTES / BATCH_BYTES,
//! scaled down), and each poll byte is the file size seen at a poll, as a fraction of 255.
//!
//! Checks, beyond "no panic":
//! - `frame` alone: `Take { bytes, lines }` has 0 < bytes <= len, ends at a newline unless
//!   the line is too long to buffer (`full && !can_grow`) or `to_end`, and `lines` is the
//!   number of lines in the taken part; `Grow` only for a full chunk that may grow;
//! - `from_ndjson`: line ranges in bounds, in order, never containing `\n`, covering exactly
//!   the non-blank lines, numbered from `first_line`;
//! - a simulated follow of a growing file, the way `FileSource::read` loops (read at the
//!   checkpoint, grow the chunk up to a cap, take, move the checkpoint), then a last pass to
//!   the end (`--once`, or a rotated file being finished): every byte is taken exactly once,
//!   in order, the loop ends, the checkpoint's line count is the file's, and the lines the
//!   batches give are the file's lines with the file's line numbers.
#![no_main]

use std::sync::Arc;

use bedrock_cost_exporter::batch::Input;
use bedrock_cost_exporter::sources::file::{frame, Frame};
use libfuzzer_sys::fuzz_target;

#[derive(Debug)]
struct Case<'a> {
    data: &'a [u8],
    full: bool,
    can_grow: bool,
    to_end: bool,
    first_line: u64,
    /// Bytes per read in the simulation: 1 to 32.
    batch: usize,
    /// Longest chunk before a long line is taken as it is: `batch` times 1, 2, 4 or 8.
    max_line: usize,
    /// File sizes seen at successive polls, growing; the last is the whole file.
    sizes: Vec<usize>,
}

impl<'a> Case<'a> {
    fn new(input: &'a [u8]) -> Option<Case<'a>> {
        let (h, data) = input.split_first_chunk::<8>()?;
        let batch = usize::from(h[1] % 32) + 1;
        let mut sizes: Vec<usize> = h[4..]
            .iter()
            .map(|p| usize::from(*p) * data.len() / 255)
            .collect();
        sizes.sort_unstable();
        sizes.push(data.len());
        Some(Case {
            data,
            full: h[0] & 1 != 0,
            can_grow: h[0] & 2 != 0,
            to_end: h[0] & 4 != 0,
            // Line numbers are counters from 1.
            first_line: u64::from(h[3]) + 1,
            batch,
            max_line: batch << (h[2] % 4),
            sizes,
        })
    }
}

/// The lines of `buf` as `from_ndjson` should see them: (start, end, 0-based line number).
fn non_blank_lines(buf: &[u8]) -> Vec<(usize, usize, u64)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (n, line) in buf.split(|b| *b == b'\n').enumerate() {
        let end = start + line.len();
        if !line.iter().all(u8::is_ascii_whitespace) {
            out.push((start, end, n as u64));
        }
        start = end + 1;
    }
    out
}

/// Lines a `frame` take counts: every newline, plus a last line without one.
fn count_lines(b: &[u8]) -> u64 {
    let nl = b.iter().filter(|c| **c == b'\n').count() as u64;
    nl + u64::from(!b.is_empty() && !b.ends_with(b"\n"))
}

fn check_frame(buf: &[u8], full: bool, can_grow: bool, to_end: bool) {
    match frame(buf, full, can_grow, to_end) {
        Frame::Take { bytes, lines } => {
            assert!(
                bytes > 0 && bytes <= buf.len(),
                "took {bytes} of {}",
                buf.len()
            );
            let taken = &buf[..bytes];
            assert!(
                taken.ends_with(b"\n") || (full && !can_grow) || to_end,
                "a partial line was taken"
            );
            if !taken.ends_with(b"\n") {
                assert_eq!(bytes, buf.len(), "a partial line was cut short");
            }
            assert_eq!(lines, count_lines(taken));
        }
        Frame::Grow => {
            assert!(full && can_grow && !buf.is_empty() && !buf.contains(&b'\n'));
        }
        Frame::Wait => {
            assert!(!buf.contains(&b'\n'), "whole lines left waiting");
            assert!(buf.is_empty() || (!full && !to_end));
        }
    }
}

fn check_ndjson(data: &[u8], first_line: u64) {
    let input = Input::from_ndjson("file".into(), Arc::from("fuzz"), data.to_vec(), first_line);
    let got: Vec<(usize, usize, u64)> = input
        .lines
        .iter()
        .map(|l| (l.start, l.end, l.line - first_line))
        .collect();
    for l in &input.lines {
        assert!(l.start <= l.end && l.end <= data.len());
        assert!(!data[l.start..l.end].contains(&b'\n'));
        assert!(l.event_key.is_none());
    }
    assert_eq!(got, non_blank_lines(data), "from_ndjson lines");
}

/// What a simulated follow of a file handed over.
struct Followed {
    /// The taken bytes, in order.
    taken: Vec<u8>,
    /// Lines the checkpoint counted.
    lines: u64,
    /// Each non-blank line of each batch, with the number the batch gave it.
    numbered: Vec<(Vec<u8>, u64)>,
    /// A line too long to buffer was taken in pieces.
    cut_a_line: bool,
}

/// Follows a file that grows to `data` through `sizes`, as `FileSource::read` does.
fn simulate(c: &Case) -> Followed {
    let (data, batch, max_line, sizes) = (c.data, c.batch, c.max_line, &c.sizes);
    let (mut offset, mut line) = (0usize, 0u64);
    let mut taken = Vec::new();
    let mut numbered = Vec::new();
    let mut cut_a_line = false;
    let mut steps = 0;
    for (i, &size) in sizes.iter().enumerate() {
        let to_end = i == sizes.len() - 1;
        let mut want = batch;
        loop {
            steps += 1;
            // Each step takes a byte, grows the chunk (a bounded number of times) or ends the poll.
            assert!(
                steps <= 5 * (data.len() + sizes.len()),
                "the read loop does not end"
            );
            let buf = &data[offset..size.min(offset + want)];
            if buf.is_empty() {
                break;
            }
            let full = buf.len() == want;
            match frame(buf, full, want < max_line, to_end) {
                Frame::Take { bytes, lines } => {
                    let part = &buf[..bytes];
                    cut_a_line |= !part.ends_with(b"\n") && offset + bytes < data.len();
                    let input =
                        Input::from_ndjson("file".into(), "f".into(), part.to_vec(), line + 1);
                    for l in &input.lines {
                        numbered.push((part[l.start..l.end].to_vec(), l.line));
                    }
                    taken.extend_from_slice(part);
                    offset += bytes;
                    line += lines;
                    want = batch;
                }
                Frame::Grow => want *= 2,
                Frame::Wait => break,
            }
        }
    }
    Followed {
        taken,
        lines: line,
        numbered,
        cut_a_line,
    }
}

fuzz_target!(|input: &[u8]| {
    let Some(c) = Case::new(input) else {
        return;
    };
    check_frame(c.data, c.full, c.can_grow, c.to_end);
    check_ndjson(c.data, c.first_line);

    let Followed {
        taken,
        lines,
        numbered,
        cut_a_line,
    } = simulate(&c);
    assert_eq!(taken, c.data, "bytes lost or repeated");
    if !cut_a_line {
        // A line cut because it is too long to buffer counts once per piece, by design.
        assert_eq!(lines, count_lines(c.data), "checkpoint line count");
        // Only whole lines were taken, so batch line numbers are file line numbers.
        let want: Vec<(Vec<u8>, u64)> = non_blank_lines(c.data)
            .into_iter()
            .map(|(s, e, n)| (c.data[s..e].to_vec(), n + 1))
            .collect();
        assert_eq!(
            numbered, want,
            "lines or line numbers differ from the file's"
        );
    }
});
