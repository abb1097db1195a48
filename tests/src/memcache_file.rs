//! Helpers of the tests of the NSS memory cache (`nss.mc`): spellings to
//! ask, and the records a file holds.

/// Every spelling of `name` with some ASCII letters in upper case, except
/// `name` itself.
pub fn case_variants(name: &str) -> Vec<String> {
    let letters: Vec<usize> = name
        .char_indices()
        .filter(|(_, c)| c.is_ascii_lowercase())
        .map(|(i, _)| i)
        .collect();
    (1u32..1 << letters.len())
        .map(|mask| {
            let mut v = name.as_bytes().to_vec();
            for (bit, &i) in letters.iter().enumerate() {
                if mask >> bit & 1 == 1 {
                    v[i] = v[i].to_ascii_uppercase();
                }
            }
            String::from_utf8(v).expect("ASCII")
        })
        .collect()
}

/// The records in a memory-cache file, read straight from its bytes.
pub fn records_in(path: &std::path::Path) -> Vec<roster_proto::memcache::Record> {
    use roster_proto::memcache::Record;
    let bytes = std::fs::read(path).expect("read nss.mc");
    let u64_at = |off: usize| u64::from_ne_bytes(bytes[off..off + 8].try_into().unwrap()) as usize;
    // Header: record area offset at 40, bytes in use at 56 (see
    // roster_proto::memcache).
    let (data, used) = (u64_at(40), u64_at(56));
    let mut out = Vec::new();
    let mut off = data;
    while off < data + used {
        let len = u32::from_ne_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
        assert!(len >= 24 && off + len <= data + used, "record at {off}");
        let (record, _) = Record::decode(&bytes[off..off + len]).expect("well-formed record");
        out.push(record);
        off += len;
    }
    out
}
