//! Streaming sha256 of files (for hashing model weights).

use crate::error::{StoreError, io_err};
use crate::key::hex;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

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
    Ok(hex(&h.finalize()))
}
