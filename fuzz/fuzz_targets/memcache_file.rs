//! A memory-cache file with arbitrary contents, as a hostile or corrupt
//! `nss.mc` would be mapped by every process: the reader must refuse it or
//! answer lookups without reading outside the file. The first byte picks
//! the key and the next bytes its value; the rest is the file. Each record
//! found is parsed again from its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_proto::memcache::{Key, Mapping, Record, RecordView};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::OnceLock;

fn path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("roster-fuzz-mc-{}", std::process::id()))
    })
}

fn write(bytes: &[u8]) {
    let p = path();
    let _ = std::fs::remove_file(p);
    let mut f = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(p)
        .expect("scratch memory-cache file");
    f.write_all(bytes).expect("write scratch file");
}

fuzz_target!(|data: &[u8]| {
    // Record parsing on its own, from any bytes.
    if let Some((view, _)) = RecordView::parse(data) {
        let _ = view.to_owned();
    }
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let klen = (sel >> 3) as usize % 16;
    if rest.len() < klen {
        return;
    }
    let (kbytes, file) = rest.split_at(klen);
    let name = String::from_utf8_lossy(kbytes);
    let id = kbytes
        .iter()
        .take(4)
        .fold(0u32, |a, b| (a << 8) | u32::from(*b));
    let key = match sel & 7 {
        0 => Key::UserName(&name),
        1 => Key::Uid(id),
        2 => Key::GroupName(&name),
        3 => Key::Gid(id),
        _ => Key::GroupsOf(&name),
    };
    write(file);
    let Ok(map) = Mapping::open(path()) else {
        return;
    };
    let _ = map.retired();
    for now in [0, u64::MAX / 2] {
        if let Some(rec) = map.get(&key, now) {
            assert!(key.matches(&rec), "{key:?} answered with {rec:?}");
            let again = Record::decode(&rec.encode(u64::MAX)).map(|(r, _)| r);
            assert_eq!(again.as_ref(), Some(&rec));
        }
    }
});
