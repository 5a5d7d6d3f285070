//! Signed root hashes: `sign`, `verify-signatures`, and the referrer
//! lookup behind `roothash --from-referrers`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use layerseal::pipeline::{convert_image, LayerResult};
use layerseal::pkcs7::{Signer, Trust};
use layerseal::rootsig::check::{check_artifact, verified_root_hashes, LayerCheck};
use layerseal::rootsig::places::{write_files, Found, Place};
use layerseal::rootsig::{recipe, sign_image};
use layerseal::source::{Digest, Image, ImageRef};
use serde_json::json;

use crate::image_args::{prepare, ImageArgs, Prepared};
use crate::shared::{exit, usage};

#[derive(clap::Args)]
pub(crate) struct SignCmd {
    image: String,
    /// Private key, PEM: PKCS#8 (plain or encrypted), PKCS#1 RSA or SEC1 EC;
    /// RSA, ECDSA P-256 or P-384.
    #[arg(long, value_name = "KEY.pem")]
    key: PathBuf,
    /// Signer certificate, PEM; intermediates may follow it in the same file
    /// and are embedded in each signature.
    #[arg(long, value_name = "CERT.pem")]
    cert: PathBuf,
    /// Environment variable holding the passphrase of an encrypted key.
    #[arg(long, value_name = "VAR")]
    key_passphrase_env: Option<String>,
    /// Push the artifact to the image's registry repository (referrers API, or
    /// the fallback tag when the registry has none).
    #[arg(long, conflicts_with = "out_dir")]
    push: bool,
    /// Write the artifact as files: manifest.json, layer-N.pkcs7.sig,
    /// layer-N.roothash. (For an oci: layout the default is the layout itself.)
    #[arg(short, long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    #[command(flatten)]
    common: ImageArgs,
    #[arg(long)]
    json: bool,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

fn signer(c: &SignCmd) -> Result<Signer, String> {
    let pass = match &c.key_passphrase_env {
        Some(var) => Some(
            std::env::var(var)
                .map_err(|_| format!("--key-passphrase-env: {var} is not set"))?
                .into_bytes(),
        ),
        None => None,
    };
    Signer::from_pem_with_passphrase(
        &read(&c.cert, "certificate")?,
        &read(&c.key, "key")?,
        pass.as_deref(),
    )
    .map_err(|e| format!("{} / {}: {e}", c.key.display(), c.cert.display()))
}

fn subject_of(image: &Image) -> Result<Digest, String> {
    image.manifest_digest.clone().ok_or_else(|| {
        format!(
            "{}: the source keeps no manifest (use a registry, an OCI layout or an oci-archive)",
            image.reference
        )
    })
}

fn finish(p: &Prepared) {
    if let Some(m) = &p.multi {
        let _ = m.clear();
    }
}

pub(crate) fn run_sign(c: SignCmd) -> Result<i32, String> {
    let signer = signer(&c)?;
    let p = match prepare(&c.image, &c.common) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let place = match (&c.out_dir, c.push, &p.reference) {
        (Some(_), _, _) => None,
        (None, false, ImageRef::OciDir(..)) | (None, true, ImageRef::Registry(_)) => {
            Place::of(&p.reference, &c.common.registry.options())?
        }
        (None, true, _) => return usage("--push needs an image from a registry"),
        (None, false, _) => {
            return usage("say where the artifact goes: --push, -o DIR (or sign an oci: layout)")
        }
    };
    let subject = subject_of(&p.image)?;
    let result = sign_image(&p.image, &p.opts, &signer);
    finish(&p);
    let (art, layers) = result.map_err(|e| e.to_string())?;
    let destination = match (&place, &c.out_dir) {
        (Some(place), _) => {
            place
                .publish(&subject, &art)
                .map_err(|e| format!("{}: {e}", place.describe()))?;
            place.describe()
        }
        (None, Some(dir)) => {
            write_files(dir, &art)?;
            dir.display().to_string()
        }
        (None, None) => unreachable!("checked above"),
    };
    if c.json {
        let v = json!({
            "image": c.image,
            "manifest_digest": subject.to_string(),
            "recipe": serde_json::from_str::<serde_json::Value>(&recipe(&p.opts)).ok(),
            "artifact": art.digest.to_string(),
            "written_to": destination,
            "layers": layers.iter().map(|l| json!({
                "index": l.index,
                "digest": l.digest.as_ref().map(ToString::to_string),
                "root_hash": l.root_hash,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        for l in &layers {
            let d = l
                .digest
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            println!("{}  {d}", l.root_hash);
        }
        eprintln!(
            "signed {} layers: artifact {} in {destination}",
            layers.len(),
            art.digest
        );
    }
    Ok(exit::OK)
}

#[derive(clap::Args)]
pub(crate) struct VerifySignaturesCmd {
    image: String,
    /// CA certificates (PEM bundle) the signers must chain to.
    #[arg(long, value_name = "CA.pem")]
    ca: PathBuf,
    /// Do not recompute root hashes: trust the artifact's annotations once
    /// their signatures verify.
    #[arg(long)]
    trust_annotations: bool,
    #[command(flatten)]
    common: ImageArgs,
    #[arg(long)]
    json: bool,
}

fn trust(ca: &Path) -> Result<Trust, String> {
    Trust::from_pem(&read(ca, "CA")?).map_err(|e| format!("{}: {e}", ca.display()))
}

/// The artifacts of `place` for `subject` made with `want` (the recipe):
/// (digest, manifest); the error names what was found instead.
fn matching(
    found: Vec<Found>,
    want: &str,
) -> (
    Vec<(Digest, layerseal::rootsig::artifact::Manifest)>,
    Vec<String>,
) {
    let mut good = Vec::new();
    let mut other = Vec::new();
    for f in found {
        match f.manifest {
            Ok(m) => {
                let r = m
                    .annotations
                    .get(layerseal::rootsig::artifact::RECIPE_ANNOTATION)
                    .cloned()
                    .unwrap_or_default();
                // Compared as JSON values: another build may order keys
                // or space the text differently.
                if same_recipe(&r, want) {
                    good.push((f.digest, m));
                } else {
                    other.push(format!("{} (recipe {r})", f.digest));
                }
            }
            Err(e) => other.push(format!("{} ({e})", f.digest)),
        }
    }
    (good, other)
}

fn same_recipe(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

pub(crate) fn run_verify_signatures(c: VerifySignaturesCmd) -> Result<i32, String> {
    let trust = trust(&c.ca)?;
    let p = match prepare(&c.image, &c.common) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let subject = subject_of(&p.image)?;
    let place = Place::of(&p.reference, &c.common.registry.options())?
        .ok_or_else(|| format!("{}: this source keeps no referrers", c.image))?;
    let want = recipe(&p.opts);
    let (artifacts, others) = matching(place.find(&subject)?, &want);
    if artifacts.is_empty() {
        finish(&p);
        eprintln!(
            "layerseal: {}: no dm-verity signature artifact for manifest {subject} with recipe {want} in the {}{}",
            c.image,
            place.describe(),
            if others.is_empty() { String::new() } else { format!("; found: {}", others.join(", ")) }
        );
        return Ok(exit::MISMATCH);
    }
    let computed = if c.trust_annotations {
        None
    } else {
        let r = convert_image(&p.image, &p.opts);
        finish(&p);
        Some(
            r.map_err(|e| format!("{}: {e}", c.image))?
                .into_iter()
                .map(|l| l.root_hash)
                .collect::<Vec<_>>(),
        )
    };
    let blob = |d: &layerseal::rootsig::artifact::Descriptor| place.blob(d);
    let mut report: Option<(Digest, Vec<LayerCheck>)> = None;
    for (digest, manifest) in artifacts.into_iter().rev() {
        let checks = check_artifact(
            &p.image.layers,
            &manifest,
            &blob,
            &trust,
            computed.as_deref(),
            SystemTime::now(),
        );
        let passed = checks.iter().all(LayerCheck::passed);
        report = Some((digest, checks));
        if passed {
            break;
        }
    }
    let (artifact, checks) = report.expect("at least one artifact");
    let passed = checks.iter().all(LayerCheck::passed);
    if c.json {
        let v = json!({
            "image": c.image,
            "manifest_digest": subject.to_string(),
            "artifact": artifact.to_string(),
            "recipe": serde_json::from_str::<serde_json::Value>(&want).ok(),
            "root_hashes_recomputed": computed.is_some(),
            "passed": passed,
            "layers": checks,
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        for l in &checks {
            match &l.problem {
                None => println!(
                    "layer {}  {}  ok  {}  signed by {}",
                    l.index,
                    l.layer_digest,
                    l.signed_root_hash.as_deref().unwrap_or("-"),
                    l.signer.as_deref().unwrap_or("-")
                ),
                Some(p) => println!("layer {}  {}  FAILED: {p}", l.index, l.layer_digest),
            }
        }
        eprintln!(
            "{}: artifact {artifact}: {}",
            c.image,
            if passed {
                "every layer signed and verified"
            } else {
                "verification FAILED"
            }
        );
    }
    Ok(if passed { exit::OK } else { exit::MISMATCH })
}

/// Per layer: the result and where its root hash came from.
pub(crate) struct FromReferrers {
    pub layers: Vec<LayerResult>,
    /// Layer index → artifact digest, for the layers taken from a signature.
    pub signed: HashMap<usize, String>,
    pub refused: Vec<String>,
    pub fetch_seconds: f64,
    pub compute_seconds: f64,
}

/// `roothash --from-referrers`: root hashes signed by a trusted signer
/// (with the same recipe) are taken from the referrers; only the layers
/// they do not cover are computed.
pub(crate) fn roothash_from_referrers(
    image: &str,
    common: &ImageArgs,
    ca: &Path,
) -> Result<Result<(FromReferrers, Prepared), i32>, String> {
    let trust = trust(ca)?;
    let p = match prepare(image, common) {
        Ok(p) => p,
        Err(code) => return code.map(Err),
    };
    let started = Instant::now();
    let subject = subject_of(&p.image)?;
    let place = Place::of(&p.reference, &common.registry.options())?
        .ok_or_else(|| format!("{image}: this source keeps no referrers"))?;
    let (artifacts, _) = matching(place.find(&subject)?, &recipe(&p.opts));
    let blob = |d: &layerseal::rootsig::artifact::Descriptor| place.blob(d);
    let mut roots: HashMap<String, (String, String)> = HashMap::new();
    let mut refused = Vec::new();
    for (digest, manifest) in &artifacts {
        let (good, bad) = verified_root_hashes(manifest, &blob, &trust, SystemTime::now());
        for (layer, root) in good {
            roots.entry(layer).or_insert((root, digest.to_string()));
        }
        refused.extend(bad.into_iter().map(|(l, why)| format!("{l}: {why}")));
    }
    let fetch_seconds = started.elapsed().as_secs_f64();
    let mut signed = HashMap::new();
    let mut layers = Vec::new();
    let mut missing = Vec::new();
    for l in &p.image.layers {
        let key = l
            .digest
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        match roots.get(&key) {
            Some((root, art)) => {
                signed.insert(l.index, art.clone());
                layers.push(LayerResult {
                    index: l.index,
                    diff_id: l.diff_id.clone(),
                    digest: l.digest.clone(),
                    root_hash: root.clone(),
                    compression: None,
                    image: None,
                    hash_device: None,
                    cached: false,
                    image_size: None,
                });
            }
            None => missing.push(l.clone()),
        }
    }
    let started = Instant::now();
    if !missing.is_empty() {
        let rest = Image {
            reference: p.image.reference.clone(),
            manifest_digest: p.image.manifest_digest.clone(),
            config_digest: p.image.config_digest.clone(),
            platform: p.image.platform.clone(),
            config: p.image.config.clone(),
            layers: missing,
            store: Arc::clone(&p.image.store),
        };
        let computed = convert_image(&rest, &p.opts);
        finish(&p);
        layers.extend(computed.map_err(|e| format!("{image}: {e}"))?);
    }
    layers.sort_by_key(|l| l.index);
    Ok(Ok((
        FromReferrers {
            layers,
            signed,
            refused,
            fetch_seconds,
            compute_seconds: started.elapsed().as_secs_f64(),
        },
        p,
    )))
}
