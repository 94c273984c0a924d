//! Rendering one drawing to SVG text or PNG bytes.
//!
//! A plot is a function drawing on any plotters [`DrawingArea`]; the same
//! function renders to SVG ([`svg_string`]) and to PNG ([`png_bytes`]). PNG
//! text is drawn with an embedded font (DejaVu Sans, `assets/fonts/`,
//! registered by [`ensure_font`]), so no system font is needed.

use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::sync::Once;

/// DejaVu Sans 2.37 (Debian's fonts-dejavu-core; licence in `assets/fonts/`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

static REGISTER: Once = Once::new();

/// Registers the embedded font as plotters' `sans-serif` (every style falls
/// back to it). Text layout uses it for SVG too; SVG viewers draw their own
/// sans-serif.
pub fn ensure_font() {
    REGISTER.call_once(|| {
        // The font is compiled in: it parses, or the build is broken.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// A drawing error as the crate's error, naming what was drawn.
pub(crate) fn draw_error(what: &str, message: impl std::fmt::Display) -> Error {
    Error::Argument(format!("cannot draw {what}: {message}"))
}

/// Draws with `draw` on a white SVG canvas of `size` pixels and returns the SVG text.
pub fn svg_string<F>(what: &str, size: (u32, u32), draw: F) -> Result<String>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> std::result::Result<(), String>,
{
    ensure_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(what, e))?;
        draw(&root).map_err(|e| draw_error(what, e))?;
        root.present().map_err(|e| draw_error(what, e))?;
    }
    Ok(svg)
}

/// Draws with `draw` on a white bitmap of `size` pixels and returns it encoded as PNG.
pub fn png_bytes<F>(what: &str, size: (u32, u32), draw: F) -> Result<Vec<u8>>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> std::result::Result<(), String>,
{
    ensure_font();
    let (w, h) = size;
    let mut rgb = vec![0u8; 3 * w as usize * h as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(what, e))?;
        draw(&root).map_err(|e| draw_error(what, e))?;
        root.present().map_err(|e| draw_error(what, e))?;
    }
    encode_png(what, &rgb, size)
}

/// Encodes 8-bit RGB pixels as PNG.
fn encode_png(what: &str, rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(rgb, w, h, image::ColorType::Rgb8)
        .map_err(|e| draw_error(what, e))?;
    Ok(out)
}

/// Base64 (RFC 4648, with padding) of `bytes`, for `data:` URIs.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
    }

    #[test]
    fn png_has_text_drawn_with_the_embedded_font() {
        let png = png_bytes("test", (200, 80), |area| {
            area.draw(&Text::new("DV 1.5", (10, 30), ("sans-serif", 24)))
                .map_err(|e| e.to_string())
        })
        .unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (200, 80));
        let dark = img.pixels().filter(|p| p.0.iter().all(|&c| c < 100)).count();
        assert!(dark > 50, "{dark} dark pixels: the text was not drawn");
    }
}
