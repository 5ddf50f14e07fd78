//! Putting a continuation token into a query string.
//!
//! Fabric hands out tokens that are already percent-encoded (`LDEsMTAwMDAwLDA%3D`). Encoding
//! them again sends `%253D` and the service rejects the token. So valid `%XX` escapes are kept as
//! they are, and only characters that would change the meaning of the query are encoded.

/// Bytes that may appear raw in a query value without changing its meaning.
fn is_safe(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b','
                | b';'
                | b':'
                | b'@'
                | b'/'
                | b'?'
        )
}

fn is_escape_at(bytes: &[u8], i: usize) -> bool {
    bytes.get(i) == Some(&b'%')
        && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
        && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
}

/// Encodes `token` for use as a query value without double-encoding existing `%XX` escapes.
/// `+`, `&`, `=`, `#`, spaces, a stray `%` and non-ASCII bytes are encoded.
pub fn encode_query_value(token: &str) -> String {
    let bytes = token.as_bytes();
    let mut out = String::with_capacity(bytes.len() + 8);
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if is_escape_at(bytes, i) {
            out.push_str(&token[i..i + 3]);
            i += 3;
            continue;
        }
        if is_safe(byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
        i += 1;
    }
    out
}

/// The raw (still encoded) value of query parameter `name` in `url`, if present.
pub fn raw_query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use percent_encoding::percent_decode_str;
    use proptest::prelude::*;

    #[test]
    fn documented_sample_is_not_encoded_again() {
        assert_eq!(
            encode_query_value("LDEsMTAwMDAwLDA%3D"),
            "LDEsMTAwMDAwLDA%3D"
        );
    }

    #[test]
    fn unencoded_base64_is_encoded_once() {
        assert_eq!(encode_query_value("a+b/c=="), "a%2Bb/c%3D%3D");
        assert_eq!(encode_query_value("x&y#z w"), "x%26y%23z%20w");
        assert_eq!(encode_query_value("100%"), "100%25");
        assert_eq!(encode_query_value("%zz"), "%25zz");
        assert_eq!(encode_query_value("é"), "%C3%A9");
    }

    #[test]
    fn raw_query_param_does_not_decode() {
        let url = "https://h/v1/x?a=1&continuationToken=LDEsMTAwMDAwLDA%3D#frag";
        assert_eq!(
            raw_query_param(url, "continuationToken"),
            Some("LDEsMTAwMDAwLDA%3D")
        );
        assert_eq!(raw_query_param(url, "a"), Some("1"));
        assert_eq!(raw_query_param(url, "b"), None);
        assert_eq!(raw_query_param("https://h/v1/x", "a"), None);
    }

    proptest! {
        /// A raw token survives one encode + one server-side decode unchanged (unless it
        /// already looks percent-encoded, which is exactly the case we must not touch).
        #[test]
        fn one_decode_restores_raw_tokens(token in "[A-Za-z0-9+/=&# ~é-]{0,40}") {
            let encoded = encode_query_value(&token);
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_graphic() && b != b'&' && b != b'#' && b != b'+' && b != b'='));
            let decoded = percent_decode_str(&encoded).decode_utf8_lossy().into_owned();
            prop_assert_eq!(decoded, token);
        }

        #[test]
        fn encoding_is_idempotent(token in ".{0,40}") {
            let once = encode_query_value(&token);
            prop_assert_eq!(encode_query_value(&once), once.clone());
        }
    }
}
