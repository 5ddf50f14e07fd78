//! The continuation token, shaped like Fabric's documented sample `LDEsMTAwMDAwLDA%3D`.
//!
//! Plaintext `,{offset},{page_size},0` (the sample decodes to `,1,100000,0`), standard base64 that
//! always ends in `=` padding, then percent-encoded for the JSON body (`=` -> `%3D`, `+` -> `%2B`,
//! `/` -> `%2F`). A client echoes it back as received; one URL decode on our side yields the
//! base64 text again, which [`decode`] parses. A double-encoded token (`%253D` on the wire) still
//! contains `%` after one decode and is rejected.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// Characters escaped in the token as it appears in JSON and in the continuation URI.
const TOKEN_ESCAPES: &AsciiSet = &CONTROLS
    .add(b'=')
    .add(b'+')
    .add(b'/')
    .add(b'%')
    .add(b'&')
    .add(b'#')
    .add(b'?')
    .add(b' ');

/// What a token carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DecodedToken {
    pub offset: usize,
    pub page_size: usize,
}

/// The base64 form of the token for `offset` (what the server sees after one URL decode).
pub(crate) fn raw_token(offset: usize, page_size: usize) -> String {
    let mut plain = format!(",{offset},{page_size},0");
    if plain.len() % 3 == 0 {
        // A length that is a multiple of 3 would encode without `=`; a leading zero on the offset
        // keeps the value and guarantees the padding that real tokens carry.
        plain = format!(",0{offset},{page_size},0");
    }
    STANDARD.encode(plain)
}

/// Percent-encodes a base64 token for the JSON body / URI query.
pub(crate) fn percent_encode(raw: &str) -> String {
    utf8_percent_encode(raw, TOKEN_ESCAPES).to_string()
}

/// The token for `offset` exactly as it is put in the JSON body (percent-encoded).
pub(crate) fn encode(offset: usize, page_size: usize) -> String {
    percent_encode(&raw_token(offset, page_size))
}

/// Parses a token after one URL decode. `None` means malformed.
pub(crate) fn decode(raw: &str) -> Option<DecodedToken> {
    let bytes = STANDARD.decode(raw.as_bytes()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let rest = text.strip_prefix(',')?;
    let mut parts = rest.split(',');
    let offset = parse_number(parts.next()?)?;
    let page_size = parse_number(parts.next()?)?;
    let tail = parts.next()?;
    if tail != "0" || parts.next().is_some() || page_size == 0 {
        return None;
    }
    Some(DecodedToken { offset, page_size })
}

fn parse_number(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_decode_once(s: &str) -> String {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .unwrap()
            .into_owned()
    }

    #[test]
    fn documented_sample_decodes() {
        let raw = url_decode_once("LDEsMTAwMDAwLDA%3D");
        assert_eq!(
            decode(&raw),
            Some(DecodedToken {
                offset: 1,
                page_size: 100_000
            })
        );
    }

    #[test]
    fn round_trip_and_padding() {
        for page_size in [1, 2, 7, 10, 99, 100, 1000] {
            for offset in [0, 1, 9, 10, 99, 100, 101, 200, 1000, 12_345, 999_999] {
                let enc = encode(offset, page_size);
                assert!(enc.ends_with("%3D"), "{enc} for {offset}/{page_size}");
                assert!(!enc.contains('='), "{enc}");
                let raw = url_decode_once(&enc);
                assert!(raw.ends_with('='));
                assert_eq!(
                    decode(&raw),
                    Some(DecodedToken { offset, page_size }),
                    "{enc}"
                );
            }
        }
    }

    #[test]
    fn double_encoded_and_garbage_rejected() {
        let enc = encode(100, 100);
        let double = percent_encode(&enc); // %3D -> %253D
        assert!(double.contains("%253D"));
        // The server URL-decodes once: the result still carries `%3D`, which is not base64.
        let once = url_decode_once(&double);
        assert_eq!(once, enc);
        assert_eq!(decode(&once), None);
        for bad in ["", "abc", "!!!!", "LDEsMTAwMDAwLDA", "bm9wZQ==", "LCwsMA=="] {
            assert_eq!(decode(bad), None, "{bad}");
        }
        // Base64 of text with the wrong shape.
        assert_eq!(decode(&STANDARD.encode(",x,100,0")), None);
        assert_eq!(decode(&STANDARD.encode(",1,0,0")), None);
        assert_eq!(decode(&STANDARD.encode(",1,100,1")), None);
    }
}
