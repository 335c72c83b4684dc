//! Text that reaches other people: which characters it may not hold, and
//! email addresses in the one form their uniqueness is decided on.
//!
//! A display name or any other field shown to other visitors must not hold
//! characters that change how the text around it reads without being seen:
//! bidirectional overrides and isolates (a name that reverses the sentence it
//! is shown in), line and paragraph separators, zero-width and other
//! invisible format characters. Zero-width joiners stay allowed: emoji
//! sequences and several scripts need them.

use unicode_normalization::UnicodeNormalization;

/// `text` with the credentials of every URL in it hidden: the user and
/// password before a host (`https://user:pass@host/…`) become `****`
/// (`https://****@host/…`). What the team is shown of a webhook receiver's
/// address, and of an error that quotes it.
pub(crate) fn mask_url_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(tail.len());
        match tail[..authority].rfind('@') {
            Some(user_end) => {
                out.push_str("****");
                rest = &tail[user_end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// The SHA-256 of `text`, as 64 lower-case hex digits: how a text is kept
/// when only its identity may be (a key, a source text's memory key, a
/// campaign file's version).
pub(crate) fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The invisible characters refused in text, as inclusive ranges: bidirectional
/// controls, line and paragraph separators, invisible format characters.
pub(crate) const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'), // soft hyphen
    ('\u{034F}', '\u{034F}'), // combining grapheme joiner
    ('\u{061C}', '\u{061C}'), // Arabic letter mark
    ('\u{115F}', '\u{1160}'), // Hangul fillers (also U+3164, U+FFA0)
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'), // Mongolian vowel separator and selectors
    ('\u{200B}', '\u{200B}'), // zero-width space
    ('\u{200E}', '\u{200F}'), // left-to-right and right-to-left marks
    ('\u{2028}', '\u{202E}'), // line and paragraph separators, bidirectional embeddings and overrides
    ('\u{2060}', '\u{206F}'), // word joiner, invisible operators, isolates
    ('\u{3164}', '\u{3164}'),
    ('\u{FEFF}', '\u{FEFF}'), // zero-width no-break space
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF9}', '\u{FFFB}'),   // interlinear annotations
    ('\u{1D173}', '\u{1D17A}'), // musical formatting
    ('\u{E0000}', '\u{E007F}'), // tags
];

/// Whether `c` is an invisible character refused in text ([`INVISIBLE`]).
/// (C0 and C1 controls are `char::is_control`.)
pub(crate) fn is_invisible(c: char) -> bool {
    INVISIBLE
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
}

/// The first character of `text` that may not appear in it: a control
/// (other than a line break or tab where `multiline`) or an invisible
/// character ([`is_invisible`]).
pub(crate) fn forbidden_char(text: &str, multiline: bool) -> Option<char> {
    text.chars().find(|&c| {
        (c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))) || is_invisible(c)
    })
}

/// An email address in the form its uniqueness is decided on: NFKC (so
/// full-width letters and combining sequences are their plain forms),
/// without zero-width characters, trimmed and in lower case. Shape is not
/// checked here.
pub(crate) fn canonical_email(raw: &str) -> String {
    raw.nfkc()
        .filter(|c| {
            !matches!(
                c,
                '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
            )
        })
        .collect::<String>()
        .trim()
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_bidi_characters_are_found() {
        for bad in [
            "Ada\u{202E}txt.exe",
            "A\u{2066}x",
            "line\u{2028}two",
            "A\u{200B}da",
            "\u{FEFF}Ada",
            "Ada\u{0}",
        ] {
            assert!(forbidden_char(bad, true).is_some(), "{bad:?}");
        }
        for good in [
            "Ada Lovelace",
            "Zoë",
            "李雷",
            "👩\u{200D}💻",
            "مرحبا",
            "नमस्ते",
        ] {
            assert_eq!(forbidden_char(good, false), None, "{good:?}");
        }
        assert_eq!(forbidden_char("two\nlines", true), None);
        assert_eq!(forbidden_char("two\nlines", false), Some('\n'));
    }

    #[test]
    fn email_variants_are_one_address() {
        let plain = canonical_email("ada@example.com");
        for variant in [
            "ＡＤＡ@ｅｘａｍｐｌｅ.ｃｏｍ", // full width
            "a\u{200B}da@example.com",      // zero width
            " Ada@Example.COM ",
        ] {
            assert_eq!(canonical_email(variant), plain, "{variant:?}");
        }
        assert_eq!(
            canonical_email("jose\u{0301}@example.com"),
            canonical_email("josé@example.com")
        );
    }

    #[test]
    fn url_credentials_are_hidden() {
        assert_eq!(
            mask_url_credentials("https://crm:s3cret@hooks.example.com/in?a=b@c"),
            "https://****@hooks.example.com/in?a=b@c"
        );
        assert_eq!(
            mask_url_credentials("error sending request for url (http://u@h:8080/x): refused"),
            "error sending request for url (http://****@h:8080/x): refused"
        );
        for plain in [
            "https://hooks.example.com/a@b",
            "no url here",
            "mailto:ada@example.com",
        ] {
            assert_eq!(mask_url_credentials(plain), plain);
        }
    }
}
