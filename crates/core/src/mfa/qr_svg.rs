//! QR codes as standalone SVG text: one `<path>` of dark modules on a white background, with
//! the four-module quiet zone scanners need (ISO/IEC 18004 §6.3.8). Nothing in it refers
//! outside the document (no DOCTYPE, links or images), so it can be inlined in a page or
//! served as `image/svg+xml` under a strict CSP.

use std::fmt::Write as _;

use qrcodegen::{DataTooLong, QrCode, QrCodeEcc};

/// Light modules the code is framed with on each side.
const QUIET_ZONE_MODULES: i32 = 4;

/// `text` as a QR code in SVG. Medium error correction (15 %) keeps the code small enough
/// for an otpauth URI to scan comfortably from a screen.
pub fn qr_code_svg(text: &str) -> Result<String, DataTooLong> {
    let code = QrCode::encode_text(text, QrCodeEcc::Medium)?;
    Ok(render(&code))
}

fn render(code: &QrCode) -> String {
    let dimension = code.size() + 2 * QUIET_ZONE_MODULES;
    let mut path = String::new();
    for y in 0..code.size() {
        for x in 0..code.size() {
            if code.get_module(x, y) {
                let separator = if path.is_empty() { "" } else { " " };
                // A unit square per dark module; writing to a String cannot fail.
                let _ = write!(path, "{separator}M{},{}h1v1h-1z", x + QUIET_ZONE_MODULES, y + QUIET_ZONE_MODULES);
            }
        }
    }
    format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {dimension} {dimension}" "#,
            r#"shape-rendering="crispEdges">"#,
            r##"<rect width="100%" height="100%" fill="#ffffff"/>"##,
            r##"<path d="{path}" fill="#000000"/></svg>"##,
        ),
        dimension = dimension,
        path = path,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "otpauth://totp/auth-service:alice%40example.com?secret=GEZDGNBVGY3TQOJQ&issuer=auth-service";

    /// The (x, y) of every unit square the path draws.
    fn drawn_modules(svg: &str) -> Vec<(i32, i32)> {
        let path = svg.split(r#"<path d=""#).nth(1).unwrap().split('"').next().unwrap();
        path.split(' ')
            .map(|square| {
                let (x, y) =
                    square.strip_prefix('M').unwrap().strip_suffix("h1v1h-1z").unwrap().split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn the_svg_is_one_path_on_white_with_a_view_box_that_includes_the_quiet_zone() {
        let code = QrCode::encode_text(URI, QrCodeEcc::Medium).unwrap();
        let svg = qr_code_svg(URI).unwrap();
        let dimension = code.size() + 8;
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains(&format!(r#"viewBox="0 0 {dimension} {dimension}""#)));
        assert!(svg.contains(r##"<rect width="100%" height="100%" fill="#ffffff"/>"##));
        assert_eq!(svg.matches("<path").count(), 1);
        for outside_reference in ["href", "<image", "<!DOCTYPE", "<script", "url("] {
            assert!(!svg.contains(outside_reference), "{outside_reference}");
        }
    }

    #[test]
    fn every_dark_module_is_drawn_once_inside_the_quiet_zone() {
        let code = QrCode::encode_text(URI, QrCodeEcc::Medium).unwrap();
        let drawn = drawn_modules(&qr_code_svg(URI).unwrap());
        let mut expected = Vec::new();
        for y in 0..code.size() {
            for x in 0..code.size() {
                if code.get_module(x, y) {
                    expected.push((x + 4, y + 4));
                }
            }
        }
        assert_eq!(drawn, expected);
        // The top-left finder pattern's corner is always dark; the quiet zone never is.
        assert_eq!(drawn.first(), Some(&(4, 4)));
        assert!(drawn.iter().all(|&(x, y)| (4..code.size() + 4).contains(&x) && (4..code.size() + 4).contains(&y)));
    }

    #[test]
    fn text_beyond_a_qr_codes_capacity_is_refused() {
        assert!(qr_code_svg(&"a".repeat(3000)).is_err());
    }
}
