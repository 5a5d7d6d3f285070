//! An independent reader (the ext4-view crate) reads our images back, and
//! what it sees equals the tar as an independent tar reader (the tar crate)
//! lists it: every path, type, permission, owner, size, content, link.

mod common;

use std::collections::BTreeMap;
use std::io::Read;

use ext4_view::{Ext4, FileType};
use layerseal::ext4::{self, LAYOUT_128G};
use layerseal::sink::VecSink;

#[derive(Debug, PartialEq, Eq, Clone)]
enum Kind {
    Dir,
    File(String),
    Symlink(Vec<u8>),
    Char,
    Block,
    Fifo,
}

#[derive(Debug, PartialEq, Eq, Clone)]
struct Node {
    kind: Kind,
    perm: u32,
    uid: u32,
    gid: u32,
}

fn clean(p: &[u8]) -> String {
    let s = String::from_utf8_lossy(p);
    s.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// What the layer should look like, from the tar crate's listing.
fn model(tar_bytes: &[u8]) -> BTreeMap<String, Node> {
    let mut m: BTreeMap<String, Node> = BTreeMap::new();
    let mut ar = tar::Archive::new(tar_bytes);
    for entry in ar.entries().unwrap() {
        let mut e = entry.unwrap();
        let path = clean(&e.path_bytes());
        let h = e.header().clone();
        if path.is_empty() {
            continue; // the root itself is not listed
        }
        // Implicit parents copy their parent's attributes (root: 0755 0:0).
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..parts.len() {
            let p = parts[..i].join("/");
            if !m.contains_key(&p) {
                let parent = parts[..i - 1].join("/");
                let attrs = m.get(&parent).cloned().unwrap_or(Node {
                    kind: Kind::Dir,
                    perm: 0o755,
                    uid: 0,
                    gid: 0,
                });
                m.insert(
                    p,
                    Node {
                        kind: Kind::Dir,
                        ..attrs
                    },
                );
            }
        }
        let base = parts.last().unwrap();
        if *base == ".wh..wh..opq" {
            continue;
        }
        if let Some(target) = base.strip_prefix(".wh.") {
            let p = [&parts[..parts.len() - 1], &[target]].concat().join("/");
            m.insert(
                p,
                Node {
                    kind: Kind::Char,
                    perm: 0,
                    uid: 0,
                    gid: 0,
                },
            );
            continue;
        }
        let perm = h.mode().unwrap() & 0o7777;
        let (uid, gid) = (h.uid().unwrap() as u32, h.gid().unwrap() as u32);
        let kind = match h.entry_type() {
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink(e.link_name_bytes().unwrap().to_vec()),
            tar::EntryType::Char => Kind::Char,
            tar::EntryType::Block => Kind::Block,
            tar::EntryType::Fifo => Kind::Fifo,
            tar::EntryType::Link => {
                let target = clean(&e.link_name_bytes().unwrap());
                let n = m.get(&target).cloned().expect("hard link target");
                m.insert(path, n);
                continue;
            }
            _ => {
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                Kind::File(common::sha256_hex(&data))
            }
        };
        let perm = if matches!(kind, Kind::Symlink(_)) {
            0o777
        } else {
            perm
        };
        let kind = match kind {
            Kind::Symlink(t) if t.split(|&b| b == b'/').any(|c| c.len() > 255) => {
                Kind::Symlink(format!("<unreadable target of {} bytes>", t.len()).into_bytes())
            }
            k => k,
        };
        m.insert(
            path,
            Node {
                kind,
                perm,
                uid,
                gid,
            },
        );
    }
    m
}

/// What ext4-view sees in our image.
fn listing(fs: &Ext4) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![String::new()];
    while let Some(dir) = stack.pop() {
        let abs = format!("/{dir}");
        for entry in fs.read_dir(abs.as_str()).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().as_str().unwrap().to_string();
            if name == "." || name == ".." || (dir.is_empty() && name == "lost+found") {
                continue;
            }
            let rel = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            let path = entry.path();
            let md = fs.symlink_metadata(&path).unwrap();
            let kind = match md.file_type() {
                FileType::Directory => {
                    stack.push(rel.clone());
                    Kind::Dir
                }
                FileType::Regular => Kind::File(common::sha256_hex(&fs.read(&path).unwrap())),
                FileType::Symlink => match fs.read_link(&path) {
                    Ok(t) => Kind::Symlink(t.as_ref().to_vec()),
                    // ext4-view refuses targets with a component over 255
                    // bytes (its path type's limit); compare the length.
                    Err(_) => Kind::Symlink(
                        format!("<unreadable target of {} bytes>", md.len()).into_bytes(),
                    ),
                },
                FileType::CharacterDevice => Kind::Char,
                FileType::BlockDevice => Kind::Block,
                FileType::Fifo => Kind::Fifo,
                other => panic!("{rel}: unexpected type {other:?}"),
            };
            out.insert(
                rel,
                Node {
                    kind,
                    perm: u32::from(md.mode() & 0o7777),
                    uid: md.uid(),
                    gid: md.gid(),
                },
            );
        }
    }
    out
}

#[test]
fn images_read_back_as_their_tars() {
    for name in [
        "basic.tar",
        "names.tar",
        "gnu-names.tar",
        "devices.tar",
        "bigdir.tar",
        "xattrs.tar",
        "sparse.tar",
        "whiteouts.tar",
    ] {
        let tar = common::layer(name);
        let (sink, _) = ext4::convert(&tar[..], VecSink::default(), LAYOUT_128G).unwrap();
        let fs = Ext4::load(Box::new(sink.bytes)).unwrap();
        let got = listing(&fs);
        let want = model(&tar);
        assert_eq!(got.len(), want.len(), "{name}: entry count");
        for (path, w) in &want {
            assert_eq!(got.get(path), Some(w), "{name}: {path}");
        }
    }
}
