//! The dashboard and the shop page, as built into the binary.
//!
//! `build.rs` embeds `dashboard/dist` when it was built before the engine;
//! `FLASHSALE_DASHBOARD_DIR` serves a folder instead (see `routes`).
//! Hashed assets (`assets/…`) are cached for a year; the HTML is revalidated
//! with its ETag, so a new engine's pages replace the old ones at once.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// One built file.
pub struct Page {
    /// Under `dashboard/dist`, `/`-separated.
    pub path: &'static str,
    pub mime: &'static str,
    /// A hash of the body, quoted.
    pub etag: &'static str,
    pub body: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/pages.rs"));

/// The pages by path.
struct Pages(HashMap<&'static str, &'static Page>);

impl Pages {
    fn of(pages: &'static [Page]) -> Self {
        Self(pages.iter().map(|page| (page.path, page)).collect())
    }

    /// The file for `path`: itself, its folder's `index.html`, or the page
    /// whose client-side routes it belongs to (the shop's under `/shop`).
    fn resolve(&self, path: &str) -> Option<&'static Page> {
        let path = path.trim_matches('/');
        let folder_index = match path {
            "" => "index.html".to_owned(),
            folder => format!("{folder}/index.html"),
        };
        let spa = match path == "shop" || path.starts_with("shop/") {
            true => "shop/index.html",
            false => "index.html",
        };
        let found = [path, folder_index.as_str(), spa]
            .into_iter()
            .find_map(|candidate| self.0.get(candidate).copied());
        found
    }
}

fn built_in() -> &'static Pages {
    static PAGES_BY_PATH: OnceLock<Pages> = OnceLock::new();
    PAGES_BY_PATH.get_or_init(|| Pages::of(PAGES))
}

/// Whether this binary carries the dashboard.
pub fn embedded() -> bool {
    built_in().0.contains_key("index.html")
}

/// Serves the pages built into the binary: `GET` and `HEAD` only.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    respond(built_in(), &method, uri.path(), &headers)
}

fn respond(pages: &Pages, method: &Method, path: &str, headers: &HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return ApiError::MethodNotAllowed.into_response();
    }
    let Some(page) = pages.resolve(path) else {
        return ApiError::NotFound.into_response();
    };
    let cache = if page.path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == page.etag || t.trim() == "*"));
    let head = [
        (CONTENT_TYPE, HeaderValue::from_static(page.mime)),
        (CACHE_CONTROL, HeaderValue::from_static(cache)),
        (ETAG, HeaderValue::from_static(page.etag)),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, head).into_response();
    }
    let body = if method == Method::HEAD {
        &[][..]
    } else {
        page.body
    };
    (head, body).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    static BUILT: &[Page] = &[
        Page {
            path: "index.html",
            mime: "text/html; charset=utf-8",
            etag: "\"d\"",
            body: b"dashboard",
        },
        Page {
            path: "shop/index.html",
            mime: "text/html; charset=utf-8",
            etag: "\"s\"",
            body: b"shop",
        },
        Page {
            path: "assets/app-1a2b.js",
            mime: "text/javascript; charset=utf-8",
            etag: "\"a\"",
            body: b"js",
        },
    ];

    async fn get(path: &str, headers: &[(&'static str, &'static str)]) -> (StatusCode, HeaderMap, String) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_static(value));
        }
        let response = respond(&Pages::of(BUILT), &Method::GET, path, &map);
        let (parts, body) = response.into_parts();
        let body = to_bytes(body, 1 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn files_folders_and_client_side_routes_get_their_page() {
        for (path, body) in [
            ("/", "dashboard"),
            ("/sales/0193", "dashboard"),
            ("/shop", "shop"),
            ("/shop/", "shop"),
            ("/shop/sale/0193", "shop"),
            ("/shopping", "dashboard"),
            ("/assets/app-1a2b.js", "js"),
            ("/../index.html", "dashboard"),
        ] {
            let (status, _, answer) = get(path, &[]).await;
            assert_eq!((status, answer.as_str()), (StatusCode::OK, body), "{path}");
        }
    }

    #[tokio::test]
    async fn assets_are_cached_for_good_and_pages_revalidated_by_etag() {
        let (_, headers, _) = get("/assets/app-1a2b.js", &[]).await;
        assert_eq!(headers[CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(headers[CACHE_CONTROL], "public, max-age=31536000, immutable");
        let (_, headers, _) = get("/", &[]).await;
        assert_eq!(headers[CACHE_CONTROL], "no-cache");
        assert_eq!(headers[ETAG], "\"d\"");
        let (status, _, body) = get("/", &[("if-none-match", "\"x\", \"d\"")]).await;
        assert_eq!((status, body.as_str()), (StatusCode::NOT_MODIFIED, ""));
        let (status, _, _) = get("/", &[("if-none-match", "\"old\"")]).await;
        assert_eq!(status, StatusCode::OK);
        let post = respond(&Pages::of(BUILT), &Method::POST, "/", &HeaderMap::new());
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
