//! dmverity-vhd's Windows JSON, `{"layers": [hex…], "mounted_cim": [hex]}`
//! (layers base first, in manifest order; `mounted_cim` the merged CIM's
//! digest, or the one layer's), read and checked against an image.

use serde::Serialize;
use serde_json::Value;

/// Digests computed on Windows for one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowsHashes {
    pub layers: Vec<String>,
    pub mounted_cim: Vec<String>,
}

fn hex_digest(v: &Value, what: &str) -> Result<String, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("{what} is not a string"))?;
    if s.len() < 32 || s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{what} {s:?} is not a hex digest"));
    }
    Ok(s.to_ascii_lowercase())
}

/// Parse `bytes` (the file's contents) for an image of `layer_count`
/// layers. Errors say what is wrong, for a message naming the file.
pub fn parse(bytes: &[u8], layer_count: usize) -> Result<WindowsHashes, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let layers = v["layers"]
        .as_array()
        .ok_or("no \"layers\" array (dmverity-vhd's Windows JSON has one)")?
        .iter()
        .enumerate()
        .map(|(i, l)| hex_digest(l, &format!("layers[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let mounted = v["mounted_cim"]
        .as_array()
        .ok_or("no \"mounted_cim\" array (dmverity-vhd's Windows JSON has one)")?;
    if mounted.len() != 1 {
        return Err(format!(
            "\"mounted_cim\" holds {} digests, expected 1",
            mounted.len()
        ));
    }
    let mounted_cim = vec![hex_digest(&mounted[0], "mounted_cim[0]")?];
    if layers.len() != layer_count {
        return Err(format!(
            "it lists {} layer digests, but the image has {layer_count} layers",
            layers.len()
        ));
    }
    if layer_count == 1 && mounted_cim[0] != layers[0] {
        return Err("a one-layer image's mounted_cim must be its layer's digest".into());
    }
    Ok(WindowsHashes {
        layers,
        mounted_cim,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "24af9c8b0000000000000000000000000000000000000000000000000000000a";
    const B: &str = "2498081200000000000000000000000000000000000000000000000000000000";
    const M: &str = "849f110400000000000000000000000000000000000000000000000000000000";

    #[test]
    fn good_file_round_trips() {
        let text = format!(
            r#"{{"layers":["{A}","{}"],"mounted_cim":["{M}"]}}"#,
            B.to_uppercase()
        );
        let h = parse(text.as_bytes(), 2).unwrap();
        assert_eq!(h.layers, [A, B]);
        assert_eq!(h.mounted_cim, [M]);
    }

    #[test]
    fn wrong_count_malformed_and_odd_values_are_refused() {
        let two = format!(r#"{{"layers":["{A}","{B}"],"mounted_cim":["{M}"]}}"#);
        assert!(parse(two.as_bytes(), 3)
            .unwrap_err()
            .contains("2 layer digests"));
        assert!(parse(b"{\"layers\": [", 1)
            .unwrap_err()
            .contains("not JSON"));
        assert!(parse(b"{}", 1).unwrap_err().contains("\"layers\""));
        let bad = format!(r#"{{"layers":["xyz"],"mounted_cim":["{M}"]}}"#);
        assert!(parse(bad.as_bytes(), 1).unwrap_err().contains("layers[0]"));
        let none = format!(r#"{{"layers":["{A}"],"mounted_cim":[]}}"#);
        assert!(parse(none.as_bytes(), 1)
            .unwrap_err()
            .contains("expected 1"));
        let single = format!(r#"{{"layers":["{A}"],"mounted_cim":["{M}"]}}"#);
        assert!(parse(single.as_bytes(), 1)
            .unwrap_err()
            .contains("one-layer"));
    }
}
