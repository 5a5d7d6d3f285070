//! Argument parsing with the rules of Go's `flag` package, which
//! dmverity-vhd (urfave/cli v1) uses: `-name` and `--name` are the same,
//! values come as `-name=value` or `-name value`, booleans take no separate
//! value, and parsing stops at the first argument that is not a flag.

use std::collections::HashMap;

/// One flag with all its names (the first is the canonical one).
pub struct Spec {
    pub names: &'static [&'static str],
    pub takes_value: bool,
    pub help: &'static str,
}

pub const fn flag(names: &'static [&'static str], help: &'static str) -> Spec {
    Spec {
        names,
        takes_value: false,
        help,
    }
}

pub const fn value(names: &'static [&'static str], help: &'static str) -> Spec {
    Spec {
        names,
        takes_value: true,
        help,
    }
}

/// Parsed flags by canonical name, plus what followed them.
#[derive(Debug, Default)]
pub struct Parsed {
    pub values: HashMap<&'static str, String>,
    pub bools: HashMap<&'static str, bool>,
    pub rest: Vec<String>,
    pub help: bool,
}

impl Parsed {
    pub fn string(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
    pub fn bool(&self, name: &str) -> bool {
        self.bools.get(name).copied().unwrap_or(false)
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

pub fn parse(specs: &[Spec], args: &[String]) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg.len() < 2 || !arg.starts_with('-') {
            break;
        }
        i += 1;
        let mut body = &arg[1..];
        if let Some(b) = body.strip_prefix('-') {
            if b.is_empty() {
                break; // "--" ends the flags
            }
            body = b;
        }
        if body.starts_with('-') || body.starts_with('=') {
            return Err(format!("bad flag syntax: {arg}"));
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let Some(spec) = specs.iter().find(|s| s.names.contains(&name)) else {
            if name == "help" || name == "h" {
                out.help = true;
                continue;
            }
            return Err(format!("flag provided but not defined: -{name}"));
        };
        let canonical = spec.names[0];
        if spec.takes_value {
            let v = match inline {
                Some(v) => v,
                None if i < args.len() => {
                    i += 1;
                    args[i - 1].clone()
                }
                None => return Err(format!("flag needs an argument: -{name}")),
            };
            out.values.insert(canonical, v);
        } else {
            let v = match inline {
                Some(v) => parse_bool(&v)
                    .ok_or_else(|| format!("invalid boolean value {v:?} for -{name}"))?,
                None => true,
            };
            out.bools.insert(canonical, v);
        }
    }
    out.rest = args[i..].to_vec();
    Ok(out)
}

/// urfave/cli's message for missing required flags.
pub fn require(p: &Parsed, names: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| p.string(n).is_none())
        .collect();
    match missing.len() {
        0 => Ok(()),
        1 => Err(format!("Required flag \"{}\" not set", missing[0])),
        _ => Err(format!("Required flags \"{}\" not set", missing.join(", "))),
    }
}

/// Flag lines for help text.
pub fn describe(specs: &[Spec]) -> String {
    let mut s = String::new();
    for spec in specs {
        let names: Vec<String> = spec
            .names
            .iter()
            .map(|n| {
                if n.len() == 1 {
                    format!("-{n}")
                } else {
                    format!("--{n}")
                }
            })
            .collect();
        let arg = if spec.takes_value { " value" } else { "" };
        s.push_str(&format!("   {}{arg}\t{}\n", names.join(", "), spec.help));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[Spec] = &[
        flag(&["verbose", "v"], ""),
        value(&["tarball", "t"], ""),
        flag(&["hash-dev-vhd", "hdv"], ""),
    ];

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn one_or_two_dashes_and_values() {
        let p = parse(
            SPECS,
            &args(&["-v", "--tarball", "x.tar", "-hdv", "roothash", "-i", "img"]),
        )
        .unwrap();
        assert!(p.bool("verbose"));
        assert!(p.bool("hash-dev-vhd"));
        assert_eq!(p.string("tarball"), Some("x.tar"));
        assert_eq!(p.rest, args(&["roothash", "-i", "img"]));
        let p = parse(SPECS, &args(&["-tarball=y", "--hdv=false"])).unwrap();
        assert_eq!(p.string("tarball"), Some("y"));
        assert!(!p.bool("hash-dev-vhd"));
    }

    #[test]
    fn go_errors() {
        assert_eq!(
            parse(SPECS, &args(&["-x"])).unwrap_err(),
            "flag provided but not defined: -x"
        );
        assert_eq!(
            parse(SPECS, &args(&["-t"])).unwrap_err(),
            "flag needs an argument: -t"
        );
        assert!(parse(SPECS, &args(&["---v"])).is_err());
        let p = parse(SPECS, &args(&["--", "-v"])).unwrap();
        assert_eq!(p.rest, args(&["-v"]));
        assert!(parse(SPECS, &args(&["-h"])).unwrap().help);
    }
}
