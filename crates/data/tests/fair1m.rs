//! FAIR1M: class/super-category tables, XML and DOTA parsing, hand-worked polygon fills, tile selection
//! and the transformation set on a tiny chip folder.

mod common;

use std::path::Path;

use patchlens_data::fair1m::{
    self, FAIR1M_CLASSES, FAIR1M_SUPERCATEGORIES, fill_polygon, rasterize,
};
use patchlens_data::transforms::{Transform, TransformKind, transformation_set};
use patchlens_data::{DataError, TileSpec};
use patchlens_image::ImageU8;

fn xml(objects: &[(&str, &[(f32, f32)])], size: Option<(usize, usize)>) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<annotation>\n  <source>\n    <filename>0.tif</filename>\n    <origin>GF2/GF3</origin>\n  </source>\n  <research>\n    <version>1.0</version>\n    <provider>Company/School of team</provider>\n    <author>team name</author>\n    <pluginname>FAIR1M</pluginname>\n    <pluginclass>object detection</pluginclass>\n    <time>2021-07-21</time>\n  </research>\n",
    );
    if let Some((w, h)) = size {
        s += &format!(
            "  <size>\n    <width>{w}</width>\n    <height>{h}</height>\n    <depth>3</depth>\n  </size>\n"
        );
    }
    s += "  <objects>\n";
    for (name, pts) in objects {
        s += "    <object>\n      <coordinate>pixel</coordinate>\n      <type>rectangle</type>\n      <description>None</description>\n";
        s += &format!(
            "      <possibleresult>\n        <name>{name}</name>\n        <probability>1</probability>\n      </possibleresult>\n      <points>\n"
        );
        for (x, y) in pts.iter().chain(std::iter::once(&pts[0])) {
            s += &format!("        <point>{x:.6},{y:.6}</point>\n");
        }
        s += "      </points>\n    </object>\n";
    }
    s + "  </objects>\n</annotation>\n"
}

#[test]
fn class_and_supercategory_tables() {
    assert_eq!(FAIR1M_CLASSES.len(), 37);
    assert_eq!(
        FAIR1M_SUPERCATEGORIES,
        ["airplane", "ship", "vehicle", "court", "road"]
    );
    let counts: Vec<usize> = (1..=5u8)
        .map(|s| {
            (1..=37u8)
                .filter(|&c| fair1m::supercategory(c) == s)
                .count()
        })
        .collect();
    assert_eq!(counts, [11, 9, 10, 4, 3], "FAIR1M's official grouping");
    for (name, sup) in [
        ("Boeing737", 1),
        ("A350", 1),
        ("Warship", 2),
        ("Motorboat", 2),
        ("Small Car", 3),
        ("Excavator", 3),
        ("Tennis Court", 4),
        ("Roundabout", 5),
        ("Bridge", 5),
    ] {
        let id = fair1m::class_id(name).unwrap();
        assert_eq!(fair1m::supercategory(id), sup, "{name}");
    }
    assert_eq!(fair1m::class_id("small_car"), fair1m::class_id("Small Car"));
    assert_eq!(fair1m::class_id("other-airplane"), Some(11));
    assert_eq!(fair1m::class_id("spaceship"), None);
    assert_eq!(fair1m::supercategory(0), 0);
    assert_eq!(fair1m::supercategory_lut()[37], 5);
}

#[test]
fn polygon_fill_hand_worked() {
    // Axis-aligned rectangle (2,1)-(5,3): x in 2..=5, y in 1..=3 (cv2.fillPoly includes the boundary).
    let mut m = ImageU8::new(8, 6, 1);
    fill_polygon(&mut m, &[(2.0, 1.0), (5.0, 1.0), (5.0, 3.0), (2.0, 3.0)], 7);
    for y in 0..6 {
        for x in 0..8 {
            let inside = (2..=5).contains(&x) && (1..=3).contains(&y);
            assert_eq!(m.at(y, x, 0), if inside { 7 } else { 0 }, "({x},{y})");
        }
    }
    // Diamond |x-4| + |y-4| <= 3: 1+3+5+7+5+3+1 = 25 pixels.
    let mut m = ImageU8::new(9, 9, 1);
    fill_polygon(&mut m, &[(4.0, 1.0), (7.0, 4.0), (4.0, 7.0), (1.0, 4.0)], 1);
    for y in 0..9i32 {
        for x in 0..9i32 {
            assert_eq!(
                m.at(y as usize, x as usize, 0) == 1,
                (x - 4).abs() + (y - 4).abs() <= 3,
                "({x},{y})"
            );
        }
    }
    // Partly outside: clipped, no panic.
    let mut m = ImageU8::new(4, 4, 1);
    fill_polygon(
        &mut m,
        &[(-10.0, -10.0), (2.0, -10.0), (2.0, 2.0), (-10.0, 2.0)],
        3,
    );
    assert_eq!(m.data.iter().filter(|&&v| v == 3).count(), 9);
}

#[test]
fn parses_official_xml_and_dota() {
    let p = Path::new("chip.xml");
    let text = xml(
        &[
            (
                "Small Car",
                &[(2.0, 1.0), (5.0, 1.0), (5.0, 3.0), (2.0, 3.0)],
            ),
            ("Boeing747", &[(0.0, 0.0), (3.0, 0.0), (3.0, 3.0)]),
        ],
        Some((8, 6)),
    );
    let a = fair1m::parse_xml(p, &text).unwrap();
    assert_eq!(a.size, Some((8, 6)));
    assert_eq!(a.objects.len(), 2);
    assert_eq!(
        a.objects[0].class_id,
        fair1m::class_id("Small Car").unwrap()
    );
    assert_eq!(a.objects[0].points.len(), 4, "closing point dropped");
    let m = rasterize(&a, 8, 6);
    assert_eq!(m.at(2, 4, 0), 21);
    assert_eq!(m.at(1, 2, 0), 2, "later object overwrites");
    let d = fair1m::parse_dota(
        p,
        "imagesource:GF2\ngsd:0.8\n2 1 5 1 5 3 2 3 Small_Car 0\n0 0 3 0 3 3 0 3 Tennis Court 1\n",
    )
    .unwrap();
    assert_eq!(
        d.objects.iter().map(|o| o.class_id).collect::<Vec<_>>(),
        [21, 32]
    );
    // Errors name the value.
    let e = fair1m::parse_xml(
        p,
        &xml(&[("Zeppelin", &[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)])], None),
    )
    .unwrap_err();
    assert!(e.to_string().contains("Zeppelin"));
    let e = fair1m::parse_xml(p, &text.replace("5.000000,3.000000", "5.0;3.0")).unwrap_err();
    assert!(e.to_string().contains("5.0;3.0"), "{e}");
    assert!(fair1m::parse_dota(p, "1 2 3 4 Small_Car\n").is_err());
    assert!(
        fair1m::parse_xml(
            p,
            &xml(&[("Van", &[(0.0, 0.0), (1.0, 1.0), (0.0, 0.0)])], None)
        )
        .is_err()
    );
}

/// XML that substring search reads wrongly, with its objects worked out by hand: a commented-out
/// object, attributes (one holding `>`), whitespace and newlines inside tags, entity and character
/// references, CDATA, a `<name>` inside `<description>` and in `<source>`, and a `<point>` outside
/// `<points>`.
#[test]
fn parses_xml_that_substring_search_gets_wrong() {
    let text = r#"<?xml version="1.0" encoding="utf-8"?>
<!-- exported by a <tool> that also writes <object> and <size> inside comments -->
<annotation>
  <source><filename>chip 7.tif</filename><name>Boeing737</name></source>
  <size><width> 800 </width><height>600</height><depth>3</depth></size>
  <objects>
    <!-- <object><possibleresult><name>Bus</name></possibleresult>
         <points><point>0,0</point><point>1,0</point><point>1,1</point></points></object> -->
    <object id="1" note="a > b">
      <coordinate>pixel</coordinate>
      <description>first labelled <name>Tugboat</name></description>
      <possibleresult>
        <name>Small&#32;Car</name>
        <probability>1</probability>
      </possibleresult>
      <points
      >
        <point>10,20</point>
        <point >30.5, 20</point>
        <point>30.5,40</point>
        <point><![CDATA[10,40]]></point>
        <point>10,20</point>
      </points >
    </object>
    <object>
      <possibleresult><name>Dump &amp; Truck</name></possibleresult>
      <center><point>99,99</point></center>
      <points><point>0,0</point><point>5,0</point><point>5,5</point></points>
    </object>
    <object>
      <description>see <name>Tugboat</name></description>
      <name>Warship</name>
      <points><point>1,1</point><point>4,1</point><point>4,3</point><point>1,3</point></points>
    </object>
  </objects>
</annotation>
"#;
    let a = fair1m::parse_xml(Path::new("tricky.xml"), text).unwrap();
    let want = fair1m::Fair1mAnnotation {
        size: Some((800, 600)),
        objects: vec![
            fair1m::Fair1mObject {
                class_id: 21, // Small Car
                points: vec![(10.0, 20.0), (30.5, 20.0), (30.5, 40.0), (10.0, 40.0)],
            },
            fair1m::Fair1mObject {
                class_id: 24, // Dump Truck ("Dump & Truck": `&` is not alphanumeric)
                points: vec![(0.0, 0.0), (5.0, 0.0), (5.0, 5.0)],
            },
            fair1m::Fair1mObject {
                class_id: 19, // Warship, the object's own <name>, not the one in <description>
                points: vec![(1.0, 1.0), (4.0, 1.0), (4.0, 3.0), (1.0, 3.0)],
            },
        ],
    };
    assert_eq!(a, want);
    assert_eq!(
        (
            fair1m::class_id("Small Car"),
            fair1m::class_id("Dump Truck"),
            fair1m::class_id("Warship")
        ),
        (Some(21), Some(24), Some(19))
    );
}

#[test]
fn malformed_xml_errors_name_the_file_and_the_problem() {
    let p = Path::new("labelXml/bad.xml");
    let cases = [
        // Mismatched end tag on line 3.
        (
            "<annotation>\n<objects>\n</object>\n</annotation>",
            "line 3",
        ),
        (
            "<annotation><size><width>&nbsp;</width></size></annotation>",
            "&nbsp;",
        ),
        ("<annotation><objects>", "never closed"),
        ("<a></a><b></b>", "second root element <b>"),
        ("", "no root element"),
    ];
    for (text, what) in cases {
        let e = fair1m::parse_xml(p, text).unwrap_err();
        assert!(matches!(e, DataError::Parse { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("labelXml/bad.xml") && msg.contains(what),
            "{text:?}: {msg}"
        );
    }
}

fn write_chip(root: &Path, id: &str, objects: &[(&str, &[(f32, f32)])]) {
    common::png(
        &root.join("images").join(format!("{id}.png")),
        &common::rgb(480, 480),
    );
    common::text(
        &root.join("labelXml").join(format!("{id}.xml")),
        &xml(objects, Some((480, 480))),
    );
}

/// The study selected its FAIR1M tiles once, on the 14×14 grid, for every model: a patch-14 model (16×16
/// grid) must get the tiles a patch-16 model gets, even where its own grid sees another class.
#[test]
fn tile_selection_does_not_depend_on_the_models_grid() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let sq = |x: f32, y: f32, s: f32| vec![(x, y), (x + s, y), (x + s, y + s), (x, y + s)];
    // A small bridge on pixels 4..=7 of tile (0, 0) (corners rounded as OpenCV's fillPoly does): the
    // 16×16 grid's first centre pixel is 7 (⌊0.5 · 224/16⌋), the 14×14 grid's is 8, so only the 16×16
    // grid sees it.
    let tiny = sq(4.2, 4.2, 2.6);
    let car = sq(250.0, 20.0, 60.0);
    let ship = sq(300.0, 300.0, 120.0);
    write_chip(root, "a", &[("Bridge", &tiny), ("Small Car", &car)]);
    write_chip(root, "b", &[("Warship", &ship), ("Small Car", &car)]);
    let f = fair1m::open(root).unwrap();
    let chip = f.load_chip(0).unwrap();
    let tile = patchlens_image::crop(&chip.mask, 0, 0, 224, 224).unwrap();
    let bridge = fair1m::class_id("Bridge").unwrap();
    assert!(patchlens_image::patch_labels(&tile, 16, 16).contains(&bridge));
    assert!(!patchlens_image::patch_labels(&tile, 14, 14).contains(&bridge));

    let by_patch16 = f
        .select_tiles(&TileSpec::fair1m(16).unwrap(), 1, 5)
        .unwrap();
    let by_patch14 = f
        .select_tiles(&TileSpec::fair1m(14).unwrap(), 1, 5)
        .unwrap();
    assert_eq!(by_patch16.tiles, by_patch14.tiles);
    assert_eq!(by_patch14.grid, fair1m::SELECTION_GRID);
    // The 14×14 selection never sees the bridge: one tile each for the car and the warship.
    assert_eq!(by_patch14.tiles.len(), 2);
    assert!(
        !by_patch14
            .tiles
            .iter()
            .any(|k| k.image_id == "a" && (k.row, k.col) == (0, 0))
    );
}

#[test]
fn chip_folder_selection_and_transforms() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let sq = |x: f32, y: f32, s: f32| vec![(x, y), (x + s, y), (x + s, y + s), (x, y + s)];
    let (a, b, c) = (
        sq(10.0, 10.0, 100.0),
        sq(300.0, 300.0, 120.0),
        sq(250.0, 20.0, 60.0),
    );
    write_chip(root, "c1", &[("Small Car", &a), ("Warship", &b)]);
    write_chip(root, "c2", &[("Small Car", &c), ("Bridge", &a)]);
    let f = fair1m::open(root).unwrap();
    assert_eq!(f.chips.len(), 2);
    let chip = f.load_chip(0).unwrap();
    assert_eq!(chip.mask.at(50, 50, 0), 21);
    assert_eq!(chip.mask.at(350, 350, 0), 19);
    let spec = TileSpec::fair1m(16).unwrap();
    assert_eq!(spec.tiles_for(1000, 1000).unwrap(), (4, 4));
    let sel = f.select_tiles(&spec, 1, 5).unwrap();
    // Classes present: Small Car (c1 tile 0,0; c2 tile 0,1), Warship (c1 tiles (1,1),(1,1)...), Bridge (c2 0,0).
    // One tile per class -> 3 tiles, each containing its class; Bridge and Warship tiles are forced.
    assert_eq!(sel.tiles.len(), 3);
    assert!(
        sel.tiles
            .iter()
            .any(|k| k.image_id == "c2" && (k.row, k.col) == (0, 0))
    );
    assert!(
        sel.tiles
            .iter()
            .any(|k| k.image_id == "c1" && (k.row, k.col) == (1, 1))
    );
    assert_eq!(sel, f.select_tiles(&spec, 1, 5).unwrap());
    let raw: Vec<_> = f
        .selected_tiles(&spec, &sel)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(raw.len(), 3);
    // Transforms: rotation keeps most correspondences, blur is the identity.
    for t in transformation_set(&TransformKind::ALL) {
        let out: Vec<_> = f
            .transformed_tiles(&spec, &sel, t, 1)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(out.len(), 3, "{}", t.label());
        for (orig, tr) in &out {
            assert_eq!(tr.correspondence.map.len(), 196);
            assert_eq!((tr.image.width, tr.image.height), (224, 224));
            assert_eq!(tr.mask.as_ref().unwrap().width, 224);
            if !t.kind.is_geometric() {
                assert_eq!(tr.correspondence.valid(), 196);
                assert_eq!(tr.mask.as_ref(), orig.mask.as_ref());
            } else {
                assert!(
                    tr.correspondence.valid() > 120,
                    "{} {}",
                    t.label(),
                    tr.correspondence.valid()
                );
            }
        }
    }
    assert!(Transform::new(TransformKind::Rotate, 5).is_err());
}

#[test]
fn missing_files_and_size_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    assert!(
        matches!(fair1m::open(root), Err(DataError::MissingFiles { missing, .. }) if missing.len() == 2)
    );
    write_chip(root, "c1", &[]);
    common::png(&root.join("images/c2.png"), &common::rgb(8, 8));
    common::text(&root.join("labelXml/c3.xml"), &xml(&[], None));
    match fair1m::open(root).unwrap_err() {
        DataError::MissingFiles { missing, .. } => {
            assert_eq!(
                missing,
                vec![root.join("labelXml/c2.xml"), root.join("images/c3.png")]
            );
        }
        e => panic!("unexpected {e}"),
    }
    std::fs::remove_file(root.join("labelXml/c3.xml")).unwrap();
    common::text(&root.join("labelXml/c2.xml"), &xml(&[], Some((9, 8))));
    let f = fair1m::open(root).unwrap();
    assert!(matches!(
        f.load_chip(1),
        Err(DataError::SizeMismatch { .. })
    ));
}

#[test]
fn polygon_fill_matches_opencv_fillpoly() {
    // fixtures/data/fillpoly.json: cv2.fillPoly on the rounded corners of random oriented boxes.
    let path = patchlens_testutil::fixture("data/fillpoly.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (w, h) = (
        v["width"].as_u64().unwrap() as usize,
        v["height"].as_u64().unwrap() as usize,
    );
    let mut exact = 0;
    let cases = v["cases"].as_array().unwrap();
    for (i, case) in cases.iter().enumerate() {
        let pts: Vec<(f32, f32)> = case["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    (p[0].as_f64().unwrap() as f32).round(),
                    (p[1].as_f64().unwrap() as f32).round(),
                )
            })
            .collect();
        let mut want = ImageU8::new(w, h, 1);
        for p in case["pixels"].as_array().unwrap() {
            want.data[p[1].as_u64().unwrap() as usize * w + p[0].as_u64().unwrap() as usize] = 1;
        }
        let mut got = ImageU8::new(w, h, 1);
        fill_polygon(&mut got, &pts, 1);
        let inter = got
            .data
            .iter()
            .zip(&want.data)
            .filter(|(a, b)| **a == 1 && **b == 1)
            .count();
        let union = got
            .data
            .iter()
            .zip(&want.data)
            .filter(|(a, b)| **a == 1 || **b == 1)
            .count();
        let iou = inter as f64 / union as f64;
        eprintln!("case {i}: IoU {iou:.4} ({inter}/{union})");
        assert!(iou > 0.95, "case {i}: IoU {iou}");
        exact += (got == want) as usize;
    }
    eprintln!("{exact}/{} cases pixel-exact", cases.len());
}
