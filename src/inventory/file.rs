//! Finds certificates in local files: single files, directories (recursively) and globs.
//!
//! Each certificate in a file becomes its own location (`path#index`), so an expiring
//! intermediate inside a `fullchain.pem` is tracked too. Private keys are counted and skipped,
//! never parsed or printed. An unreadable or garbage file becomes a `parse_error` finding on that
//! path, naming the line where it applies, and the scan carries on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::target::FileTarget;
use crate::model::{FindingCode, Location, Observation, Outcome, Trust};

/// Files larger than this are not read (a certificate bundle is a few hundred KiB at most).
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// File name endings read when walking a directory. Explicit files and globs are always read.
const CERT_EXTENSIONS: &[&str] = &["pem", "crt", "cer", "cert", "der", "ca-bundle", "chain"];

/// What a file scan produced.
#[derive(Debug, Default)]
pub struct FileScan {
    pub observations: Vec<Observation>,
    pub files_read: usize,
    pub private_keys_skipped: usize,
    /// Leaves whose revocation can be asked (they name an OCSP responder or a CRL): the index
    /// of their observation, their DER, and the DERs of the rest of the file (issuer candidates).
    pub revocable: Vec<Revocable>,
}

/// A file leaf to check for revocation once the (blocking) file scan is done.
#[derive(Debug, Default)]
pub struct Revocable {
    pub observation: usize,
    pub leaf: Vec<u8>,
    pub others: Vec<Vec<u8>>,
}

/// Why a named path could not be read: its finding code and message.
pub type Unreadable = (PathBuf, FindingCode, String);

/// Expands a target into the files it names, in a stable order. A path that does not exist is
/// `file_missing` (a server that names it fails on its next reload); other errors are
/// `parse_error`.
pub fn expand(target: &FileTarget) -> Vec<Result<PathBuf, Unreadable>> {
    let pattern = target.pattern.as_str();
    let is_glob = pattern.contains(['*', '?', '[']);
    let roots: Vec<PathBuf> = if is_glob {
        match glob::glob(pattern) {
            Ok(paths) => paths.filter_map(Result::ok).collect(),
            Err(e) => {
                return vec![Err((
                    PathBuf::from(pattern),
                    FindingCode::ParseError,
                    format!("invalid glob: {e}"),
                ))];
            }
        }
    } else {
        vec![PathBuf::from(pattern)]
    };
    let mut out = BTreeSet::new();
    let mut errors = Vec::new();
    for root in roots {
        match std::fs::metadata(&root) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let message = format!("{}: no such file or directory", root.display());
                errors.push(Err((root, FindingCode::FileMissing, message)));
            }
            Err(e) => {
                let message = format!("{}: cannot read: {e}", root.display());
                errors.push(Err((root, FindingCode::ParseError, message)));
            }
            Ok(meta) if meta.is_dir() => {
                for entry in walkdir::WalkDir::new(&root).follow_links(true) {
                    let Ok(entry) = entry else { continue };
                    let path = entry.path();
                    if entry.file_type().is_file() && has_cert_extension(path) {
                        out.insert(path.to_path_buf());
                    }
                }
            }
            Ok(_) => {
                out.insert(root);
            }
        }
    }
    out.into_iter().map(Ok).chain(errors).collect()
}

fn has_cert_extension(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    CERT_EXTENSIONS
        .iter()
        .any(|ext| name.rsplit_once('.').is_some_and(|(_, e)| e == *ext))
}

/// Reads all files named by `targets`. Blocking: call from a blocking context.
pub fn scan_files(targets: &[FileTarget]) -> Vec<(usize, FileScan)> {
    let mut seen = BTreeSet::new();
    targets
        .iter()
        .enumerate()
        .map(|(i, target)| {
            let mut scan = FileScan::default();
            for item in expand(target) {
                match item {
                    Ok(path) => {
                        let canonical = std::fs::canonicalize(&path).unwrap_or(path.clone());
                        if !seen.insert(canonical) {
                            continue;
                        }
                        scan.files_read += 1;
                        scan_file(&path, &mut scan);
                    }
                    Err((path, code, message)) => {
                        scan.observations.push(failed_as(&path, 0, code, message))
                    }
                }
            }
            if target.trust_store {
                once_per_certificate(&mut scan.observations);
            }
            (i, scan)
        })
        .collect()
}

/// A trust store holds each root twice (its own file, and the `ca-certificates.crt` bundle):
/// keep each certificate once, from a single-certificate file where there is one, else from
/// the first bundle it appears in. Failures are kept.
fn once_per_certificate(observations: &mut Vec<Observation>) {
    fn path(o: &Observation) -> &str {
        match &o.location {
            Location::File { path, .. } => path,
            Location::Endpoint { .. } | Location::Starttls { .. } => "",
        }
    }
    let mut per_file: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for o in observations.iter() {
        *per_file.entry(path(o)).or_default() += 1;
    }
    // Single-certificate files first (a stable sort keeps each group in walk order).
    let mut order: Vec<(bool, usize)> = observations
        .iter()
        .enumerate()
        .map(|(i, o)| (per_file[path(o)] > 1, i))
        .collect();
    order.sort_by_key(|&(in_bundle, _)| in_bundle);
    let mut seen = std::collections::HashSet::new();
    let mut keep = vec![true; observations.len()];
    for (_, i) in order {
        if let Outcome::Presented { chain, .. } = &observations[i].outcome
            && let Some(leaf) = chain.first()
        {
            keep[i] = seen.insert(leaf.sha256.as_str());
        }
    }
    let mut k = keep.into_iter();
    observations.retain(|_| k.next().unwrap_or(true));
}

/// Reads one file into observations.
pub fn scan_file(path: &Path, scan: &mut FileScan) {
    let shown = path.display();
    let data = match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_FILE_SIZE => {
            scan.observations.push(failed(
                path,
                0,
                format!(
                    "{shown}: file is {} bytes, larger than the {MAX_FILE_SIZE} byte limit",
                    meta.len()
                ),
            ));
            return;
        }
        _ => match std::fs::read(path) {
            Ok(data) => data,
            Err(e) => {
                scan.observations
                    .push(failed(path, 0, format!("{shown}: cannot read: {e}")));
                return;
            }
        },
    };
    let contents = crate::x509::read_certificates(&data);
    scan.private_keys_skipped += contents.private_keys;
    let now = crate::clock::now();
    let count = contents.certs.len() as u32;
    let ders: Vec<Vec<u8>> = contents.certs.iter().map(|c| c.der.clone()).collect();
    let records: Vec<_> = contents.certs.into_iter().map(|c| c.record).collect();
    for (index, chain) in bundle_paths(&records).into_iter().enumerate() {
        let leaf = &records[index];
        if !leaf.is_ca && !leaf.self_signed {
            let pointers = crate::x509::revocation::pointers(&ders[index]);
            if !pointers.ocsp.is_empty() || !pointers.crl.is_empty() {
                scan.revocable.push(Revocable {
                    observation: scan.observations.len(),
                    leaf: ders[index].clone(),
                    others: ders
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != index)
                        .map(|(_, d)| d.clone())
                        .collect(),
                });
            }
        }
        scan.observations.push(Observation {
            location: Location::File {
                path: path.display().to_string(),
                index: index as u32,
            },
            observed_at: now,
            outcome: Outcome::Presented {
                chain,
                tls: None,
                trust: Trust::NotChecked,
                issuer_is_anchor: false,
                legacy: None,
                revocation: None,
            },
        });
    }
    if !contents.problems.is_empty() {
        let detail: Vec<String> = contents.problems.iter().map(|p| p.to_string()).collect();
        scan.observations.push(failed(
            path,
            count,
            format!("{shown}: {}", detail.join("; ")),
        ));
    }
}

/// For each certificate of a bundle, its path within the bundle: itself, then its issuer if the
/// bundle holds it, then that one's issuer, and so on (so a `fullchain.pem` whose intermediate
/// expired makes the leaf critical, as a client would see it). Bounded, and never loops.
fn bundle_paths(certs: &[crate::model::CertRecord]) -> Vec<Vec<crate::model::CertRecord>> {
    const MAX_DEPTH: usize = 8;
    let by_subject: std::collections::HashMap<&str, usize> = certs
        .iter()
        .enumerate()
        .map(|(i, c)| (c.subject.as_str(), i))
        .collect();
    (0..certs.len())
        .map(|start| {
            let mut path = vec![start];
            while path.len() < MAX_DEPTH {
                let Some(cert) = path.last().map(|&i| &certs[i]) else {
                    break;
                };
                if cert.self_signed {
                    break;
                }
                match by_subject.get(cert.issuer.as_str()) {
                    Some(&next) if !path.contains(&next) => path.push(next),
                    _ => break,
                }
            }
            path.into_iter().map(|i| certs[i].clone()).collect()
        })
        .collect()
}

fn failed(path: &Path, index: u32, message: String) -> Observation {
    failed_as(path, index, FindingCode::ParseError, message)
}

fn failed_as(path: &Path, index: u32, code: FindingCode, message: String) -> Observation {
    Observation {
        location: Location::File {
            path: path.display().to_string(),
            index,
        },
        observed_at: crate::clock::now(),
        outcome: Outcome::Failed { code, message },
    }
}
