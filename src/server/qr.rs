//! QR codes of pay links, drawn on the server as inline SVG: the first HTML
//! already holds it, and no image request or script is needed.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// The QR code of `text` as an `<svg>` element (no XML prolog, so it can be
/// put inside HTML as it is).
pub fn svg(text: &str) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(text, EcLevel::M)?;
    let drawn = code
        .render()
        .min_dimensions(192, 192)
        .quiet_zone(true)
        .dark_color(svg::Color("#0f172a"))
        .light_color(svg::Color("#ffffff"))
        .build();
    Ok(match drawn.find("<svg") {
        Some(start) => drawn[start..].to_owned(),
        None => drawn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_becomes_an_svg_element_without_a_prolog() {
        let drawn = svg("https://paisa.example/pay/65f1a0ffee0123456789abcd").unwrap();
        assert!(drawn.starts_with("<svg"), "{}", &drawn[..40]);
        assert!(drawn.trim_end().ends_with("</svg>"));
        assert!(!drawn.contains("<?xml"));
        // Deterministic: the same link, the same code.
        assert_eq!(
            drawn,
            svg("https://paisa.example/pay/65f1a0ffee0123456789abcd").unwrap()
        );
    }
}
