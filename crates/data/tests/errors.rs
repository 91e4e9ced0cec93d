//! Error chains: every cause is printed once along `source()` (a message never repeats the text of the
//! error it wraps), for the data crate's errors and the image errors they carry.

mod common;

use patchlens_data::DataError;
use patchlens_data::sample::{list_files, read_label, read_rgb};
use patchlens_testutil::{assert_each_cause_once, error_chain};

#[test]
fn nested_image_error_prints_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    // Truncated PNGs, cut after 43 bytes (signature, IHDR, the IDAT length and type, two bytes of
    // pixel data).
    let cut_png = |name: &str, img: &patchlens_image::ImageU8| {
        let whole = dir.path().join("whole.png");
        common::png(&whole, img);
        let bytes = std::fs::read(&whole).unwrap();
        let cut = dir.path().join(name);
        std::fs::write(&cut, &bytes[..43]).unwrap();
        cut
    };
    let rgb = cut_png("cut.png", &common::rgb(6, 5));
    let gray = cut_png("cut_label.png", &common::label(6, 5, |x, y| (x + y) as u8));

    for (err, what, cut) in [
        (read_rgb(&rgb).unwrap_err(), "image", &rgb),
        (read_label(&gray).unwrap_err(), "label", &gray),
    ] {
        assert!(matches!(err, DataError::Image { .. }), "{err:?}");
        let chain = error_chain(&err);
        // data error → image codec error → the codec's own message (at least).
        assert_eq!(chain[0], format!("cannot read {what} {}", cut.display()));
        assert_eq!(
            chain[1],
            format!("cannot decode/encode image {}", cut.display())
        );
        assert_each_cause_once(&err, 3);
    }
}

#[test]
fn io_error_prints_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no_such_folder");
    let os = std::fs::read_dir(&missing).unwrap_err().to_string();
    let err = list_files(&missing, ".png").unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    assert_eq!(
        error_chain(&err),
        [format!("I/O error on {}", missing.display()), os]
    );
    assert_each_cause_once(&err, 2);
}
