//! Bad input at volume: over ten thousand invalid requests, generated from a
//! fixed seed, fired 16 at a time at the real server over HTTP, across every
//! route: the JSON API, the server functions the forms post to, the pages,
//! and paths and methods that do not exist. Malformed, oversized, mistyped
//! and injection-shaped bodies, forged, expired and missing tokens, wrong
//! content types and methods, cross-site posts, and transfers with a valid
//! token and recipient but an invalid amount.
//!
//! Every request is built to be refused (a generated request that could
//! legitimately change something is regenerated), so the run must end with:
//! no 5xx, no connection error or timeout, and the database exactly as it
//! was (every document of every collection).
//!
//! `FUZZ_SEED` and `FUZZ_REQUESTS` override the seed and the count.

#![cfg(feature = "ssr")]

mod common;

use common::db::{find, set_balance};
use common::http::{client, has_dollar_key, pct};
use common::{TestEnv, PASSWORD, TEST_SECRET};
use futures::StreamExt;
use mongodb::bson::{doc, oid::ObjectId, Document};
use paisa::money::Money;
use paisa::server::bank::validate::{check_password, clean_name, normalize_email};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const DEFAULT_REQUESTS: usize = 10_240;
/// The JSON API's routes that change something when they succeed.
const WRITES: &[&str] = &[
    "POST /api/v1/user/signup",
    "PUT /api/v1/user",
    "POST /api/v1/account/transfer",
];
const IN_FLIGHT: usize = 16;
const TIMEOUT: Duration = Duration::from_secs(20);
/// Bigger than the server's 16 KiB body limit.
const OVERSIZED: usize = 16 * 1024 + 512;

// ----- a small deterministic generator ------------------------------------------

/// xorshift64*: fast, seeded, good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index chosen in proportion to `weights`.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut roll = self.next_u64() % total;
        for (i, &w) in weights.iter().enumerate() {
            if roll < u64::from(w) {
                return i;
            }
            roll -= u64::from(w);
        }
        weights.len() - 1
    }
}

// ----- the world the requests are aimed at --------------------------------------------

struct Person {
    id: ObjectId,
    email: String,
    token: String,
    paise: i64,
}

struct Fixture {
    people: Vec<Person>,
    /// Tokens that must not authenticate anyone.
    bad_tokens: Vec<String>,
    /// Properly signed, for a user that does not exist.
    ghost: String,
}

impl Fixture {
    fn hex(&self, i: usize) -> String {
        self.people[i].id.to_hex()
    }

    /// Whether `to`, as the bank reads it, names a seeded user other than `sender`.
    fn names_another_user(&self, to: &str, sender: Option<usize>) -> bool {
        ObjectId::parse_str(to.trim()).is_ok_and(|id| {
            self.people
                .iter()
                .enumerate()
                .any(|(i, p)| p.id == id && Some(i) != sender)
        })
    }
}

/// Auth for a request: who it is (if anyone), and how it is presented.
#[derive(Clone)]
enum Auth {
    None,
    /// A seeded user's real token (index), as a Bearer header or as the cookie.
    User(usize, bool),
    /// A token for nobody: forged, expired or garbage.
    Bad(String),
    /// A real token presented wrongly: this header, exactly.
    Wrong(&'static str, String),
    Ghost(bool),
}

impl Auth {
    fn sender(&self) -> Option<usize> {
        match self {
            Auth::User(i, _) => Some(*i),
            _ => None,
        }
    }
}

// ----- one request ------------------------------------------------------------------------

struct Fuzz {
    route: &'static str,
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<Vec<u8>>,
}

impl Fuzz {
    fn new(route: &'static str, method: Method, path: impl Into<String>) -> Fuzz {
        Fuzz {
            route,
            method,
            path: path.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    fn header(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.headers.push((
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            header_value(value.as_ref()),
        ));
    }

    fn json(&mut self, body: impl Into<Vec<u8>>) {
        self.header("content-type", "application/json");
        self.body = Some(body.into());
    }

    fn form(&mut self, body: impl Into<Vec<u8>>) {
        self.header("content-type", "application/x-www-form-urlencoded");
        self.body = Some(body.into());
    }

    fn auth(&mut self, auth: &Auth, fx: &Fixture) {
        let (token, cookie) = match auth {
            Auth::None => return,
            Auth::User(i, cookie) => (fx.people[*i].token.clone(), *cookie),
            Auth::Ghost(cookie) => (fx.ghost.clone(), *cookie),
            Auth::Wrong(name, value) => {
                self.header(name, value);
                return;
            }
            Auth::Bad(raw) => {
                // A bad token: in the header, the cookie, or presented oddly.
                let raw = raw.clone();
                match raw.len() % 5 {
                    0 => self.header("cookie", format!("paisa_session={raw}")),
                    1 => self.header("authorization", raw),
                    _ => self.header("authorization", format!("Bearer {raw}")),
                }
                return;
            }
        };
        if cookie {
            self.header("cookie", format!("paisa_session={token}"));
        } else {
            self.header("authorization", format!("Bearer {token}"));
        }
    }

    fn describe(&self) -> String {
        let mut out = format!("{} {}", self.method, clip(&self.path, 400));
        for (name, value) in &self.headers {
            let _ = write!(
                out,
                "\n  {name}: {}",
                clip(&String::from_utf8_lossy(value.as_bytes()), 200)
            );
        }
        if let Some(body) = &self.body {
            let _ = write!(
                out,
                "\n  body ({} bytes): {}",
                body.len(),
                clip(&format!("{:?}", String::from_utf8_lossy(body)), 600)
            );
        }
        out
    }
}

/// An error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let _ = write!(out, ": {c}");
        cause = c.source();
    }
    out
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// A header value from any bytes: bytes a header may not carry become `?`.
fn header_value(bytes: &[u8]) -> HeaderValue {
    let clean: Vec<u8> = bytes
        .iter()
        .map(|&b| if (b < 0x20 && b != b'\t') || b == 0x7f { b'?' } else { b })
        .collect();
    HeaderValue::from_bytes(&clean).unwrap()
}

fn form_body(pairs: &[(String, String)]) -> Vec<u8> {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

// ----- generators: text and JSON ------------------------------------------------------------

const WEIRD: &[&str] = &[
    "",
    " ",
    "\0",
    "a\0b",
    "\u{7}\u{1b}[31m",
    "\r\n",
    ".*",
    "^",
    "\\",
    "$",
    "(",
    "[a-z]+",
    "(a+)+$",
    "|",
    "{\"$gt\":\"\"}",
    "{\"$ne\":null}",
    "$where",
    "$gt",
    "'; DROP TABLE users; --",
    "\" OR \"1\"=\"1",
    "<script>alert(1)</script>",
    "${jndi:ldap://x/a}",
    "../../etc/passwd",
    "%00",
    "%s%n%x",
    "NaN",
    "Infinity",
    "-1",
    "1e300",
    "0x10",
    "null",
    "true",
    "ü",
    "例え",
    "🙂",
    "\u{202e}evil",
    "\u{feff}",
    "\u{200b}",
    "\u{10ffff}",
    "ǅ",
    "İ",
    "ﬀ",
    "\u{85}",
    "\u{2028}",
];

fn text(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=3 => rng.pick(WEIRD).to_string(),
        4 => {
            let n = rng.between(1, 12);
            (0..n).map(|_| (b'a' + rng.below(26) as u8) as char).collect()
        }
        5 => {
            // Long, sometimes very.
            let n = *rng.pick(&[60, 129, 300, 1025, 4000]);
            rng.pick(&["x", "é", "🙂", ".*", "\0"]).repeat(n)
        }
        6 => {
            // Random unicode scalar values.
            let n = rng.between(1, 10);
            (0..n)
                .filter_map(|_| char::from_u32((rng.next_u64() % 0x11_0000) as u32))
                .collect()
        }
        7 => format!("{}{}", rng.pick(WEIRD), rng.pick(WEIRD)),
        8 => rng.next_u64().to_string(),
        _ => {
            let n = rng.between(0, 8);
            (0..n).map(|_| (0x20 + rng.below(95) as u8) as char).collect()
        }
    }
}

const KEYS: &[&str] = &[
    "$gt",
    "$ne",
    "$where",
    "$set",
    "$regex",
    "$expr",
    "$",
    "__proto__",
    "constructor",
    "",
    "to",
    "amount",
    "username",
    "password",
    "firstName",
    "lastName",
    "balance",
    "_id",
    "userId",
    "a.b",
    "ü",
];

fn key(rng: &mut Rng) -> String {
    if rng.chance(70) {
        rng.pick(KEYS).to_string()
    } else {
        text(rng)
    }
}

fn number(rng: &mut Rng) -> Value {
    match rng.below(8) {
        0 => json!(rng.next_u64() as i64),
        1 => json!(1e300),
        2 => json!(-0.0),
        3 => json!(-(rng.below(1000) as i64)),
        4 => json!(u64::MAX),
        5 => json!(f64::MIN_POSITIVE),
        6 => json!(rng.below(100_000) as f64 / 1000.0),
        _ => json!(0),
    }
}

fn json_value(rng: &mut Rng, depth: u32) -> Value {
    let kinds = if depth == 0 { 5 } else { 8 };
    match rng.below(kinds) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => number(rng),
        3 | 4 => Value::String(text(rng)),
        5 => Value::Array((0..rng.below(4)).map(|_| json_value(rng, depth - 1)).collect()),
        _ => {
            let mut map = serde_json::Map::new();
            for _ in 0..rng.below(4) {
                map.insert(key(rng), json_value(rng, depth - 1));
            }
            Value::Object(map)
        }
    }
}

/// Injection-shaped values: operator objects where a string belongs.
fn operator(rng: &mut Rng) -> Value {
    rng.pick(&[
        json!({"$gt": ""}),
        json!({"$ne": null}),
        json!({"$regex": ".*"}),
        json!({"$where": "sleep(1000)"}),
        json!({"$in": ["a", "b"]}),
        json!({"$exists": true}),
        json!([{"$gt": ""}]),
        json!({"a": {"b": {"$ne": 1}}}),
    ])
    .clone()
}

/// Bodies that are not one JSON document, or not JSON at all.
fn garbage(rng: &mut Rng) -> Vec<u8> {
    match rng.below(14) {
        0 => Vec::new(),
        1 => b"{".to_vec(),
        2 => b"{\"to\":".to_vec(),
        3 => b"null".to_vec(),
        4 => b"[]".to_vec(),
        5 => b"\"just a string\"".to_vec(),
        6 => "[".repeat(rng.between(100, 8000)).into_bytes(),
        7 => format!("{}1{}", "[".repeat(200), "]".repeat(200)).into_bytes(),
        8 => (0..rng.between(1, 200)).map(|_| rng.next_u64() as u8).collect(),
        9 => b"\xEF\xBB\xBF{}".to_vec(),
        10 => b"{\"a\":1}{\"b\":2}".to_vec(),
        11 => b"{\"amount\":NaN,\"to\":Infinity}".to_vec(),
        12 => b"{'to':'x','amount':1}".to_vec(),
        _ => b"to=abc&amount=1".to_vec(),
    }
}

// ----- generators: amounts ---------------------------------------------------------------------

const BAD_AMOUNTS: &[&str] = &[
    "0",
    "0.0",
    "0.00",
    "-0",
    "-0.0",
    "-1",
    "-0.01",
    "-100",
    "1.001",
    "0.105",
    "1.000",
    "10.999",
    "1e2",
    "1E2",
    "1e300",
    "-1e300",
    "1e-2",
    "2.5e1",
    "1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "\"5\"",
    "\"100\"",
    "\"abc\"",
    "\"\"",
    "\"1,000\"",
    "\"₹5\"",
    "null",
    "true",
    "false",
    "[]",
    "[1]",
    "[\"1\"]",
    "{}",
    "{\"$gt\":0}",
    "{\"$ne\":null}",
    "{\"value\":1}",
    "1000000000.01",
    "99999999999999999999",
    "18446744073709551616",
    "123456789012345678901234567890.5",
    "0.30000000000000004",
    "007",
    "+1",
    ".5",
    "5.",
    "0x10",
    "1_000",
    "1,000",
    "",
    "1 2",
    "--1",
    "1..2",
];

/// An amount literal (raw JSON text) that is never a valid amount.
fn bad_amount(rng: &mut Rng) -> String {
    let literal = match rng.below(6) {
        0..=2 => rng.pick(BAD_AMOUNTS).to_string(),
        3 => {
            let decimals: String = (0..rng.between(3, 40))
                .map(|_| (b'0' + rng.below(10) as u8) as char)
                .collect();
            format!("{}.{decimals}", rng.below(1000))
        }
        4 => format!("-{}.{:02}", rng.below(100_000), rng.below(100)),
        _ => format!("{}{:03}", rng.between(1_000_000_001, 9_999_999_999), rng.below(1000)),
    };
    if Money::parse_json_number(&literal).is_ok() {
        // Not bad after all: make it so.
        return format!("{literal}1e1");
    }
    literal
}

/// A valid amount in rupees, as text, with its value.
fn good_amount(rng: &mut Rng, min_paise: i64, max_paise: i64) -> (String, i64) {
    let paise = min_paise + (rng.next_u64() % (max_paise - min_paise + 1) as u64) as i64;
    (format!("{}.{:02}", paise / 100, paise % 100), paise)
}

// ----- generators: routes ------------------------------------------------------------------------

/// An Authorization (or cookie) for a route that needs one: mostly a real
/// user, otherwise any of the ways to be nobody.
fn auth(rng: &mut Rng, fx: &Fixture, real_percent: u64) -> Auth {
    if rng.chance(real_percent) {
        return Auth::User(rng.below(fx.people.len()), rng.chance(20));
    }
    match rng.below(6) {
        0 => Auth::None,
        1 => Auth::Ghost(rng.chance(30)),
        2 => {
            // A real token, but not as "Bearer <token>" or the session cookie.
            let t = &fx.people[rng.below(fx.people.len())].token;
            let (name, value) = rng
                .pick(&[
                    ("authorization", format!("bearer {t}")),
                    ("authorization", format!("Token {t}")),
                    ("authorization", format!("Bearer {t}x")),
                    ("authorization", format!("Basic {t}")),
                    ("authorization", t.clone()),
                    ("cookie", format!("PAISA_SESSION={t}")),
                    ("cookie", format!("paisa_session_x={t}")),
                    ("cookie", format!("paisa_session={t}.")),
                ])
                .clone();
            Auth::Wrong(name, value)
        }
        _ => Auth::Bad(rng.pick(&fx.bad_tokens).clone()),
    }
}

fn signup(rng: &mut Rng, fx: &Fixture) -> Fuzz {
    let mut f = Fuzz::new("POST /api/v1/user/signup", Method::POST, "/api/v1/user/signup");
    let n = rng.next_u64();
    let mut fields = serde_json::Map::new();
    fields.insert("username".into(), json!(format!("fuzz{n}@example.com")));
    fields.insert("firstName".into(), json!("Fuzz"));
    fields.insert("lastName".into(), json!("Tester"));
    fields.insert("password".into(), json!("a long enough password"));
    if rng.chance(8) {
        // A valid sign-up, refused only by how it is sent.
        wrap_invalidly(rng, &mut f, Value::Object(fields).to_string().into_bytes(), fx, None);
        return f;
    }
    let names = ["username", "firstName", "lastName", "password"];
    // Spoil one or more fields: a bad value, a wrong type, an operator, or absent.
    for _ in 0..rng.between(1, 3) {
        let name = *rng.pick(&names);
        let bad = match rng.below(9) {
            0 => Value::String(
                rng.pick(&["", "   ", "a", "a@b", "@x.com", "a b@x.com", "a@x..com", "a@-x.com"])
                    .to_string(),
            ),
            1 => Value::String(format!("{}@example.com", "x".repeat(300))),
            2 => Value::String("x".repeat(rng.between(51, 200))),
            3 => Value::String(rng.pick(&["short", "1234567", "", "\u{0}\u{0}"]).to_string()),
            4 => Value::String("p".repeat(rng.between(129, 2000))),
            5 => operator(rng),
            6 => number(rng),
            7 => Value::Null,
            _ => {
                fields.remove(name);
                continue;
            }
        };
        fields.insert(name.into(), bad);
    }
    if rng.chance(10) {
        // A taken email with everything else valid: refused after the hash.
        fields.insert(
            "username".into(),
            json!(fx.people[rng.below(fx.people.len())].email.to_uppercase()),
        );
        fields.insert("firstName".into(), json!("Fuzz"));
        fields.insert("lastName".into(), json!("Tester"));
        fields.insert("password".into(), json!("a long enough password"));
    }
    if rng.chance(20) {
        add_extra(rng, &mut fields, &names);
    }
    let body = Value::Object(fields);
    if signup_is_valid(&body, fx) {
        // A spoiler that happens to be fine for its field: try again.
        return signup(rng, fx);
    }
    f.json(body.to_string());
    f
}

/// Adds a random extra field, never under one of the route's own names.
fn add_extra(rng: &mut Rng, fields: &mut serde_json::Map<String, Value>, own: &[&str]) {
    let k = key(rng);
    if !own.contains(&k.as_str()) {
        fields.entry(k).or_insert_with(|| json_value(rng, 2));
    }
}

/// Whether the API would create a user from this body.
fn signup_is_valid(body: &Value, fx: &Fixture) -> bool {
    let s = |k: &str| body.get(k).and_then(Value::as_str);
    let (Some(u), Some(fi), Some(la), Some(pw)) = (s("username"), s("firstName"), s("lastName"), s("password")) else {
        return false;
    };
    let taken = normalize_email(u).is_ok_and(|e| fx.people.iter().any(|p| p.email == e));
    normalize_email(u).is_ok()
        && !taken
        && clean_name("firstName", fi).is_ok()
        && clean_name("lastName", la).is_ok()
        && check_password(pw).is_ok()
        && !has_dollar_key(body)
}

/// Sends an otherwise valid body in a way the server must refuse: with the
/// real `user`'s token (for routes that need one) but declared as something
/// other than JSON, padded past the size limit, or from another site; or
/// with every detail right but a token that is nobody's.
fn wrap_invalidly(rng: &mut Rng, f: &mut Fuzz, body: Vec<u8>, fx: &Fixture, user: Option<usize>) {
    if let Some(i) = user {
        if rng.chance(80) {
            f.auth(&Auth::User(i, rng.chance(20)), fx);
        } else {
            let a = auth(rng, fx, 0);
            f.auth(&a, fx);
            f.json(body);
            return;
        }
    }
    match rng.below(4) {
        0 => {
            let types = [
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                "application/jsonp",
                "application/json-patch+json",
                "text/json",
                "text/plain;charset=application/json",
            ];
            f.header("content-type", rng.pick(&types));
            f.body = Some(body);
        }
        1 => f.body = Some(body),
        2 => {
            let mut v: Value = serde_json::from_slice(&body).unwrap();
            v["pad"] = json!("x".repeat(OVERSIZED));
            f.json(v.to_string());
        }
        _ => {
            f.json(body);
            let origins = ["https://evil.example", "null", "http://127.0.0.1:1", "http://localhost"];
            f.header("origin", rng.pick(&origins));
        }
    }
}

fn signin(rng: &mut Rng, fx: &Fixture) -> Fuzz {
    let mut f = Fuzz::new("POST /api/v1/user/signin", Method::POST, "/api/v1/user/signin");
    let seeded = &fx.people[rng.below(fx.people.len())].email;
    let body = match rng.below(10) {
        // These reach the password hash: unknown users, or wrong passwords.
        0 => json!({"username": format!("nobody{}@example.com", rng.next_u64()), "password": text(rng) + "x"}),
        1 => json!({"username": seeded, "password": format!("wrong {}", rng.next_u64())}),
        2 => json!({"username": seeded, "password": operator(rng)}),
        3 => json!({"username": operator(rng), "password": PASSWORD}),
        4 => json!({"username": seeded}),
        5 => json!({"username": "", "password": ""}),
        6 => json!({"username": seeded, "password": "x".repeat(rng.between(1025, 5000))}),
        7 => json!({"username": json_value(rng, 2), "password": json_value(rng, 2)}),
        8 => json_value(rng, 3),
        _ => {
            f.json(garbage(rng));
            return f;
        }
    };
    f.json(body.to_string());
    f
}

fn update_user(rng: &mut Rng, fx: &Fixture) -> Fuzz {
    let mut f = Fuzz::new("PUT /api/v1/user", Method::PUT, "/api/v1/user");
    if rng.chance(15) {
        // A valid change, refused only by how it is sent.
        let body = json!({"firstName": "Renamed", "password": "a brand new password"}).to_string();
        let user = rng.below(fx.people.len());
        wrap_invalidly(rng, &mut f, body.into_bytes(), fx, Some(user));
        return f;
    }
    let a = auth(rng, fx, 80);
    f.auth(&a, fx);
    let mut fields = serde_json::Map::new();
    let bad_name = |rng: &mut Rng| -> Value {
        match rng.below(6) {
            0 => json!(""),
            1 => json!("   "),
            2 => json!("n".repeat(rng.between(51, 500))),
            3 => json!(format!("a{}b", rng.pick(&["\0", "\n", "\u{7}", "\u{85}", "\u{7f}"]))),
            4 => operator(rng),
            _ => number(rng),
        }
    };
    match rng.below(8) {
        0 => {}
        1 => {
            fields.insert("balance".into(), json!(1e9));
            fields.insert("_id".into(), json!(fx.hex(0)));
        }
        2 => {
            fields.insert("firstName".into(), bad_name(rng));
        }
        3 => {
            fields.insert("lastName".into(), bad_name(rng));
            fields.insert("firstName".into(), json!("Valid"));
        }
        4 => {
            fields.insert(
                "password".into(),
                json!(rng.pick(&["short", "", "1234567"]).to_string()),
            );
            fields.insert("firstName".into(), json!("Valid"));
        }
        5 => {
            fields.insert("password".into(), json!("p".repeat(rng.between(129, 3000))));
        }
        6 => {
            fields.insert("firstName".into(), json!("Valid"));
            fields.insert("$set".into(), json!({"balance": 1e9}));
        }
        _ => {
            f.json(garbage(rng));
            return f;
        }
    }
    if rng.chance(20) {
        add_extra(rng, &mut fields, &["firstName", "lastName", "password"]);
    }
    let body = Value::Object(fields);
    if update_is_valid(&body) {
        return update_user(rng, fx);
    }
    f.json(body.to_string());
    f
}

fn update_is_valid(body: &Value) -> bool {
    let field = |k: &str, check: &dyn Fn(&str) -> bool| match body.get(k) {
        None | Some(Value::Null) => Some(true),
        Some(Value::String(s)) => Some(check(s)),
        Some(_) => None,
    };
    let checks = [
        field("firstName", &|s| clean_name("firstName", s).is_ok()),
        field("lastName", &|s| clean_name("lastName", s).is_ok()),
        field("password", &|s| check_password(s).is_ok()),
    ];
    let given = ["firstName", "lastName", "password"]
        .iter()
        .any(|k| body.get(*k).is_some_and(Value::is_string));
    given && checks.iter().all(|c| *c == Some(true)) && !has_dollar_key(body)
}

/// A query string: well-formed pairs with odd values, or malformed syntax.
fn query(rng: &mut Rng, names: &[&str]) -> String {
    match rng.below(10) {
        0 => String::new(),
        1 => rng
            .pick(&[
                "?%zz",
                "?%",
                "?&&&",
                "?=x",
                "?filter",
                "?filter=a&filter=b",
                "?filter[$ne]=x",
                "?filter[]=a",
                "?limit=1&limit=2",
                "?before[$lt]=x",
                "?%FF%FE=%FF",
                "?filter=%C0%AF",
                "?;;",
                "??",
            ])
            .to_string(),
        2 => format!("?{}={}", rng.pick(names), "x".repeat(rng.between(3000, 20_000))),
        _ => {
            let mut pairs = Vec::new();
            for _ in 0..rng.between(1, 3) {
                let name = if rng.chance(85) {
                    rng.pick(names).to_string()
                } else {
                    key(rng)
                };
                pairs.push(format!("{}={}", pct(&name), pct(text(rng))));
            }
            format!("?{}", pairs.join("&"))
        }
    }
}

fn bulk(rng: &mut Rng, fx: &Fixture) -> Fuzz {
    let mut f = Fuzz::new("GET /api/v1/user/bulk", Method::GET, "");
    f.path = format!("/api/v1/user/bulk{}", query(rng, &["filter"]));
    let a = auth(rng, fx, 75);
    f.auth(&a, fx);
    f
}

fn balance(rng: &mut Rng, fx: &Fixture) -> Fuzz {
    let mut f = Fuzz::new("GET /api/v1/account/balance", Method::GET, "");
    f.path = format!("/api/v1/account/balance{}", query(rng, &["user", "userId", "id"]));
    let a = auth(rng, fx, 40);
    f.auth(&a, fx);
    if rng.chance(10) {
        f.json(json!({"userId": fx.hex(0)}).to_string());
    }
    f
}

fn transactions(rng: &mut Rng, fx: &Fixture) -> Fuzz {
    let mut f = Fuzz::new("GET /api/v1/account/transactions", Method::GET, "");
    f.path = if rng.chance(50) {
        let limit = rng.pick(&[
            "0",
            "-1",
            "101",
            "1000",
            "1e2",
            "abc",
            "",
            " 5",
            "%2B5",
            "99999999999999999999999",
            "5.0",
            "%00",
        ]);
        let before = rng.pick(&[
            "zzz",
            "",
            "0123456789abcdef0123456",
            "0123456789abcdef012345678",
            "%7B%22%24lt%22%3A1%7D",
            "%00",
            "ffffffffffffffffffffffff",
            "FFFFFFFFFFFFFFFFFFFFFFFF",
        ]);
        format!("/api/v1/account/transactions?limit={limit}&before={before}")
    } else {
        format!("/api/v1/account/transactions{}", query(rng, &["limit", "before"]))
    };
    let a = auth(rng, fx, 75);
    f.auth(&a, fx);
    f
}

fn transfer(rng: &mut Rng, fx: &Fixture) -> Fuzz {
    let mut f = Fuzz::new(
        "POST /api/v1/account/transfer",
        Method::POST,
        "/api/v1/account/transfer",
    );
    let sender = rng.below(fx.people.len());
    let recipient = (sender + 1 + rng.below(fx.people.len() - 1)) % fx.people.len();
    // An Idempotency-Key header, sometimes; a valid one only if allowed.
    let key = |rng: &mut Rng, f: &mut Fuzz, allow_valid: bool| {
        if rng.chance(30) {
            let mut k = match rng.below(5) {
                0 if allow_valid => format!("fuzz-{}", rng.next_u64()),
                1 => String::new(),
                2 => "k".repeat(rng.between(129, 4000)),
                3 => "has space".to_owned(),
                _ => text(rng),
            };
            let valid = (1..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic());
            if valid && !allow_valid {
                k.insert(0, ' ');
            }
            f.header("idempotency-key", k);
        }
    };
    match rng.weighted(&[40, 12, 8, 10, 18, 12]) {
        0 => {
            // A real sender and recipient; the amount is what is wrong.
            f.route = "POST /api/v1/account/transfer: bad amount";
            f.auth(&Auth::User(sender, rng.chance(20)), fx);
            key(rng, &mut f, true);
            let body = format!(r#"{{"to":"{}","amount":{}}}"#, fx.hex(recipient), bad_amount(rng));
            f.json(body);
        }
        1 => {
            // A valid amount; a recipient that is nobody else.
            f.route = "POST /api/v1/account/transfer: nobody's account";
            f.auth(&Auth::User(sender, false), fx);
            if rng.chance(10) {
                // No such account, more than the sender has, and a key: the
                // answer must still be "Invalid account", and nothing kept.
                f.header("idempotency-key", format!("fuzz-{}", rng.next_u64()));
                let (amount, _) = good_amount(rng, fx.people[sender].paise + 1, 100_000_000_000);
                f.json(format!(r#"{{"to":"{}","amount":{amount}}}"#, ObjectId::new().to_hex()));
                return f;
            }
            key(rng, &mut f, false);
            let (amount, _) = good_amount(rng, 1, 100);
            let me = fx.hex(sender);
            let to = match rng.below(9) {
                0 => json!(me),
                1 => json!(me.to_uppercase()),
                2 => json!(format!("  {me}\t")),
                3 => json!(&me[..23]),
                4 => json!(format!("{me}0")),
                5 => json!(text(rng)),
                6 => operator(rng),
                7 => json_value(rng, 2),
                _ => json!(ObjectId::new().to_hex()),
            };
            if to.as_str().is_some_and(|t| fx.names_another_user(t, Some(sender))) {
                return transfer(rng, fx);
            }
            f.json(format!(r#"{{"to":{to},"amount":{amount}}}"#));
        }
        2 => {
            // More than the sender has, and no key: refused, nothing stored.
            f.route = "POST /api/v1/account/transfer: over balance";
            f.auth(&Auth::User(sender, false), fx);
            let (amount, _) = good_amount(rng, fx.people[sender].paise + 1, 100_000_000_000);
            f.json(format!(r#"{{"to":"{}","amount":{amount}}}"#, fx.hex(recipient)));
        }
        3 => {
            // A valid transfer, refused only by how it is sent.
            f.route = "POST /api/v1/account/transfer: sent wrongly";
            let body = format!(r#"{{"to":"{}","amount":0.01}}"#, fx.hex(recipient)).into_bytes();
            wrap_invalidly(rng, &mut f, body, fx, Some(sender));
        }
        4 => {
            // A real sender; the body's shape is wrong.
            f.route = "POST /api/v1/account/transfer: bad shape";
            f.auth(&Auth::User(sender, rng.chance(20)), fx);
            key(rng, &mut f, true);
            let to = fx.hex(recipient);
            let body = match rng.below(9) {
                0 => json!({"to": to}),
                1 => json!({"amount": 1}),
                2 => json!({"to": operator(rng), "amount": 1}),
                3 => json!({"to": to, "amount": 1, "$where": "1"}),
                4 => json!({"to": to, "amount": 1, "x": {"y": [{"$ne": null}]}}),
                5 => json!([{"to": to, "amount": 1}]),
                6 => json!({"to": [to], "amount": 1}),
                7 => json!({"to": to.parse::<f64>().unwrap_or(5.0), "amount": 1}),
                _ => json_value(rng, 3),
            };
            if body.get("amount") == Some(&json!(1))
                && body
                    .get("to")
                    .and_then(Value::as_str)
                    .is_some_and(|t| fx.names_another_user(t, Some(sender)))
                && !has_dollar_key(&body)
            {
                return transfer(rng, fx);
            }
            if rng.chance(15) {
                f.json(garbage(rng));
            } else {
                f.json(body.to_string());
            }
        }
        _ => {
            // Anyone but a real user, with anything.
            f.route = "POST /api/v1/account/transfer: no user";
            let a = auth(rng, fx, 0);
            f.auth(&a, fx);
            let body = format!(r#"{{"to":"{}","amount":1}}"#, fx.hex(recipient));
            f.json(if rng.chance(50) {
                body.into_bytes()
            } else {
                garbage(rng)
            });
        }
    }
    f
}

const SERVER_FNS: &[(&str, &[&str])] = &[
    ("sign_up", &["username", "first_name", "last_name", "password"]),
    ("sign_in", &["username", "password"]),
    ("sign_out", &[]),
    ("sign_out_everywhere", &[]),
    ("sessions", &[]),
    ("end_session", &["id"]),
    ("me", &[]),
    (
        "update_profile",
        &["first_name", "last_name", "password", "current_password"],
    ),
    ("search_users", &["filter"]),
    ("person", &["id"]),
    ("sent", &["to", "id"]),
    ("send_money", &["to", "amount", "idempotency_key"]),
    ("transfer", &["id"]),
    ("history", &["before"]),
];

fn server_fn(rng: &mut Rng, fx: &Fixture) -> Fuzz {
    let (name, fields) = *rng.pick(SERVER_FNS);
    let mut f = Fuzz::new("POST /api/<server fn>", Method::POST, format!("/api/{name}"));
    let a = match auth(rng, fx, 60) {
        // Signing out is a valid change for anyone signed in: these are
        // sent without a live session only.
        Auth::User(..) if matches!(name, "sign_out" | "sign_out_everywhere") => Auth::None,
        a => a,
    };
    let sender = a.sender();
    if matches!(a, Auth::User(..) | Auth::Ghost(_)) && rng.chance(80) {
        // The browser's way: the session cookie.
        let token = match a {
            Auth::User(i, _) => fx.people[i].token.clone(),
            _ => fx.ghost.clone(),
        };
        f.header("cookie", format!("paisa_session={token}"));
    } else {
        f.auth(&a, fx);
    }
    // Field values: mostly plausible, often odd.
    let mut pairs: Vec<(String, String)> = Vec::new();
    for &field in fields {
        if rng.chance(12) {
            continue; // missing
        }
        let value = match (field, rng.below(3)) {
            ("username", 0) => fx.people[rng.below(fx.people.len())].email.clone(),
            ("first_name" | "last_name", 0) => "Valid".into(),
            ("password", 0) => format!("wrong password {}", rng.next_u64()),
            ("to", 0) => fx.hex(rng.below(fx.people.len())),
            ("to", 1) => ObjectId::new().to_hex(),
            ("amount", 0) => bad_amount(rng).trim_matches('"').to_owned(),
            ("idempotency_key", 0) => format!("fuzz-{}", rng.next_u64()),
            ("before" | "id", 0) => rng.pick(&["zzz", "", "ffffffffffffffffffffffff"]).to_string(),
            ("current_password", 0) => format!("not the password {}", rng.next_u64()),
            _ => text(rng),
        };
        pairs.push((field.to_owned(), value));
        if rng.chance(5) {
            pairs.push((field.to_owned(), text(rng)));
        }
    }
    if rng.chance(15) {
        let k = rng
            .pick(&["x[]", "a[b]", "$gt", "username[$ne]", "%", "", "&"])
            .to_string();
        if !fields.contains(&k.as_str()) {
            pairs.push((k, text(rng)));
        }
    }
    make_server_fn_invalid(rng, name, &mut pairs, sender, fx);
    let accept = *rng.pick(&[
        "text/html",
        "application/json",
        "*/*",
        "",
        "text/html,application/xhtml+xml",
    ]);
    if !accept.is_empty() {
        f.header("accept", accept);
    }
    if rng.chance(30) {
        f.header(
            "referer",
            rng.pick(&[
                "http://127.0.0.1/signup",
                "javascript:alert(1)",
                "\u{0}",
                "/dashboard?send=x",
            ]),
        );
    }
    match rng.below(12) {
        0 => {
            f.header("content-type", "application/json");
            let map: serde_json::Map<String, Value> = pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            f.body = Some(Value::Object(map).to_string().into_bytes());
        }
        1 => {
            f.header(
                "content-type",
                rng.pick(&[
                    "multipart/form-data; boundary=zz",
                    "text/plain",
                    "application/cbor",
                    "application/x-www-form-urlencoded; charset=utf-16",
                ]),
            );
            f.body = Some(form_body(&pairs));
        }
        2 => f.form(garbage(rng)),
        3 => f.form(format!("{}={}", fields.first().unwrap_or(&"x"), "y".repeat(OVERSIZED)).into_bytes()),
        4 => {
            // As a GET with the arguments in the query.
            f.method = Method::GET;
            f.path = format!("{}?{}", f.path, String::from_utf8(form_body(&pairs)).unwrap());
        }
        5 => {
            f.form(form_body(&pairs));
            f.header("origin", "https://evil.example");
        }
        _ => f.form(form_body(&pairs)),
    }
    if rng.chance(4) {
        f.path = rng
            .pick(&[
                "/api/nope",
                "/api/",
                "/api/sign_up/extra",
                "/api/SIGN_UP",
                "/api/sign_up%00",
                "/api//me",
            ])
            .to_string();
    }
    f
}

/// Makes sure a server function call cannot change anything: for the ones
/// that write (sign-up, profile, send), at least one field is spoiled.
fn make_server_fn_invalid(
    rng: &mut Rng,
    name: &str,
    pairs: &mut Vec<(String, String)>,
    sender: Option<usize>,
    fx: &Fixture,
) {
    let values = |pairs: &Vec<(String, String)>, k: &str| -> Vec<String> {
        pairs.iter().filter(|(n, _)| n == k).map(|(_, v)| v.clone()).collect()
    };
    // Any value a field might be read as (first, last, or any).
    let any_value =
        |pairs: &Vec<(String, String)>, k: &str, ok: &dyn Fn(&str) -> bool| values(pairs, k).iter().any(|v| ok(v));
    // Replaces every occurrence of field `k` by one `bad` value.
    fn spoil(pairs: &mut Vec<(String, String)>, k: &str, bad: &str) {
        pairs.retain(|(n, _)| n != k);
        pairs.push((k.to_owned(), bad.to_owned()));
    }
    match name {
        "sign_up" => {
            let could_be_valid = any_value(pairs, "username", &|v| normalize_email(v).is_ok())
                && any_value(pairs, "first_name", &|v| clean_name("firstName", v).is_ok())
                && any_value(pairs, "last_name", &|v| clean_name("lastName", v).is_ok())
                && any_value(pairs, "password", &|v| check_password(v).is_ok());
            if could_be_valid {
                match rng.below(4) {
                    0 => spoil(pairs, "username", rng.pick::<&str>(&["not-an-email", "", "a@b"])),
                    1 => spoil(pairs, "first_name", rng.pick::<&str>(&["", "   ", "a\u{0}b"])),
                    2 => spoil(pairs, "last_name", &"z".repeat(51)),
                    _ => spoil(pairs, "password", "short"),
                }
            }
        }
        "update_profile" => {
            // Blank names and an empty password mean "unchanged"; any valid
            // given field with no invalid one would change the profile.
            let name_ok = |v: &str| v.trim().is_empty() || clean_name("firstName", v).is_ok();
            let pw_ok = |v: &str| v.is_empty() || check_password(v).is_ok();
            let could_be_valid = any_value(pairs, "first_name", &name_ok)
                || any_value(pairs, "last_name", &name_ok)
                || any_value(pairs, "password", &pw_ok);
            if could_be_valid {
                match rng.below(4) {
                    0 => spoil(pairs, "first_name", &"n".repeat(60)),
                    1 => spoil(pairs, "last_name", "bad\u{7}name"),
                    2 => spoil(pairs, "password", "short"),
                    _ => {
                        spoil(pairs, "first_name", " ");
                        spoil(pairs, "last_name", "");
                        spoil(pairs, "password", "");
                    }
                }
                // All three present: one is now invalid, or all are blank.
                for k in ["first_name", "last_name", "password"] {
                    if values(pairs, k).is_empty() {
                        pairs.push((k.to_owned(), String::new()));
                    }
                }
                let invalid_given = values(pairs, "first_name")
                    .iter()
                    .chain(&values(pairs, "last_name"))
                    .any(|v| !name_ok(v))
                    || values(pairs, "password").iter().any(|v| !pw_ok(v));
                if !invalid_given {
                    spoil(pairs, "first_name", "");
                    spoil(pairs, "last_name", "");
                    spoil(pairs, "password", "");
                }
            }
        }
        "send_money" => {
            let amount_ok = any_value(pairs, "amount", &|v| Money::parse_rupees(v).is_ok());
            let to_someone = values(pairs, "to")
                .iter()
                .any(|t| ObjectId::parse_str(t.trim()).is_ok_and(|id| sender.is_none_or(|s| fx.people[s].id != id)));
            if amount_ok && to_someone {
                spoil(pairs, "amount", &bad_amount(rng).trim_matches('"').replace('"', ""));
                if Money::parse_rupees(&values(pairs, "amount")[0]).is_ok() {
                    spoil(pairs, "amount", "-1");
                }
            }
        }
        _ => {}
    }
}

fn page(rng: &mut Rng, fx: &Fixture) -> Fuzz {
    let mut f = Fuzz::new("GET <page>", Method::GET, "");
    let id = fx.hex(rng.below(fx.people.len()));
    let t = pct(text(rng));
    f.path = match rng.below(16) {
        0 => "/".to_owned(),
        1 => "/signin".to_owned(),
        2 => "/signup".to_owned(),
        3 => "/dashboard".to_owned(),
        4 => format!("/dashboard?send={}", rng.pick(&[id.as_str(), "zzz", "", t.as_str()])),
        5 => format!("/dashboard?send={id}&sent={t}"),
        6 => format!("/dashboard?q={t}&filter={t}"),
        7 => format!(
            "/transactions?before={}",
            rng.pick(&["zzz", "", "ffffffffffffffffffffffff", t.as_str()])
        ),
        8 => "/transactions".to_owned(),
        9 => format!("/profile?saved={t}"),
        10 => format!("/signin?error={t}&redirect=https://evil.example"),
        11 => format!(
            "/signup?{}",
            pct((0..rng.between(1, 40))
                .map(|_| rng.next_u64() as u8)
                .collect::<Vec<_>>())
        ),
        12 => format!("/dashboard{}", query(rng, &["send", "sent", "q"])),
        13 => format!("/{}", "a/".repeat(rng.between(1, 2000))),
        14 => rng
            .pick(&[
                "/nope",
                "/dashboard/extra",
                "/%2e%2e/%2e%2e/etc/passwd",
                "/pkg/paisa.js",
                "/pkg/../Cargo.toml",
                "/favicon.ico",
                "/api",
                "/api/v1",
                "/api/v1/",
                "/api/v1/nope",
                "/healthz?x=1",
                "/%00",
                "/%FF",
                "/signin/",
                "//dashboard",
                "/style/main.css",
                "/.env",
                "/.git/config",
            ])
            .to_string(),
        _ => format!("/{}", t),
    };
    let a = auth(rng, fx, 50);
    f.auth(&a, fx);
    if rng.chance(8) {
        f.method = rng
            .pick(&[Method::POST, Method::PUT, Method::DELETE, Method::HEAD])
            .clone();
        if f.method != Method::HEAD {
            f.form(form_body(&[("username".into(), text(rng))]));
        }
    }
    f
}

fn misc(rng: &mut Rng, fx: &Fixture) -> Fuzz {
    let paths = [
        "/api/v1/user/signup",
        "/api/v1/user/signin",
        "/api/v1/user",
        "/api/v1/user/bulk",
        "/api/v1/account/balance",
        "/api/v1/account/transfer",
        "/api/v1/account/transactions",
        "/api/sign_up",
        "/api/send_money",
        "/healthz",
        "/dashboard",
    ];
    let path = rng.pick(&paths).to_string();
    let mut f = Fuzz::new("wrong method / preflight", Method::GET, path.clone());
    match rng.below(4) {
        0 => {
            // Methods the route does not take.
            let own = match path.as_str() {
                "/api/v1/user" => Method::PUT,
                "/api/v1/user/signup" | "/api/v1/user/signin" | "/api/v1/account/transfer" => Method::POST,
                p if p.starts_with("/api/") && !p.starts_with("/api/v1") => Method::POST,
                _ => Method::GET,
            };
            let methods = [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::PATCH,
                Method::TRACE,
                Method::from_bytes(b"FUZZ").unwrap(),
                Method::from_bytes(b"PROPFIND").unwrap(),
            ];
            let m = rng.pick(&methods).clone();
            if m == own {
                f.method = Method::DELETE;
            } else {
                f.method = m;
            }
            let a = auth(rng, fx, 60);
            f.auth(&a, fx);
            let body = format!(
                r#"{{"to":"{}","amount":1,"username":"fuzz{}@example.com","firstName":"F","lastName":"T","password":"long enough pw"}}"#,
                fx.hex(1),
                rng.next_u64()
            );
            f.json(body);
        }
        1 => {
            f.method = Method::OPTIONS;
            f.header(
                "origin",
                rng.pick(&["https://evil.example", "null", "http://127.0.0.1"]),
            );
            f.header(
                "access-control-request-method",
                rng.pick(&["POST", "PUT", "DELETE", "FUZZ"]),
            );
            f.header(
                "access-control-request-headers",
                rng.pick(&["authorization, content-type", "idempotency-key", "x-evil"]),
            );
        }
        2 => {
            f.method = Method::HEAD;
            let a = auth(rng, fx, 50);
            f.auth(&a, fx);
        }
        _ => {
            // Oversized everything: body, query, header.
            f.method = Method::POST;
            match rng.below(3) {
                0 => f.json(vec![b'x'; rng.between(OVERSIZED, 200_000)]),
                1 => f.path = format!("{path}?q={}", "q".repeat(rng.between(8_000, 30_000))),
                _ => f.header("x-fuzz", "h".repeat(rng.between(8_000, 30_000))),
            }
            let a = auth(rng, fx, 0);
            f.auth(&a, fx);
        }
    }
    f
}

/// Decorations any request may get: a client address for the rate limiter
/// (usually a fresh one, so the limiter is exercised but seldom the answer),
/// a long or odd header, a forged session cookie alongside.
fn decorate(rng: &mut Rng, f: &mut Fuzz) {
    let ip = format!("10.{}.{}.{}", rng.below(256), rng.below(256), rng.below(256));
    match rng.below(50) {
        0 => f.header(
            "x-forwarded-for",
            rng.pick(&["garbage", "", "999.1.1.1", "::ffff:zz", "1.2.3.4, not-an-ip"]),
        ),
        1 => f.header("x-forwarded-for", format!("{ip}, 127.0.0.1, {ip}")),
        _ => f.header("x-forwarded-for", ip),
    }
    if rng.chance(2) {
        f.header("x-fuzz", "v".repeat(rng.between(16 * 1024, 24 * 1024)));
    }
    if rng.chance(2) {
        f.header(
            "cookie",
            format!("paisa_session=; other={}", "c".repeat(rng.between(100, 20_000))),
        );
    }
    if rng.chance(2) {
        for i in 0..rng.between(10, 60) {
            f.header(&format!("x-fuzz-{i}"), format!("{}", rng.next_u64()));
        }
    }
    if rng.chance(2) {
        f.header("content-length-ish", "\u{ff}\u{fe}");
    }
}

fn generate(rng: &mut Rng, fx: &Fixture) -> Fuzz {
    type Generator = fn(&mut Rng, &Fixture) -> Fuzz;
    let generators: [(u32, Generator); 10] = [
        (9, signup),
        (6, signin),
        (9, update_user),
        (9, bulk),
        (5, balance),
        (20, transfer),
        (8, transactions),
        (19, server_fn),
        (9, page),
        (6, misc),
    ];
    let weights: Vec<u32> = generators.iter().map(|(w, _)| *w).collect();
    let mut f = (generators[rng.weighted(&weights)].1)(rng, fx);
    decorate(rng, &mut f);
    f
}

// ----- the fixture and the snapshot -------------------------------------------------------------

async fn fixture(env: &TestEnv) -> Fixture {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    let balances = [10_000i64, 50, 100_000, 1];
    let mut people = Vec::new();
    for (i, (first, last)) in [
        ("Asha", "Rao"),
        ("Ravi", "Kumar"),
        ("Carol", "Dsouza"),
        ("Dev", "Patel"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = env.user(first, last).await;
        set_balance(&env.db, id, balances[i]).await;
        let user = find(&env.db, "users", doc! {"_id": id}).await.unwrap();
        let email = user.get_str("username").unwrap().to_owned();
        people.push(Person {
            id,
            email,
            // A real token, as signing in gives.
            token: env.token(id).await,
            paise: balances[i],
        });
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sub = people[0].id.to_hex();
    let sign = |header: Header, claims: Value, secret: &[u8]| {
        encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap()
    };
    let claims = |sub: &str, exp: u64| json!({"sub": sub, "iat": now, "exp": exp});
    let good = people[0].token.clone();
    let mut parts: Vec<&str> = good.split('.').collect();
    parts[2] = "AAAA";
    let bad_signature = parts.join(".");
    let bad_tokens = vec![
        sign(
            Header::default(),
            claims(&sub, now + 600),
            b"someone else's secret, long enough",
        ),
        sign(Header::default(), claims(&sub, now - 10), TEST_SECRET),
        sign(Header::new(Algorithm::HS384), claims(&sub, now + 600), TEST_SECRET),
        sign(Header::default(), claims("admin", now + 600), TEST_SECRET),
        sign(
            Header::default(),
            json!({"sub": {"$ne": null}, "exp": now + 600}),
            TEST_SECRET,
        ),
        sign(Header::default(), json!({"sub": sub}), TEST_SECRET),
        format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            good.split('.').nth(1).unwrap()
        ),
        bad_signature,
        format!("{good}x"),
        good[..good.len() - 1].to_owned(),
        "garbage".into(),
        String::new(),
        "a.b.c".into(),
        "....".into(),
        "e".repeat(20_000),
        "ü🙂例".into(),
        "\u{0}\u{1}".into(),
    ];
    let ghost = sign(
        Header::default(),
        claims(&ObjectId::new().to_hex(), now + 3600),
        TEST_SECRET,
    );
    Fixture {
        people,
        bad_tokens,
        ghost,
    }
}

/// Every document of every collection, in `_id` order.
/// Every document of every collection but the instances' heartbeats
/// (each instance's liveness, rewritten every second: not data).
async fn snapshot(db: &mongodb::Database) -> BTreeMap<String, Vec<Document>> {
    let mut all = BTreeMap::new();
    for name in db.list_collection_names().await.unwrap() {
        if name == paisa::server::changes::HEARTBEATS {
            continue;
        }
        let mut docs = Vec::new();
        let mut cursor = db
            .collection::<Document>(&name)
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .await
            .unwrap();
        while cursor.advance().await.unwrap() {
            docs.push(cursor.deserialize_current().unwrap());
        }
        all.insert(name, docs);
    }
    all
}

fn summary(snapshot: &BTreeMap<String, Vec<Document>>) -> String {
    let mut out = String::new();
    for (name, docs) in snapshot {
        let _ = write!(out, "{name}: {}  ", docs.len());
    }
    let balances: Vec<i64> = snapshot
        .get("accounts")
        .map(|a| a.iter().map(|d| d.get_i64("balance").unwrap()).collect())
        .unwrap_or_default();
    let _ = write!(out, "balances: {balances:?} (sum {})", balances.iter().sum::<i64>());
    out
}

/// The documents only one side has, a few per collection.
fn difference(before: &BTreeMap<String, Vec<Document>>, after: &BTreeMap<String, Vec<Document>>) -> String {
    let mut out = String::new();
    let empty = Vec::new();
    for name in before.keys().chain(after.keys().filter(|k| !before.contains_key(*k))) {
        let (b, a) = (before.get(name).unwrap_or(&empty), after.get(name).unwrap_or(&empty));
        for d in a.iter().filter(|d| !b.contains(d)).take(5) {
            let _ = writeln!(out, "  {name} gained: {d}");
        }
        for d in b.iter().filter(|d| !a.contains(d)).take(5) {
            let _ = writeln!(out, "  {name} lost:   {d}");
        }
    }
    out
}

// ----- the run --------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_invalid_requests_get_4xx_and_change_nothing() {
    let mut env = TestEnv::new().await;
    // Rate limits per client address come from X-Forwarded-For, which each
    // request sets (mostly to a fresh address): the limiter is exercised
    // without answering most of the run with 429.
    env.state.trust_forwarded_for = true;
    let base = env.serve().await;
    let http = client();
    let fx = fixture(&env).await;

    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_fa11_u64);
    let total = std::env::var("FUZZ_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_REQUESTS);
    let mut rng = Rng::new(seed);
    let requests: Vec<Fuzz> = (0..total).map(|_| generate(&mut rng, &fx)).collect();

    let before = snapshot(&env.db).await;
    let started = Instant::now();
    let outcomes: Vec<(&'static str, Result<StatusCode, String>, Fuzz, Duration)> = futures::stream::iter(requests)
        .map(|f| {
            let http = &http;
            let base = &base;
            async move {
                let sent = Instant::now();
                let mut req = http
                    .request(f.method.clone(), format!("{base}{}", f.path))
                    .timeout(TIMEOUT);
                for (name, value) in &f.headers {
                    req = req.header(name.clone(), value.clone());
                }
                if let Some(body) = &f.body {
                    if body.len() > 16 * 1024 {
                        // The server answers these (413) without reading the
                        // body, and hyper then closes the connection without
                        // saying so in the response: a keep-alive client that
                        // reuses it gets a broken pipe on its next request.
                        // Not what this test is about: don't reuse it.
                        req = req.header("connection", "close");
                    }
                    req = req.body(body.clone());
                }
                let outcome = match req.send().await {
                    Ok(res) => {
                        let status = res.status();
                        match res.bytes().await {
                            Ok(body) if status.is_server_error() => {
                                Err(format!("{status}: {}", clip(&String::from_utf8_lossy(&body), 300)))
                            }
                            // Every request is invalid: a write route must never accept one.
                            Ok(body) if status.is_success() && WRITES.iter().any(|w| f.route.starts_with(w)) => Err(
                                format!("{status} (accepted!): {}", clip(&String::from_utf8_lossy(&body), 300)),
                            ),
                            Ok(_) => Ok(status),
                            Err(e) => Err(format!("{status}, then reading the body failed: {e}")),
                        }
                    }
                    Err(e) => Err(format!("no response: {}", chain(&e))),
                };
                (f.route, outcome, f, sent.elapsed())
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let after = snapshot(&env.db).await;

    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_route: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut server_errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut latency: BTreeMap<&str, (Duration, Duration)> = BTreeMap::new();
    for (route, outcome, f, took) in &outcomes {
        let (sum, max) = latency.entry(route).or_default();
        *sum += *took;
        *max = (*max).max(*took);
        let label = match outcome {
            Ok(status) => status.as_u16().to_string(),
            Err(e) if e.starts_with("no response") => "error".to_owned(),
            Err(e) => e[..3].to_owned(),
        };
        *histogram.entry(label.clone()).or_default() += 1;
        *by_route.entry(route).or_default().entry(label).or_default() += 1;
        if matches!(outcome, Err(e) if !e.starts_with("no response") && !e.contains("accepted!")) {
            let line = format!("{} {}", f.method, f.path.split('?').next().unwrap_or_default());
            *server_errors.entry(line).or_default() += 1;
        }
        if let Err(e) = outcome {
            // The worst first: accepted writes and lost connections, then 5xx.
            let rank = if e.contains("accepted!") || e.starts_with("no response") {
                0
            } else {
                1
            };
            failures.push((rank, format!("{e}\n  for {}", f.describe())));
        }
    }
    println!(
        "fuzz: {} requests (seed {seed:#x}) in {:.1} s, {:.0} requests/s, {IN_FLIGHT} in flight",
        outcomes.len(),
        elapsed.as_secs_f64(),
        outcomes.len() as f64 / elapsed.as_secs_f64()
    );
    println!("status histogram: {histogram:?}");
    for (route, statuses) in &by_route {
        let n: usize = statuses.values().sum();
        let (sum, max) = latency[route];
        println!(
            "  {route:<52} mean {:>5.1} ms, max {:>6.1} ms  {statuses:?}",
            sum.as_secs_f64() * 1000.0 / n as f64,
            max.as_secs_f64() * 1000.0
        );
    }
    if !server_errors.is_empty() {
        println!("5xx by request line: {server_errors:?}");
    }
    println!("database before: {}", summary(&before));
    println!("database after:  {}", summary(&after));

    // Both verdicts in one message: a run that fails should say everything.
    let mut problems = Vec::new();
    if !failures.is_empty() {
        failures.sort_by_key(|(rank, _)| *rank);
        let first: Vec<String> = failures.iter().take(15).map(|(_, f)| f.clone()).collect();
        problems.push(format!(
            "{} of {} requests got a 5xx, no response, or were accepted; the first ones:\n\n{}",
            failures.len(),
            outcomes.len(),
            first.join("\n\n")
        ));
    }
    if before != after {
        problems.push(format!(
            "the database changed\nbefore: {}\nafter:  {}\n{}",
            summary(&before),
            summary(&after),
            difference(&before, &after)
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n----------\n\n"));
    if std::env::var("FUZZ_REQUESTS").is_err() {
        assert!(outcomes.len() >= 10_000);
    }
}

/// Hostile clients from one address: more idle sockets than the instance's
/// whole connection limit, a half-sent HTTP/2 preface and an HTTP/1 head
/// trickled in a header a second. Meanwhile another address is served
/// within a second, every time, on fresh connections; and by 10 s (plus a
/// tick) after they connected, the server has closed every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_client_cannot_take_the_instance_away_from_others() {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    let env = TestEnv::new().await;
    let mut state = env.state.clone();
    state.connections.total = 64;
    state.connections.per_address = Some(16);
    let head = state.connections.head;
    let base = common::serve(state).await;
    let user = env.user("Asha", "Rao").await;
    let token = env.token(user).await;
    let addr: SocketAddr = base.trim_start_matches("http://").parse().unwrap();

    // The half preface and the trickle first, so the server takes them
    // (of the rest, it keeps the address's sixteen and closes the others).
    let began = Instant::now();
    let mut preface = TcpStream::connect(addr).await.unwrap();
    preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let mut held = vec![preface];
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    for _ in 0..100 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    let trickle = tokio::spawn(async move {
        // A header a second, never the blank line that ends the head.
        for i in 0.. {
            if slow.write_all(format!("X-{i}: y\r\n").as_bytes()).await.is_err() {
                return (i, slow);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        unreachable!()
    });

    // Another address, a fresh connection each time.
    let other = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut slowest = Duration::ZERO;
    while began.elapsed() < head + Duration::from_secs(2) {
        for (path, auth) in [("/healthz", None), ("/api/v1/account/balance", Some(&token))] {
            let sent = Instant::now();
            let mut request = other.get(format!("{base}{path}"));
            if let Some(token) = auth {
                request = request.bearer_auth(token);
            }
            let status = request
                .send()
                .await
                .map(|r| r.status())
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(status, StatusCode::OK, "{path}");
            slowest = slowest.max(sent.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("slowest answer to the other address: {slowest:?}");
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");

    // Every hostile connection is closed by now: a read sees its end.
    for (i, socket) in held.iter_mut().enumerate() {
        let mut buf = [0_u8; 64];
        let read = tokio::time::timeout(Duration::from_millis(100), socket.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "socket {i} still open {:?} after connecting",
            began.elapsed()
        );
    }
    let (headers_sent, _) = tokio::time::timeout(Duration::from_secs(2), trickle)
        .await
        .expect("the trickled head is cut off")
        .unwrap();
    assert!(
        headers_sent <= head.as_secs() as usize + 2,
        "{headers_sent} headers trickled in"
    );
}
