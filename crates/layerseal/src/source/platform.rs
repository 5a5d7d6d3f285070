//! `os/arch[/variant]` platforms and how a request matches a candidate.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "invalid platform {s:?}: expected os/arch[/variant], e.g. linux/amd64"
            ));
        }
        Ok(Platform::new(parts[0], parts[1], parts.get(2).copied()))
    }

    pub fn new(os: &str, arch: &str, variant: Option<&str>) -> Self {
        let arch = match arch {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        let mut variant = variant.filter(|v| !v.is_empty()).map(str::to_string);
        if arch == "arm64" && variant.is_none() {
            variant = Some("v8".into());
        }
        Platform {
            os: os.to_ascii_lowercase(),
            architecture: arch.to_string(),
            variant,
        }
    }

    /// Whether `candidate` satisfies this request: same os and
    /// architecture, and the same variant when the request names one.
    pub fn matches(&self, candidate: &Platform) -> bool {
        self.os == candidate.os
            && self.architecture == candidate.architecture
            && (self.variant.is_none() || self.variant == candidate.variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.variant {
            Some(v) => write!(f, "{}/{}/{}", self.os, self.architecture, v),
            None => write!(f, "{}/{}", self.os, self.architecture),
        }
    }
}

impl Default for Platform {
    fn default() -> Self {
        Platform::new("linux", "amd64", None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let amd = Platform::parse("linux/amd64").unwrap();
        assert!(amd.matches(&Platform::new("linux", "x86_64", None)));
        assert!(!amd.matches(&Platform::new("linux", "arm64", None)));
        let arm = Platform::parse("linux/arm64").unwrap();
        assert!(arm.matches(&Platform::new("linux", "arm64", Some("v8"))));
        assert!(!Platform::parse("linux/arm/v7")
            .unwrap()
            .matches(&Platform::new("linux", "arm", Some("v6"))));
        assert!(Platform::parse("foo").is_err());
        assert!(Platform::parse("linux//x").is_err());
    }
}
