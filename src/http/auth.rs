//! Optional authentication of the HTTP surface: bearer tokens and basic-auth users read from
//! files (a secret is never a flag), several of each so a rotation can overlap, compared in
//! constant time, and re-read when the files change. Every path asks for a credential except
//! the probes (`/healthz`, `/readyz`) and the Firehose path, which checks its own access key.
//! A refusal is a bare 401 with a `WWW-Authenticate` challenge per configured scheme.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::secret::KeySet;

/// Shortest token or password accepted, as for the user-hashing key: long enough that
/// guessing over the network is hopeless.
pub const MIN_SECRET_LEN: usize = 16;
/// Paths that never ask for a credential: orchestrators probe them without one.
pub const PROBES: [&str; 2] = ["/healthz", "/readyz"];

/// Where the credentials come from, and how often the files are checked for changes.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthFiles {
    /// One token per line, sent as `Authorization: Bearer <token>`.
    pub bearer_token_file: Option<PathBuf>,
    /// One `user:password` per line, sent as `Authorization: Basic ...`.
    pub basic_auth_file: Option<PathBuf>,
    pub reload_interval: Duration,
}

/// The accepted credentials: `None` where a scheme has no file.
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    bearer: Option<KeySet>,
    /// Digests of the whole `user:password`, so the user name is checked in constant time too.
    basic: Option<KeySet>,
}

/// `Err` lists every problem, by file and line; never a secret.
pub fn parse_bearer(text: &str, file: &Path) -> Result<KeySet, Vec<String>> {
    let mut errors = Vec::new();
    let mut tokens = Vec::new();
    for (n, line) in numbered(text) {
        if line.len() < MIN_SECRET_LEN || !line.bytes().all(|b| b.is_ascii_graphic()) {
            errors.push(format!(
                "{} line {n}: a bearer token must be at least {MIN_SECRET_LEN} characters of visible ASCII without spaces (e.g. `openssl rand -hex 32`)",
                file.display()
            ));
        } else {
            tokens.push(line);
        }
    }
    if tokens.is_empty() && errors.is_empty() {
        errors.push(format!("{} holds no token; write one bearer token per line (blank lines and # comments are ignored)", file.display()));
    }
    if errors.is_empty() {
        Ok(KeySet::new(tokens))
    } else {
        Err(errors)
    }
}

/// `Err` lists every problem, by file and line; never a secret.
pub fn parse_basic(text: &str, file: &Path) -> Result<KeySet, Vec<String>> {
    let mut errors = Vec::new();
    let mut pairs = Vec::new();
    for (n, line) in numbered(text) {
        match line.split_once(':') {
            Some((user, password)) if !user.is_empty() && password.len() >= MIN_SECRET_LEN => {
                pairs.push(line)
            }
            Some((user, _)) if !user.is_empty() => errors.push(format!(
                "{} line {n}: the password of user {user:?} must be at least {MIN_SECRET_LEN} characters (e.g. `openssl rand -hex 32`)",
                file.display()
            )),
            _ => errors.push(format!(
                "{} line {n}: write user:password (the user name is not empty and has no colon)",
                file.display()
            )),
        }
    }
    if pairs.is_empty() && errors.is_empty() {
        errors.push(format!("{} holds no user; write one user:password per line (blank lines and # comments are ignored)", file.display()));
    }
    if errors.is_empty() {
        Ok(KeySet::new(pairs))
    } else {
        Err(errors)
    }
}

type Parser = fn(&str, &Path) -> Result<KeySet, Vec<String>>;

/// The lines that hold a secret, with their 1-based numbers for error messages.
fn numbered(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

fn read(path: &Path) -> Result<String, Vec<String>> {
    std::fs::read_to_string(path).map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])
}

impl Credentials {
    /// Reads and checks both files, listing every problem at once.
    pub fn load(files: &AuthFiles) -> Result<Credentials, Vec<String>> {
        let mut errors = Vec::new();
        let mut scheme = |file: &Option<PathBuf>, parse: Parser| {
            let f = file.as_deref()?;
            read(f)
                .and_then(|text| parse(&text, f))
                .map_err(|e| errors.extend(e))
                .ok()
        };
        let bearer = scheme(&files.bearer_token_file, parse_bearer);
        let basic = scheme(&files.basic_auth_file, parse_basic);
        if errors.is_empty() {
            Ok(Credentials { bearer, basic })
        } else {
            Err(errors)
        }
    }

    /// Whether an `Authorization` header value carries an accepted credential.
    pub fn accepts(&self, authorization: &[u8]) -> bool {
        let Some(space) = authorization.iter().position(|&b| b == b' ') else {
            return false;
        };
        let (scheme, value) = authorization.split_at(space);
        let value = value.trim_ascii();
        if scheme.eq_ignore_ascii_case(b"bearer") {
            self.bearer.as_ref().is_some_and(|k| k.contains(value))
        } else if scheme.eq_ignore_ascii_case(b"basic") {
            let decoded = base64::engine::general_purpose::STANDARD.decode(value);
            self.basic
                .as_ref()
                .zip(decoded.ok())
                .is_some_and(|(k, pair)| k.contains(&pair))
        } else {
            false
        }
    }

    /// One challenge per configured scheme (RFC 7235; RFC 7617 for the charset).
    fn challenges(&self) -> Vec<HeaderValue> {
        let mut v = Vec::new();
        if self.bearer.is_some() {
            v.push(HeaderValue::from_static(
                r#"Bearer realm="bedrock-cost-exporter""#,
            ));
        }
        if self.basic.is_some() {
            v.push(HeaderValue::from_static(
                r#"Basic realm="bedrock-cost-exporter", charset="UTF-8""#,
            ));
        }
        v
    }

    /// How many credentials of each kind, for the log.
    pub fn summary(&self) -> String {
        let n = |k: &Option<KeySet>| k.as_ref().map_or(0, KeySet::len);
        format!(
            "{} bearer token(s), {} basic-auth user(s)",
            n(&self.bearer),
            n(&self.basic)
        )
    }
}

/// The credentials in force, swapped whole when the files change.
pub struct Auth {
    current: RwLock<Arc<Credentials>>,
    files: AuthFiles,
    /// Paths served without a credential: the probes, and the Firehose path if any.
    public: Vec<String>,
}

impl Auth {
    pub fn new(credentials: Credentials, files: AuthFiles, firehose_path: Option<&str>) -> Auth {
        let mut public: Vec<String> = PROBES.iter().map(|p| p.to_string()).collect();
        public.extend(firehose_path.map(str::to_string));
        Auth {
            current: RwLock::new(Arc::new(credentials)),
            files,
            public,
        }
    }

    fn credentials(&self) -> Arc<Credentials> {
        self.current.read().expect("credentials lock").clone()
    }

    /// Digest of both files' bytes: a change of either means a reload (a rename, a Kubernetes
    /// Secret update or an edit in place alike; modification times can miss a quick rewrite).
    fn fingerprint(&self) -> Option<[u8; 32]> {
        let mut h = Sha256::new();
        for f in [&self.files.bearer_token_file, &self.files.basic_auth_file]
            .into_iter()
            .flatten()
        {
            h.update(std::fs::read(f).ok()?);
            h.update([0]);
        }
        Some(h.finalize().into())
    }

    /// Re-reads the files when they change. Files that do not load (a half-written rotation,
    /// an empty file) are logged and the credentials in force stay until the next change.
    pub async fn watch(self: Arc<Self>, stop: CancellationToken) {
        let mut seen = self.fingerprint();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(self.files.reload_interval) => {}
            }
            let now = self.fingerprint();
            if now.is_none() || now == seen {
                continue;
            }
            seen = now;
            match Credentials::load(&self.files) {
                Ok(c) => {
                    tracing::info!("reloaded the HTTP credentials: {}", c.summary());
                    *self.current.write().expect("credentials lock") = Arc::new(c);
                }
                Err(errors) => tracing::error!(
                    "cannot reload the HTTP credentials ({}); the previous ones stay in use",
                    errors.join("; ")
                ),
            }
        }
    }
}

/// The middleware: a request passes with an accepted credential or to a public path.
pub async fn require(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if auth.public.iter().any(|p| p == path) {
        return next.run(req).await;
    }
    let credentials = auth.credentials();
    let ok = req
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|v| credentials.accepts(v.as_bytes()));
    if ok {
        return next.run(req).await;
    }
    tracing::debug!(path, "refused a request without an accepted credential");
    let mut response = (StatusCode::UNAUTHORIZED, "unauthorized\n").into_response();
    let headers = response.headers_mut();
    for c in credentials.challenges() {
        headers.append(header::WWW_AUTHENTICATE, c);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "tok-0123456789abcdef";

    fn creds(bearer: &str, basic: &str) -> Credentials {
        let p = Path::new("f");
        Credentials {
            bearer: (!bearer.is_empty()).then(|| parse_bearer(bearer, p).unwrap()),
            basic: (!basic.is_empty()).then(|| parse_basic(basic, p).unwrap()),
        }
    }

    fn basic(pair: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
        .into_bytes()
    }

    #[test]
    fn tokens_and_users_are_accepted_whole_and_by_their_own_scheme() {
        let c = creds(
            &format!("# rotation\n{TOKEN}\nnew-0123456789abcdef\n"),
            "prometheus:pw-0123456789abcdef\n",
        );
        assert!(c.accepts(format!("Bearer {TOKEN}").as_bytes()));
        assert!(c.accepts(format!("bearer  {TOKEN} ").as_bytes()));
        assert!(c.accepts(b"Bearer new-0123456789abcdef"));
        assert!(c.accepts(&basic("prometheus:pw-0123456789abcdef")));
        for refused in [
            format!("Bearer {TOKEN}x").into_bytes(),
            b"Bearer tok-0123456789abcde".to_vec(),
            format!("Basic {TOKEN}").into_bytes(),
            format!("Token {TOKEN}").into_bytes(),
            TOKEN.as_bytes().to_vec(),
            basic("prometheus:pw-0123456789abcdeF"),
            basic("grafana:pw-0123456789abcdef"),
            basic(&format!("x:{TOKEN}")),
            b"Basic !!!not-base64".to_vec(),
            Vec::new(),
        ] {
            assert!(
                !c.accepts(&refused),
                "{}",
                String::from_utf8_lossy(&refused)
            );
        }
        let only_bearer = creds(TOKEN, "");
        assert!(!only_bearer.accepts(&basic("prometheus:pw-0123456789abcdef")));
        assert_eq!(only_bearer.challenges().len(), 1);
        assert_eq!(c.challenges().len(), 2);
    }

    #[test]
    fn every_problem_is_listed_by_line_without_the_secret() {
        let p = Path::new("/etc/tokens");
        let errs = parse_bearer(
            "short-secret-1\n# fine\nhas space 0123456789\nok-0123456789abcdef\n",
            p,
        )
        .unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].starts_with("/etc/tokens line 1:"), "{errs:?}");
        assert!(errs[1].starts_with("/etc/tokens line 3:"), "{errs:?}");
        assert!(!errs.join(" ").contains("short-secret"), "{errs:?}");
        let errs = parse_basic("alice:short-pw-1\n:pw-0123456789abcdef\nnocolon\n", p).unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].contains("user \"alice\""), "{errs:?}");
        assert!(!errs.join(" ").contains("short-pw"), "{errs:?}");
        assert!(parse_bearer("# nothing\n\n", p).unwrap_err()[0].contains("holds no token"));
        assert!(parse_basic("", p).unwrap_err()[0].contains("holds no user"));
    }
}
