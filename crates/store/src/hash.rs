//! The crate's one sha256-to-hex path: [`sha256_hex`] for bytes in memory, [`sha256_file`] (streaming)
//! for model weights, and the finishing step shared by shard keys and shard checksums.

use crate::error::{StoreError, io_err};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// sha256 of `bytes`, as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(bytes);
    finish_hex(h)
}

/// Finishes `h` and returns the digest as 64 lowercase hex digits.
pub(crate) fn finish_hex(h: Sha256) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = h.finalize();
    let mut s = String::with_capacity(digest.len() * 2);
    for &b in digest.iter() {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// sha256 of the file at `path`, as 64 lowercase hex digits.
///
/// The file is read in 1 MiB chunks, so memory use does not grow with the file size.
pub fn sha256_file(path: impl AsRef<Path>) -> Result<String, StoreError> {
    let path = path.as_ref();
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(path)(e)),
        };
        h.update(&buf[..n]);
    }
    Ok(finish_hex(h))
}
