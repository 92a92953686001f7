//! The webhook signature: `Signalcraft-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//! `"<t>.<body>"`. Signing the timestamp with the body lets a receiver refuse a captured
//! request replayed later; [`verify`] is what a receiver (or a test) does.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const HEADER: &str = "Signalcraft-Signature";

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], signed_at: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(signed_at.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` signed at `signed_at` (Unix seconds) with `key`.
pub fn sign(key: &[u8], signed_at: i64, body: &[u8]) -> String {
    format!("t={signed_at},v1={}", hex::encode(mac(key, signed_at, body).finalize().into_bytes()))
}

/// Checks a header value against `body` and `key` in constant time; returns the signing time
/// (Unix seconds) when it matches. A receiver should also refuse times far from its clock.
pub fn verify(key: &[u8], header: &str, body: &[u8]) -> Option<i64> {
    let mut signed_at = None;
    let mut digest = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => signed_at = value.parse::<i64>().ok(),
            Some(("v1", value)) => digest = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (signed_at, digest) = (signed_at?, digest?);
    mac(key, signed_at, body).verify_slice(&digest).ok().map(|()| signed_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_timestamp_a_dot_and_the_body() {
        let mut plain = HmacSha256::new_from_slice(b"Jefe").expect("key");
        plain.update(b"1700000000.{\"a\":1}");
        let expected = hex::encode(plain.finalize().into_bytes());
        assert_eq!(sign(b"Jefe", 1_700_000_000, br#"{"a":1}"#), format!("t=1700000000,v1={expected}"));
    }

    #[test]
    fn rfc_4231_case_2_through_the_same_mac() {
        let mut mac = HmacSha256::new_from_slice(b"Jefe").expect("key");
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verify_accepts_only_the_signed_body_time_and_key() {
        let header = sign(b"k3y", 1_700_000_000, b"body");
        assert_eq!(verify(b"k3y", &header, b"body"), Some(1_700_000_000));
        assert_eq!(verify(b"k3y", &header, b"body!"), None);
        assert_eq!(verify(b"other", &header, b"body"), None);
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert_eq!(verify(b"k3y", &moved, b"body"), None);
        assert_eq!(verify(b"k3y", "garbage", b"body"), None);
    }
}
