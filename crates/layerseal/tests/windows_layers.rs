//! Windows layer tars as hcsshim's block-CIM writer reads them, and the
//! call plan it issues. The tars are built here (PAX records by hand);
//! expectations follow the writer's rules in ../shared/specs/windows-cim.md
//! §4, checked by hand.

use base64::Engine;
use layerseal::windows::layer::{read_layer, Entry};
use layerseal::windows::plan::{plan, Op};
use proptest::prelude::*;

/// One member: name, typeflag, data, linkname, PAX records.
struct M<'a> {
    name: &'a str,
    kind: u8,
    data: &'a [u8],
    link: &'a str,
    pax: Vec<(&'a str, Vec<u8>)>,
}

fn m<'a>(name: &'a str, kind: u8, data: &'a [u8]) -> M<'a> {
    M {
        name,
        kind,
        data,
        link: "",
        pax: Vec::new(),
    }
}

fn header(name: &[u8], kind: u8, size: usize, link: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    h[136..147].copy_from_slice(format!("{:011o}", 1_700_000_000u64).as_bytes());
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    h
}

fn pad(out: &mut Vec<u8>) {
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn tar(members: &[M]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        if !m.pax.is_empty() {
            let mut body = Vec::new();
            for (k, v) in &m.pax {
                let rest = k.len() + v.len() + 3; // ' ', '=', '\n'
                let mut len = rest + 1;
                while format!("{len}").len() + rest != len {
                    len += 1;
                }
                body.extend_from_slice(format!("{len} {k}=").as_bytes());
                body.extend_from_slice(v);
                body.push(b'\n');
            }
            out.extend_from_slice(&header(b"PaxHeaders/x", b'x', body.len(), b""));
            out.extend_from_slice(&body);
            pad(&mut out);
        }
        out.extend_from_slice(&header(
            m.name.as_bytes(),
            m.kind,
            m.data.len(),
            m.link.as_bytes(),
        ));
        out.extend_from_slice(m.data);
        pad(&mut out);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn b64(v: &[u8]) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .encode(v)
        .into_bytes()
}

fn calls(ops: &[Op]) -> Vec<String> {
    ops.iter()
        .map(|op| match op {
            Op::CimCreateFile { path, .. } => format!("create {path}"),
            Op::CimCreateAlternateStream { path, .. } => format!("stream {path}"),
            Op::CimTombstoneFile { path } => format!("tombstone {path}"),
            Op::CimCreateHardLink { path, existing } => format!("hardlink {path} -> {existing}"),
            Op::CimCreateMergeLink { path, existing } => format!("mergelink {path} -> {existing}"),
            Op::MergeHive {
                parent_base,
                delta,
                output,
            } => format!("mergehive {parent_base} + {delta} -> {output}"),
        })
        .collect()
}

#[test]
fn base_layer_plan_follows_the_writer() {
    let sd = vec![
        1u8, 0, 4, 0x80, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9,
    ];
    let mut a = m("Files/a.txt", b'0', b"hello");
    a.pax = vec![
        ("MSWINDOWS.fileattr", b"32".to_vec()),
        ("MSWINDOWS.rawsd", b64(&sd)),
        ("LIBARCHIVE.creationtime", b"1600000000.25".to_vec()),
        ("MSWINDOWS.xattr.B", b64(b"2")),
        ("MSWINDOWS.xattr.A", b64(b"1")),
    ];
    let mut dir = m("Files/", b'5', b"");
    dir.pax = vec![("MSWINDOWS.fileattr", b"16".to_vec())];
    let mut link = m("Files/link.txt", b'1', b"");
    link.link = "Files/a.txt";
    let mut lower = m("Files/lower.txt", b'1', b"");
    lower.link = "Files/notthere.txt";
    let mut sym = m("Files/sym", b'2', b"");
    sym.link = "../a.txt";
    let mut mp = m("Files/mp", b'2', b"");
    mp.link = "C:/dir";
    mp.pax = vec![("MSWINDOWS.mountpoint", b"1".to_vec())];
    let members = [
        dir,
        a,
        m("Files/a.txt:meta:$DATA", b'0', b"xyz"),
        link,
        lower,
        sym,
        mp,
        m("Hives/SYSTEM_BASE", b'0', b"hive"),
        m("Files/Windows/System32/config/SYSTEM", b'0', b"cfg"),
        m("Files/.wh.gone", b'0', b""),
    ];
    let layer = read_layer(&tar(&members)[..]).unwrap();
    let p = plan(&layer, &[]);
    assert!(p.base_layer);
    assert_eq!(p.create_flags, 0x58);
    assert_eq!(
        calls(&p.ops),
        [
            r"create Files",
            r"create Files\a.txt",
            r"stream Files\a.txt:meta",
            r"create Files\sym",
            r"create Files\mp",
            r"create Hives\SYSTEM_BASE",
            r"tombstone Files\gone",
            // held back to close, in tar order
            r"hardlink Files\link.txt -> Files\a.txt",
            r"mergelink Files\lower.txt -> Files\notthere.txt",
            r"create Files\Windows\System32\config\SYSTEM",
            // base layer additions
            r"create Hives",
            r"hardlink Files\Windows\System32\config\SYSTEM -> Hives\SYSTEM_BASE",
            r"mergelink Files\Windows\System32\config\SOFTWARE -> Hives\SOFTWARE_BASE",
            r"mergelink Files\Windows\System32\config\SAM -> Hives\SAM_BASE",
            r"mergelink Files\Windows\System32\config\SECURITY -> Hives\SECURITY_BASE",
            r"mergelink Files\Windows\System32\config\DEFAULT -> Hives\DEFAULTUSER_BASE",
            r"create layout",
        ]
    );
    let Op::CimCreateFile {
        metadata,
        payload_sha256,
        ..
    } = &p.ops[1]
    else {
        panic!()
    };
    assert_eq!(metadata.attributes, 32);
    assert_eq!(metadata.file_size, 5);
    assert_eq!(metadata.security_descriptor, sd);
    assert_eq!(
        metadata.last_write_time,
        1_700_000_000 * 10_000_000 + 116_444_736_000_000_000
    );
    assert_eq!(
        metadata.creation_time,
        1_600_000_000 * 10_000_000 + 2_500_000 + 116_444_736_000_000_000
    );
    // No atime / ctime in the tar: Go's zero time, wrapped.
    assert_eq!(metadata.last_access_time, 48_491_090_211_286_549);
    assert_eq!(metadata.change_time, 48_491_090_211_286_549);
    // EAs sorted by name: A then B, each 8 + 1 + 1 + 1 = 11 -> 12 bytes.
    assert_eq!(
        metadata.ea_buffer,
        [
            &[12, 0, 0, 0, 0, 1, 1, 0][..],
            b"A\x001\0",
            &[0, 0, 0, 0, 0, 1, 1, 0],
            b"B\x002\0"
        ]
        .concat()
    );
    assert_eq!(
        payload_sha256.as_deref(),
        Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    );
    assert!(
        p.lints
            .iter()
            .any(|l| l.contains(r"Files\a.txt: 2 extended attributes")),
        "{:?}",
        p.lints
    );
    // The directory, the symlink and the junction.
    let attrs: Vec<u32> = [0, 3, 4]
        .iter()
        .map(|&i| match &p.ops[i] {
            Op::CimCreateFile { metadata, .. } => metadata.attributes,
            _ => panic!(),
        })
        .collect();
    assert_eq!(attrs, [0x10, 0x400, 0x400]);
    // Files without PAX records get the NULL-DACL descriptor.
    let Op::CimCreateFile { metadata, .. } = &p.ops[5] else {
        panic!()
    };
    assert_eq!(
        metadata.security_descriptor,
        [&[1u8, 0, 4, 0x80][..], &[0; 16]].concat()
    );
    // layout: 15 bytes "vhd-with-hives\n", attribute NORMAL, zero times.
    let Op::CimCreateFile {
        metadata,
        payload_sha256,
        ..
    } = p.ops.last().unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (
            metadata.attributes,
            metadata.file_size,
            metadata.last_write_time
        ),
        (0x80, 15, 0)
    );
    // sha256 of "vhd-with-hives\n"
    assert_eq!(
        payload_sha256.as_deref(),
        Some("87107be708e68fee7bc3a45404974160d93dbd7dfc199683604eec878b7ccf40")
    );
}

#[test]
fn child_layer_merges_hives_against_the_immediate_parent() {
    let members = [
        m("Files/new.txt", b'0', b"n"),
        m("Hives/SOFTWARE_DELTA", b'0', b"delta"),
        m("UtilityVM/Files/x", b'0', b"u"),
        m("Files/.wh.old", b'0', b""),
    ];
    let layer = read_layer(&tar(&members)[..]).unwrap();
    let parents = [r"C:\layers\2".to_string(), r"C:\layers\1".to_string()];
    let p = plan(&layer, &parents);
    assert!(!p.base_layer);
    assert_eq!(
        calls(&p.ops),
        [
            r"create Files\new.txt",
            r"create UtilityVM\Files\x",
            r"tombstone Files\old",
            r"create Hives\SOFTWARE_DELTA",
            r"mergehive C:\layers\2\Hives\SOFTWARE_BASE + Hives\SOFTWARE_DELTA -> Hives\SOFTWARE_BASE",
            r"create Hives\SOFTWARE_BASE",
        ]
    );
    assert!(p
        .lints
        .iter()
        .any(|l| l.contains("UtilityVM file in a layer above the base")));
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["ops"][4]["call"], "MergeHive");
    assert_eq!(
        json["ops"][5]["payload_note"],
        "ORMergeHives output: known only on Windows"
    );
}

#[test]
fn a_hive_delta_in_a_base_layer_is_flagged() {
    let layer = read_layer(&tar(&[m("Hives/SAM_DELTA", b'0', b"d")])[..]).unwrap();
    let p = plan(&layer, &[]);
    assert!(p
        .lints
        .iter()
        .any(|l| l.contains(r"Hives\SAM_DELTA: a hive delta in a base layer")));
}

#[test]
fn refusals_name_the_entry() {
    let err = |members: &[M]| read_layer(&tar(members)[..]).unwrap_err().to_string();
    let mut sddl = m("Files/f", b'0', b"");
    sddl.pax = vec![("MSWINDOWS.sd", b"O:BAG:BAD:(A;;FA;;;BA)".to_vec())];
    assert!(err(&[sddl]).contains("MSWINDOWS.sd"));
    assert!(err(&[m("../evil", b'0', b"")]).contains("not a relative path"));
    assert!(err(&[m("Files/f:s:$EA", b'0', b"")]).contains("only $DATA streams"));
    assert!(err(&[m("Files/dev", b'3', b"")]).contains("no Windows equivalent"));
    let mut bad = m("Files/f", b'0', b"");
    bad.pax = vec![("MSWINDOWS.rawsd", b"***".to_vec())];
    assert!(err(&[bad]).contains("not base64"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random bytes, and random members with random PAX records: an error
    /// or a plan, never a panic.
    #[test]
    fn random_layers_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
        names in proptest::collection::vec("[A-Za-z./:$_ ]{1,20}", 1..6),
        kinds in proptest::collection::vec(prop_oneof![Just(b'0'), Just(b'1'), Just(b'2'), Just(b'5'), Just(b'3')], 6),
        keys in proptest::collection::vec(prop_oneof![
            Just("MSWINDOWS.fileattr"), Just("MSWINDOWS.rawsd"), Just("MSWINDOWS.xattr.n"),
            Just("LIBARCHIVE.creationtime"), Just("MSWINDOWS.mountpoint"), Just("MSWINDOWS.sd")], 0..4),
        value in "[ -~]{0,12}",
    ) {
        if let Ok(l) = read_layer(&bytes[..]) {
            let _ = plan(&l, &[]);
        }
        let members: Vec<M> = names.iter().zip(&kinds).map(|(n, &k)| {
            let mut x = m(n, k, b"data");
            x.link = "Files/t";
            x.pax = keys.iter().map(|k| (*k, value.clone().into_bytes())).collect();
            x
        }).collect();
        if let Ok(l) = read_layer(&tar(&members)[..]) {
            let p = plan(&l, &["C:\\p".to_string()]);
            prop_assert!(serde_json::to_string(&p).is_ok());
        }
    }
}

#[test]
fn entries_keep_tar_order() {
    let layer = read_layer(&tar(&[m("Files/b", b'0', b""), m("Files/a", b'0', b"")])[..]).unwrap();
    let names: Vec<&str> = layer
        .entries
        .iter()
        .map(|e| match e {
            Entry::Create { path, .. } => path.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(names, [r"Files\b", r"Files\a"]);
}
