//! CSV records (RFC 4180) read one at a time from a byte stream: commas, double-quoted fields
//! with `""` escapes and line breaks inside, CRLF or LF, a UTF-8 byte-order mark before the
//! header. Pure over any `BufRead`; memory is one record, capped at [`MAX_RECORD_BYTES`].
//!
//! CUR's `product` map is a JSON object inside a quoted field, so quoting is the common case,
//! not an edge.

use std::io::{self, BufRead};

/// A record longer than this is malformed (a quote that never closes would otherwise read
/// the rest of the file into one field).
pub const MAX_RECORD_BYTES: usize = 1 << 20;

pub struct Records<R> {
    inner: R,
    line: Vec<u8>,
    first: bool,
}

/// One record, or why it is not one (the reader goes on with the next line).
pub type Record = Result<Vec<String>, String>;

impl<R: BufRead> Records<R> {
    pub fn new(inner: R) -> Self {
        Records {
            inner,
            line: Vec::new(),
            first: true,
        }
    }

    /// The next record; `None` at the end of the input. Blank lines are skipped.
    pub fn next_record(&mut self) -> io::Result<Option<Record>> {
        let mut fields = Vec::new();
        let mut field = Vec::new();
        let mut quoted = false;
        let mut size = 0;
        loop {
            self.line.clear();
            if self.inner.read_until(b'\n', &mut self.line)? == 0 {
                if quoted {
                    return Ok(Some(Err(
                        "a quoted field is not closed before the end of the file".into(),
                    )));
                }
                if fields.is_empty() && field.is_empty() {
                    return Ok(None);
                }
                break;
            }
            let mut line = self.line.as_slice();
            if std::mem::take(&mut self.first) {
                line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            }
            if !quoted && fields.is_empty() && field.is_empty() && is_blank(line) {
                continue;
            }
            size += line.len();
            if size > MAX_RECORD_BYTES {
                // Resynchronise at the next line: the rest of this record is lost either way.
                return Ok(Some(Err(format!(
                    "a record longer than {MAX_RECORD_BYTES} bytes (an unclosed quote?)"
                ))));
            }
            let mut i = 0;
            while i < line.len() {
                let b = line[i];
                if quoted {
                    if b == b'"' {
                        if line.get(i + 1) == Some(&b'"') {
                            field.push(b'"');
                            i += 1;
                        } else {
                            quoted = false;
                        }
                    } else {
                        field.push(b);
                    }
                } else {
                    match b {
                        // A quote opens a quoted field only at its start; elsewhere it is
                        // kept as written (lenient, like most CSV readers).
                        b'"' if field.is_empty() => quoted = true,
                        b',' => fields.push(std::mem::take(&mut field)),
                        b'\r' if matches!(&line[i + 1..], b"\n" | b"") => {}
                        b'\n' => {}
                        _ => field.push(b),
                    }
                }
                i += 1;
            }
            if !quoted {
                break;
            }
        }
        fields.push(field);
        let fields: Result<Vec<String>, _> = fields.into_iter().map(String::from_utf8).collect();
        Ok(Some(
            fields.map_err(|_| "the record is not UTF-8".to_string()),
        ))
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &[u8]) -> Vec<Record> {
        let mut r = Records::new(text);
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            out.push(rec);
        }
        out
    }

    fn ok(fields: &[&str]) -> Record {
        Ok(fields.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn plain_quoted_and_multiline_fields() {
        let text = b"\xEF\xBB\xBFa,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\r\n\n2,\"line\nbreak\",\r\n3,,\"{\"\"k\"\":\"\"v\"\"}\"";
        assert_eq!(
            all(text),
            vec![
                ok(&["a", "b", "c"]),
                ok(&["1", "x, y", "say \"hi\""]),
                ok(&["2", "line\nbreak", ""]),
                ok(&["3", "", "{\"k\":\"v\"}"]),
            ]
        );
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_is_kept() {
        assert_eq!(all(b"ab\"c,d\n"), vec![ok(&["ab\"c", "d"])]);
    }

    #[test]
    fn broken_records_are_reported_and_reading_goes_on() {
        let recs = all(b"a,\xff\nb,c\nd,\"open\n");
        assert_eq!(recs[0], Err("the record is not UTF-8".into()));
        assert_eq!(recs[1], ok(&["b", "c"]));
        assert!(recs[2].as_ref().unwrap_err().contains("not closed"));
        assert_eq!(recs.len(), 3);
    }

    #[test]
    fn an_endless_quote_is_cut_at_the_cap() {
        let mut text = b"x,\"".to_vec();
        for _ in 0..(MAX_RECORD_BYTES / 10 + 10) {
            text.extend_from_slice(b"123456789\n");
        }
        let recs = all(&text);
        assert!(recs[0].as_ref().unwrap_err().contains("longer than"));
        assert!(recs.len() > 1, "reading went on after the cut");
    }
}
