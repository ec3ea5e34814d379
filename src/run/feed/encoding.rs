//! Text encodings of feeds. Exports from Excel and older CRMs are often in
//! a Windows code page (windows-1250 in Hungary, windows-1251 in Russia,
//! windows-1255 in Israel). The whole file is decoded once, before any row
//! is read, so a wrong encoding is one error naming the first bad byte,
//! not a warning per row.

use std::borrow::Cow;

pub use encoding_rs::{Encoding, UTF_8};

use super::FeedError;

pub use crate::config::export::encoding;

/// The feed as text: decoded from `encoding` (a byte order mark wins over
/// it), or checked to be UTF-8 when none is given. A UTF-8 feed is not
/// copied.
pub fn decode<'a>(
    bytes: &'a [u8],
    encoding: Option<&'static Encoding>,
) -> Result<Cow<'a, str>, FeedError> {
    let Some(encoding) = encoding else {
        return std::str::from_utf8(bytes)
            .map(Cow::Borrowed)
            .map_err(|error| {
                let at = error.valid_up_to();
                FeedError::Encoding {
                    line: line_of(bytes, at),
                    byte: bytes.get(at).copied().unwrap_or_default(),
                }
            });
    };
    let (text, used, malformed) = encoding.decode(bytes);
    if malformed {
        // Only UTF-8 and the multi-byte encodings can be malformed; find
        // the first bad byte again to say where.
        let at = first_malformed(bytes, used).unwrap_or(0);
        return Err(FeedError::Malformed {
            line: line_of(bytes, at),
            encoding: used.name().to_string(),
        });
    }
    Ok(text)
}

/// The offset of the first byte `encoding` cannot decode.
fn first_malformed(bytes: &[u8], encoding: &'static Encoding) -> Option<usize> {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(64);
    let mut read = 0;
    while read < bytes.len() {
        out.clear();
        let end = (read + 4096).min(bytes.len());
        let last = end == bytes.len();
        let (result, consumed) =
            decoder.decode_to_string_without_replacement(&bytes[read..end], &mut out, last);
        match result {
            encoding_rs::DecoderResult::Malformed(bad, _) => {
                return Some((read + consumed).saturating_sub(usize::from(bad)));
            }
            encoding_rs::DecoderResult::OutputFull => out.reserve(out.capacity()),
            encoding_rs::DecoderResult::InputEmpty => {}
        }
        read += consumed;
        if consumed == 0 && !matches!(result, encoding_rs::DecoderResult::OutputFull) {
            break;
        }
    }
    None
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    let before = bytes.get(..offset).unwrap_or(bytes);
    before.iter().filter(|b| **b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1250_decodes_once_and_utf8_is_borrowed() {
        let bytes = b"id;n\xe9v\r\n1;\xc1rp\xe1d \xf5r\r\n";
        let cp1250 = encoding("windows-1250").unwrap();
        assert_eq!(
            decode(bytes, Some(cp1250)).unwrap(),
            "id;név\r\n1;Árpád őr\r\n"
        );
        assert!(matches!(
            decode("é".as_bytes(), None).unwrap(),
            Cow::Borrowed("é")
        ));
        // A BOM says UTF-8 whatever the label.
        let bom = "\u{feff}id;név\n".as_bytes();
        assert_eq!(decode(bom, Some(cp1250)).unwrap(), "id;név\n");
    }

    #[test]
    fn not_utf8_is_one_error_at_the_first_bad_byte() {
        let error = decode(b"id,name\n1,ok\n2,J\xf3zsef\n3,\xe9\n", None).unwrap_err();
        assert!(
            matches!(
                error,
                FeedError::Encoding {
                    line: 3,
                    byte: 0xF3
                }
            ),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(text.contains("--encoding windows-1250"), "{text}");
    }

    #[test]
    fn malformed_input_of_a_given_encoding_names_its_line() {
        let utf8 = encoding("utf-8").unwrap();
        let error = decode(b"id\n1\n\xff\n", Some(utf8)).unwrap_err();
        assert!(
            matches!(error, FeedError::Malformed { line: 3, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn unknown_labels_are_refused() {
        assert!(encoding("cp1250").is_ok());
        assert!(encoding("klingon").unwrap_err().contains("windows-1250"));
    }
}
