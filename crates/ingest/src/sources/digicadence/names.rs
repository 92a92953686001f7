//! Names and ids of the DQ stack's brands and metrics: repairing the mojibake its seed data
//! carries (`"Display â€“ Spends"`: UTF-8 read as Windows-1252), and a stable id for brands the
//! answers name without one.

use std::borrow::Cow;

/// `text` with UTF-8 that was decoded as Windows-1252 turned back into what it was
/// (`"Display â€“ Spends"` → `"Display – Spends"`). Text that is not such mojibake — it has a
/// character with no Windows-1252 byte, or its bytes are not UTF-8 — is returned unchanged.
pub fn fix_mojibake(text: &str) -> Cow<'_, str> {
    // Every UTF-8 lead byte of a non-ASCII character reads as one of these in Windows-1252.
    if !text.chars().any(|c| ('\u{c2}'..='\u{f4}').contains(&c)) {
        return Cow::Borrowed(text);
    }
    let bytes: Option<Vec<u8>> = text.chars().map(windows_1252_byte).collect();
    match bytes.and_then(|bytes| String::from_utf8(bytes).ok()) {
        Some(repaired) if repaired != text => Cow::Owned(repaired),
        _ => Cow::Borrowed(text),
    }
}

/// The Windows-1252 byte that decodes to `c`, if any. Bytes 0x81, 0x8D, 0x8F, 0x90 and 0x9D
/// have no character there; decoders that pass them through as C1 controls are accepted too.
fn windows_1252_byte(c: char) -> Option<u8> {
    const HIGH: [(char, u8); 27] = [
        ('€', 0x80),
        ('‚', 0x82),
        ('ƒ', 0x83),
        ('„', 0x84),
        ('…', 0x85),
        ('†', 0x86),
        ('‡', 0x87),
        ('ˆ', 0x88),
        ('‰', 0x89),
        ('Š', 0x8A),
        ('‹', 0x8B),
        ('Œ', 0x8C),
        ('Ž', 0x8E),
        ('‘', 0x91),
        ('’', 0x92),
        ('“', 0x93),
        ('”', 0x94),
        ('•', 0x95),
        ('–', 0x96),
        ('—', 0x97),
        ('˜', 0x98),
        ('™', 0x99),
        ('š', 0x9A),
        ('›', 0x9B),
        ('œ', 0x9C),
        ('ž', 0x9E),
        ('Ÿ', 0x9F),
    ];
    let code = u32::from(c);
    if code <= 0xFF {
        // ASCII and Latin-1 map to themselves; so do C1 controls, for lenient decoders.
        return Some(code as u8);
    }
    HIGH.iter().find(|(high, _)| *high == c).map(|(_, byte)| *byte)
}

/// A stable id for a brand known only by name: FNV-1a (64-bit) of the trimmed, lower-cased
/// name, made positive. The same name gets the same id in every process and replica; ids this
/// large do not collide with the DQ database's small serial ids in practice. Configure
/// `brand_ids` to use the database's own.
pub fn derived_brand_id(name: &str) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash =
        name.trim().to_lowercase().bytes().fold(OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME));
    // The top bit dropped, so the id fits a positive i64; 0 is not an id.
    ((hash >> 1) as i64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mojibake_from_the_seed_data_is_repaired() {
        // Verbatim from the DQ stack's seed data (dq-analytics-backend-nodejs__metrics_output.json).
        assert_eq!(fix_mojibake("Display â€“ Spends"), "Display – Spends");
        assert_eq!(fix_mojibake("Search â€“ Spends"), "Search – Spends");
        assert!(matches!(fix_mojibake("Digital Spends"), Cow::Borrowed(_)));
        // Real accented text is left alone: its bytes are not UTF-8 once mapped back.
        assert_eq!(fix_mojibake("Crème brûlée"), "Crème brûlée");
        assert_eq!(fix_mojibake("Display – Spends"), "Display – Spends");
    }

    #[test]
    fn derived_ids_are_stable_and_positive() {
        let livon = derived_brand_id("Livon");
        assert_eq!(livon, derived_brand_id("  livon "));
        assert_ne!(livon, derived_brand_id("Lux"));
        assert!(livon > 0);
        assert_eq!(derived_brand_id("Himalaya"), derived_brand_id("Himalaya"));
    }
}
