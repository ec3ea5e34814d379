//! The few pages a person sees: the unsubscribe confirmation and its
//! answer. Plain HTML, no scripts, nothing from the contact echoed.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}\
         button{{font-size:1rem;padding:.6rem 1.2rem}}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>\n"
    )
}

/// `GET /u/TOKEN`: asks, never acts (mail scanners follow every link).
pub fn confirm_unsubscribe() -> Response {
    Html(page(
        "Unsubscribe",
        "<p>Press the button to stop receiving these messages.</p>\
         <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <button type=\"submit\">Unsubscribe</button></form>",
    ))
    .into_response()
}

pub fn unsubscribed() -> Response {
    Html(page(
        "You are unsubscribed",
        "<p>You will not receive these messages any more.</p>",
    ))
    .into_response()
}

pub fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(page(
            "Link not valid",
            "<p>This link is not valid. If you copied it, check that it is complete.</p>",
        )),
    )
        .into_response()
}

/// The state could not take the request; the sender should try again.
pub fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [("retry-after", "5")],
        Html(page(
            "Please try again",
            "<p>We could not record this just now. Please try again in a moment.</p>",
        )),
    )
        .into_response()
}
