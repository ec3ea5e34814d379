//! Twilio Messaging: form-encoded posts signed in `X-Twilio-Signature`
//! with the base64 HMAC-SHA1, keyed with the auth token, of the public URL
//! followed by every POST parameter sorted by name, each as name + value.
//! Twilio signs no timestamp, so nothing goes stale; a replayed request
//! repeats a `MessageSid` (and status) the caller has already recorded.
//!
//! An incoming message (`Body`, `From`, `MessageSid`) is `sms.replied`,
//! unless its trimmed text is one of Twilio's opt-out keywords (any case)
//! or Twilio's Advanced Opt-Out marked it (`OptOutType=STOP`): then it is
//! `sms.stop` and the number is suppressed. `START` and `UNSTOP` are
//! `sms.start` (recorded only: undoing a suppression is the operator's).
//! `YES`, also an opt-in keyword to Twilio, stays `sms.replied`: it is
//! far more often the answer to a funnel's question. A status callback
//! (`MessageStatus`) gives `sms.delivered` or `sms.failed`; the
//! intermediate statuses (queued, sent, ...) give nothing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value as Json;
use sha1::Sha1;

use super::{Accepted, Inbound, Rejection, Secret, Signal, Suppress, check_size, details, same};

pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// Twilio's default opt-out keywords, as its Advanced Opt-Out tutorial
/// lists them. Twilio itself stops sending to a number that texted one,
/// so the funnel must know too.
pub const STOP_WORDS: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
/// The opt-in keywords we record as `sms.start`.
pub const START_WORDS: [&str; 2] = ["START", "UNSTOP"];

/// Checks the signature, then reads the parameters.
pub fn receive(inbound: &Inbound, auth_token: &Secret) -> Result<Accepted, Rejection> {
    check_size(inbound)?;
    let params = form(inbound.body)?;
    verify(inbound, &params, auth_token)?;
    Ok(Accepted {
        signals: parse(&params, inbound)?,
        replay_key: None,
    })
}

pub fn verify(
    inbound: &Inbound,
    params: &[(String, String)],
    auth_token: &Secret,
) -> Result<(), Rejection> {
    let given = inbound
        .header(SIGNATURE_HEADER)
        .ok_or_else(|| Rejection::Unauthorized("missing X-Twilio-Signature".to_string()))?;
    let expected = sign(auth_token.bytes(), inbound.public_url, params);
    if same(expected.as_bytes(), given.as_bytes()) {
        Ok(())
    } else {
        Err(Rejection::Unauthorized(
            "the signature does not match (is the public URL exactly the one set in Twilio?)"
                .to_string(),
        ))
    }
}

/// Base64 HMAC-SHA1 of `url` + each parameter's name and value, sorted.
pub fn sign(key: &[u8], url: &str, params: &[(String, String)]) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        return String::new();
    };
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // A repeated name signs each distinct value once, in order, as
    // Twilio's own validators do.
    sorted.sort();
    sorted.dedup();
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// An `application/x-www-form-urlencoded` body, decoded strictly: a bad
/// escape or text that is not UTF-8 is refused, not replaced.
pub fn form(body: &[u8]) -> Result<Vec<(String, String)>, Rejection> {
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let equals = pair.iter().position(|b| *b == b'=').unwrap_or(pair.len());
            let value = pair.get(equals + 1..).unwrap_or_default();
            Ok((decode(&pair[..equals])?, decode(value)?))
        })
        .collect()
}

fn decode(text: &[u8]) -> Result<String, Rejection> {
    let bad = |why: &str| Rejection::Malformed(format!("form body: {why}"));
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = [bytes.next(), bytes.next()];
                let digit = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
                match hex.map(digit) {
                    [Some(high), Some(low)] => out.push((high * 16 + low) as u8),
                    _ => return Err(bad("a `%` not followed by two hex digits")),
                }
            }
            _ => out.push(byte),
        }
    }
    String::from_utf8(out).map_err(|_| bad("not UTF-8"))
}

/// The signal of a verified post, if it is one we use.
pub fn parse(params: &[(String, String)], inbound: &Inbound) -> Result<Vec<Signal>, Rejection> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    };
    let require =
        |name: &str| get(name).ok_or_else(|| Rejection::Malformed(format!("missing `{name}`")));
    let sid = require("MessageSid")?;
    let signal = |name: &str, dedupe: String, address: Option<&str>, data: Json| Signal {
        name: name.to_string(),
        contact: None,
        provider_message_id: Some(sid.to_string()),
        address: address.map(str::to_string),
        dedupe,
        at: inbound.received_at,
        data,
        suppress: None,
    };
    // Twilio also sends `SmsStatus=received` on incoming messages; only a
    // `MessageStatus` other than `received` makes a status callback.
    if let Some(status) = get("MessageStatus").filter(|s| *s != "received") {
        let name = match status {
            "delivered" => "sms.delivered",
            "failed" | "undelivered" => "sms.failed",
            _ => return Ok(Vec::new()),
        };
        let data = details(&[
            ("status", Some(Json::from(status))),
            ("error_code", get("ErrorCode").map(Json::from)),
        ]);
        let dedupe = format!("twilio:{sid}:{status}");
        return Ok(vec![signal(name, dedupe, get("To"), data)]);
    }
    let from = require("From")?;
    let body = params
        .iter()
        .find(|(key, _)| key == "Body")
        .map(|(_, value)| value.as_str())
        .ok_or_else(|| Rejection::Malformed("missing `Body`".to_string()))?;
    let data = details(&[
        ("text", Some(Json::from(body))),
        ("to", get("To").map(Json::from)),
    ]);
    let mut reply = signal("sms.replied", format!("twilio:{sid}"), Some(from), data);
    match keyword(body, get("OptOutType")) {
        Keyword::Stop => {
            reply.name = "sms.stop".to_string();
            reply.suppress = Some(Suppress::Sms);
        }
        Keyword::Start => reply.name = "sms.start".to_string(),
        Keyword::None => {}
    }
    Ok(vec![reply])
}

#[derive(Debug, PartialEq, Eq)]
enum Keyword {
    Stop,
    Start,
    None,
}

fn keyword(body: &str, opt_out_type: Option<&str>) -> Keyword {
    let word = body.trim();
    let is = |words: &[&str]| words.iter().any(|w| w.eq_ignore_ascii_case(word));
    if opt_out_type.is_some_and(|t| t.eq_ignore_ascii_case("STOP")) || is(&STOP_WORDS) {
        Keyword::Stop
    } else if is(&START_WORDS) {
        Keyword::Start
    } else {
        Keyword::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn signs_twilios_documented_example() {
        // Twilio's "Validating requests" example (auth token 12345), as in
        // TwilioDevEd/api-snippets security/signature_validation.3.x.js.
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(sign(b"12345", url, &params), "GvWf1cFY/Q7PnoempGyD5oXAezc=");
        // The older snippet (2.x) with +14158675309.
        let older = pairs(&[
            ("Digits", "1234"),
            ("To", "+18005551212"),
            ("From", "+14158675309"),
            ("Caller", "+14158675309"),
            ("CallSid", "CA1234567890ABCDE"),
        ]);
        assert_eq!(sign(b"12345", url, &older), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn forms_decode_strictly() {
        assert_eq!(
            form(b"Body=Hi+there%21&From=%2B1555&Empty=&Flag").ok(),
            Some(pairs(&[
                ("Body", "Hi there!"),
                ("From", "+1555"),
                ("Empty", ""),
                ("Flag", "")
            ]))
        );
        assert_eq!(
            form(b"Body=%E2%82%AC").ok(),
            Some(pairs(&[("Body", "\u{20ac}")]))
        );
        assert_eq!(
            form(b"Body=%zz"),
            Err(Rejection::Malformed(
                "form body: a `%` not followed by two hex digits".to_string()
            ))
        );
        assert_eq!(
            form(b"Body=%FF"),
            Err(Rejection::Malformed("form body: not UTF-8".to_string()))
        );
        assert_eq!(form(b"Body=%4"), form(b"Body=%zz"));
    }

    #[test]
    fn keywords_are_whole_trimmed_and_caseless() {
        for stop in [
            "STOP",
            "stop",
            " Stop \n",
            "StopAll",
            "unsubscribe",
            "cancel",
            "END",
            "quit",
        ] {
            assert_eq!(keyword(stop, None), Keyword::Stop, "{stop:?}");
        }
        for start in ["START", "unstop"] {
            assert_eq!(keyword(start, None), Keyword::Start, "{start:?}");
        }
        for other in ["stop it", "please stop", "STOPP", "yes", "", "HELP"] {
            assert_eq!(keyword(other, None), Keyword::None, "{other:?}");
        }
        assert_eq!(keyword("arrête", Some("STOP")), Keyword::Stop);
    }
}
