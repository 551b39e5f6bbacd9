//! Byte layouts of the store's blobs: label pairs (written once per series), values by id
//! (journal rows and value chunks) and dedupe keys. Little-endian, length-prefixed, no
//! parsing library: loading a million series must take well under a second.

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
}
