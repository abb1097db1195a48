//! A memory-cache file with arbitrary contents, as a hostile or corrupt
//! `nss.mc` would be mapped by every process: the reader must refuse it or
//! answer lookups without reading outside the file. The first byte picks
//! the key and the next bytes its value; the rest is the file. Each record
//! found is parsed again from its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_proto::memcache::{Key, Mapping, Record, RecordView};
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The scratch file (in /dev/shm when there is one), created once and
/// rewritten in place for every input: the reader opens it by path as it
/// would open `nss.mc`. Unlinking and creating a new file per input cost
/// more than the lookups themselves. The mapping of the previous input is
/// gone before the file is rewritten (it is dropped at the end of each
/// run), so cutting the file cannot fault a live mapping.
fn scratch() -> &'static (PathBuf, File) {
    static P: OnceLock<(PathBuf, File)> = OnceLock::new();
    P.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let p = dir.join(format!("roster-fuzz-mc-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let f = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&p)
            .expect("scratch memory-cache file");
        (p, f)
    })
}

fn write(bytes: &[u8]) -> &'static PathBuf {
    let (p, f) = scratch();
    // Overwrite, then cut the tail: the file's pages are reused, not freed
    // and cleared again for every input.
    f.write_all_at(bytes, 0).expect("write scratch file");
    f.set_len(bytes.len() as u64)
        .expect("truncate scratch file");
    p
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
    let path = write(file);
    let Ok(map) = Mapping::open(path) else {
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
