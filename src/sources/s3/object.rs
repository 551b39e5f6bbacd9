//! One downloaded log object to records (pure): gunzip it and keep its whole lines. A body
//! that is not gzip, or an archive cut short, says so; the whole lines before the damage are
//! still records.

use std::io::Read;

use flate2::read::MultiGzDecoder;

/// What is wrong with an object (the `kind` of `bedrock_source_errors_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    NotGzip,
    Truncated,
}

impl Damage {
    pub fn kind(self) -> &'static str {
        match self {
            Damage::NotGzip => "not_gzip",
            Damage::Truncated => "truncated",
        }
    }
}

/// The decompressed text, cut after its last whole line when the archive is damaged.
pub fn gunzip(body: &[u8]) -> (Vec<u8>, Option<Damage>) {
    if !body.starts_with(&[0x1f, 0x8b]) {
        return (Vec::new(), Some(Damage::NotGzip));
    }
    let mut out = Vec::with_capacity(body.len() * 8);
    match MultiGzDecoder::new(body).read_to_end(&mut out) {
        Ok(_) => (out, None),
        Err(_) => {
            // Only whole lines are records: the last one may be cut.
            let whole = memchr::memrchr(b'\n', &out).map_or(0, |i| i + 1);
            out.truncate(whole);
            (out, Some(Damage::Truncated))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(text: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_whole_archive_is_all_its_text() {
        assert_eq!(
            gunzip(&gz(b"{\"a\":1}\n{\"a\":2}")),
            (b"{\"a\":1}\n{\"a\":2}".to_vec(), None)
        );
        // Concatenated members (appended archives) are one text.
        let mut two = gz(b"x\n");
        two.extend(gz(b"y\n"));
        assert_eq!(gunzip(&two).0, b"x\ny\n");
    }

    #[test]
    fn plain_text_is_not_gzip() {
        assert_eq!(gunzip(b"{\"a\":1}\n"), (Vec::new(), Some(Damage::NotGzip)));
        assert_eq!(gunzip(b""), (Vec::new(), Some(Damage::NotGzip)));
    }

    #[test]
    fn a_cut_archive_keeps_its_whole_lines() {
        let text: Vec<u8> = (0..2000)
            .flat_map(|i| format!("{{\"line\":{i},\"pad\":\"{}\"}}\n", i * 7919).into_bytes())
            .collect();
        let full = gz(&text);
        let (out, damage) = gunzip(&full[..full.len() / 2]);
        assert_eq!(damage, Some(Damage::Truncated));
        assert!(!out.is_empty() && out.len() < text.len());
        assert!(text.starts_with(&out));
        assert_eq!(out.last(), Some(&b'\n'));
    }
}
