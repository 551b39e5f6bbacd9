//! Byte layouts of the store's blobs: label pairs (written once per series), values by id
//! (journal rows and value chunks) and dedupe keys. Little-endian, length-prefixed, no
//! parsing library: loading a million series must take well under a second. Also the
//! primitives of the daily journal's rows (see `daily.rs`): varints and front-coded strings.

use super::DedupeKey;

/// Label pairs as `[u16 len][name][u16 len][value]…`.
pub fn encode_labels(labels: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(labels.iter().map(|(n, v)| n.len() + v.len() + 4).sum());
    for s in labels.iter().flat_map(|(n, v)| [n, v]) {
        let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&s.as_bytes()[..len as usize]);
    }
    out
}

/// The inverse of [`encode_labels`], borrowing from `blob`; `None` if it is not well formed.
pub fn decode_labels<'a>(mut blob: &'a [u8], out: &mut Vec<(&'a str, &'a str)>) -> Option<()> {
    out.clear();
    let mut take = || -> Option<&'a str> {
        let len = u16::from_le_bytes(blob.get(..2)?.try_into().ok()?) as usize;
        let s = std::str::from_utf8(blob.get(2..2 + len)?).ok()?;
        blob = &blob[2 + len..];
        Some(s)
    };
    loop {
        let Some(name) = take() else {
            return blob.is_empty().then_some(());
        };
        out.push((name, take()?));
    }
}

/// Series definitions as `[u32 id][u8 len][metric name][u16 len][labels blob]…` (the
/// metric by name, so a store outlives the order of this build's metric list).
pub fn encode_def(out: &mut Vec<u8>, id: u32, metric: &str, labels: &[(&str, &str)]) {
    encode_def_raw(out, id, metric, &encode_labels(labels));
}

/// As [`encode_def`], with the labels already encoded.
pub fn encode_def_raw(out: &mut Vec<u8>, id: u32, metric: &str, labels: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    out.push(metric.len() as u8);
    out.extend_from_slice(metric.as_bytes());
    out.extend_from_slice(&(labels.len() as u16).to_le_bytes());
    out.extend_from_slice(labels);
}

/// The inverse of [`encode_def`]: `(id, metric name, labels blob)`; `None` where malformed.
pub fn decode_defs(mut blob: &[u8]) -> impl Iterator<Item = Option<(u32, &str, &[u8])>> {
    std::iter::from_fn(move || {
        if blob.is_empty() {
            return None;
        }
        let mut next = || -> Option<(u32, &[u8], &[u8])> {
            let id = u32::from_le_bytes(blob.get(..4)?.try_into().ok()?);
            let n = *blob.get(4)? as usize;
            let name = blob.get(5..5 + n)?;
            let at = 5 + n;
            let len = u16::from_le_bytes(blob.get(at..at + 2)?.try_into().ok()?) as usize;
            let labels = blob.get(at + 2..at + 2 + len)?;
            blob = &blob[at + 2 + len..];
            Some((id, name, labels))
        };
        match next() {
            Some((id, name, labels)) => {
                Some(std::str::from_utf8(name).ok().map(|n| (id, n, labels)))
            }
            None => {
                blob = &[];
                Some(None)
            }
        }
    })
}

/// Ids as consecutive `u32`s.
pub fn encode_ids(ids: &[u32]) -> Vec<u8> {
    ids.iter().flat_map(|i| i.to_le_bytes()).collect()
}

pub fn decode_ids(blob: &[u8]) -> impl Iterator<Item = u32> + '_ {
    blob.chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
}

/// `(id, value)` pairs as `[u32 id][i128 value]…`.
pub fn encode_values(values: &[(u32, i128)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 20);
    for (id, v) in values {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

pub fn decode_values(blob: &[u8]) -> Option<impl Iterator<Item = (u32, i128)> + '_> {
    blob.len().is_multiple_of(20).then(|| {
        blob.chunks_exact(20).map(|c| {
            let id = u32::from_le_bytes(c[..4].try_into().expect("4 bytes"));
            let v = i128::from_le_bytes(c[4..].try_into().expect("16 bytes"));
            (id, v)
        })
    })
}

/// Series per value chunk: a chunk row is 16 KiB.
pub const CHUNK: usize = 1024;

/// Values of ids `chunk * CHUNK ..` (below `ids`) as consecutive `i128`s.
pub fn encode_chunk(ids: usize, value: impl Fn(u32) -> i128, chunk: usize) -> Vec<u8> {
    let from = (chunk * CHUNK).min(ids);
    let to = (from + CHUNK).min(ids);
    (from..to)
        .flat_map(|i| value(i as u32).to_le_bytes())
        .collect()
}

pub fn decode_chunk(blob: &[u8]) -> impl Iterator<Item = i128> + '_ {
    blob.chunks_exact(16)
        .map(|c| i128::from_le_bytes(c.try_into().expect("16 bytes")))
}

pub fn encode_keys(keys: &[DedupeKey]) -> Vec<u8> {
    keys.concat()
}

pub fn decode_keys(blob: &[u8]) -> impl Iterator<Item = DedupeKey> + '_ {
    blob.chunks_exact(16)
        .map(|c| c.try_into().expect("16 bytes"))
}

/// Appends `v` as a LEB128 varint (7 bits a byte, low first).
pub fn put_varint(out: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A signed value zigzag-encoded, so small magnitudes of either sign stay short.
pub fn put_signed(out: &mut Vec<u8>, v: i128) {
    put_varint(out, ((v << 1) ^ (v >> 127)) as u128);
}

/// Appends `s` front-coded against `prev` (the same field's previous value, which becomes
/// `s`): the length of their common prefix, then the rest. Strings of one field share long
/// prefixes (`arn:aws:sts::<account>:assumed-role/`, a model id's vendor), so most of a
/// string is not repeated.
pub fn put_front<'a>(out: &mut Vec<u8>, prev: &mut &'a str, s: &'a str) {
    let shared = common_prefix(prev.as_bytes(), s.as_bytes());
    put_varint(out, shared as u128);
    put_varint(out, (s.len() - shared) as u128);
    out.extend_from_slice(&s.as_bytes()[shared..]);
    *prev = s;
}

/// Bytes `a` and `b` start with in common, compared 8 at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n && a[i..i + 8] == b[i..i + 8] {
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// Reads what the `put_*` functions wrote; every method is `None` past the end or on a
/// malformed value.
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    pub fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    pub fn varint(&mut self) -> Option<u128> {
        let mut v: u128 = 0;
        for shift in (0..128).step_by(7) {
            let b = self.byte()?;
            v |= u128::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    pub fn signed(&mut self) -> Option<i128> {
        let z = self.varint()?;
        Some((z >> 1) as i128 ^ -((z & 1) as i128))
    }

    /// The next front-coded string, rebuilt in `prev` (which must hold the field's previous
    /// value).
    pub fn front<'p>(&mut self, prev: &'p mut Vec<u8>) -> Option<&'p str> {
        let shared = usize::try_from(self.varint()?).ok()?;
        let len = usize::try_from(self.varint()?).ok()?;
        if shared > prev.len() || len > self.0.len() {
            return None;
        }
        prev.truncate(shared);
        prev.extend_from_slice(&self.0[..len]);
        self.0 = &self.0[len..];
        std::str::from_utf8(prev).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip() {
        let labels = [("user", "alice"), ("feature", ""), ("model", "m:0")];
        let blob = encode_labels(&labels);
        let mut out = Vec::new();
        decode_labels(&blob, &mut out).unwrap();
        assert_eq!(out, labels);
        assert!(decode_labels(&blob[..blob.len() - 1], &mut out).is_none());
        let values = [(0, -1), (7, i128::MAX)];
        assert_eq!(
            decode_values(&encode_values(&values))
                .unwrap()
                .collect::<Vec<_>>(),
            values
        );
        let mut defs = Vec::new();
        encode_def(&mut defs, 3, "bedrock_cost_usd_total", &labels);
        encode_def(&mut defs, 9, "m", &[]);
        let got: Vec<_> = decode_defs(&defs).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], Some((3, "bedrock_cost_usd_total", &blob[..])));
        assert_eq!(got[1], Some((9, "m", &[][..])));
        assert_eq!(decode_defs(&defs[..defs.len() - 1]).last(), Some(None));
        assert_eq!(
            decode_ids(&encode_ids(&[1, 70_000])).collect::<Vec<_>>(),
            [1, 70_000]
        );
        let all: Vec<i128> = (0..3000).collect();
        let chunk = encode_chunk(all.len(), |i| all[i as usize], 2);
        assert_eq!(decode_chunk(&chunk).collect::<Vec<_>>(), all[2048..]);
    }

    #[test]
    fn varints_and_front_coded_strings_round_trip() {
        let mut out = Vec::new();
        let nums = [0, 1, 127, 128, u128::from(u64::MAX), u128::MAX];
        nums.iter().for_each(|&n| put_varint(&mut out, n));
        let signed = [0, -1, 1, i128::MIN, i128::MAX];
        signed.iter().for_each(|&n| put_signed(&mut out, n));
        let mut prev = "";
        let words = [
            "arn:aws:iam::1:user/a",
            "arn:aws:iam::1:user/ab",
            "arn:aws:iam::1:user/ab",
            "",
            "é",
            "éa",
        ];
        words.iter().for_each(|w| put_front(&mut out, &mut prev, w));
        let mut r = Reader(&out);
        assert_eq!(nums.map(|_| r.varint().unwrap()), nums);
        assert_eq!(signed.map(|_| r.signed().unwrap()), signed);
        let mut buf = Vec::new();
        for w in words {
            assert_eq!(r.front(&mut buf), Some(w));
        }
        assert!(r.0.is_empty() && r.byte().is_none());
        // a varint that never ends, a prefix longer than what came before
        assert_eq!(Reader(&[0xff; 20]).varint(), None);
        assert_eq!(Reader(&[5, 0]).front(&mut Vec::new()), None);
    }
}
