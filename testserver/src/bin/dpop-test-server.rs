//! `dpop-test-server`: the strict DPoP test server as a process, for `make demo` and tests in
//! other languages. Runs until killed.

use dpop_testserver::{
    AuthorizationIss, Client, ClientAuth, Config, IdTokenFault, MetadataDocuments, MetadataFault, Server,
};
use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "usage: dpop-test-server [options]
  --port N                 listen on 127.0.0.1:N (default 0: a free port)
  --port-file PATH         write the bound port to PATH once listening
  --require-nonce          demand DPoP nonces at the token endpoint and the API
  --nonce-every-request    the API rejects every request with a fresh nonce
  --token-nonce-every-request   the token endpoint rejects every request with a fresh nonce
  --ttl SECONDS            access token lifetime (default 300)
  --refresh-tokens         issue refresh tokens
  --no-rotate-refresh-tokens   a refresh token stays valid after use (default: replaced)
  --jwt-bearer-assertion A the jwt-bearer grant accepts the assertion A as it is
  --jwt-bearer-jwk JWK     the jwt-bearer grant accepts JWTs signed by this public JWK (JSON,
                           or a file holding it)
  --token-type TYPE        token_type of token responses (default DPoP)
  --iat-window SECONDS     allowed proof iat skew (default 60)
  --rotate-nonce-every N   a new nonce after every N token and API requests (default never)
  --no-record              keep counters only, not each request (for long runs)
  --tls-cert PEM --tls-key PEM   serve HTTPS with this certificate chain and key
  --client ID:SECRET       a client (repeatable; replaces the default m2m.dpop:secret)
  --client-jwt ID:SECRET   a client_secret_jwt client (HS256 assertions only; repeatable)
  --client-key ID:JWK      a private_key_jwt client with this public JWK (JSON, or a file
                           holding it; EC P-256/P-384, Ed25519, RSA; repeatable)
  --public-client ID       a public client (client_id only, no client_credentials; repeatable)
  --assertion-aud-issuer-only   a client assertion's aud must be the issuer, one string
  --issuer-path PATH       the issuer is base URL + PATH (e.g. /tenant1); metadata at
                           /.well-known/oauth-authorization-server/tenant1 and
                           /tenant1/.well-known/openid-configuration
  --metadata WHICH         both (default) | openid | oauth | none: the documents served
  --issuer-override URL    the metadata claims this issuer (tokens keep the real one)
  --metadata-fault F       not-json | no-token-endpoint: the metadata is broken
  --token-retry-after R    the first token requests get 503/429 + Retry-After, R is
                           STATUS:SECONDS:COUNT[:date] (date: an HTTP-date, not seconds)
  --api-retry-after R      the same for the API
  --token-fault FAULT      the token endpoint misbehaves (see below)
  --api-fault FAULT        the API misbehaves (see below)
  --quiet                  do not log requests to stderr
  --clock-offset SECONDS   the server's clock is real time + SECONDS (may be negative): proof
                           iat checks, token times and the Date header of every answer
  --api-algs LIST          proof algs the API accepts, e.g. ES256,PS256 (default all)
  --dpop-algs LIST         proof algs the token endpoint accepts, served as
                           dpop_signing_alg_values_supported (default all)
  --terse-errors           invalid_dpop_proof answers carry no error_description
  --public-base-url URL    expect htu = URL + path (a gateway rewrote the URL)
Sign-in (GET /authorize approves at once; POST /par; the authorization_code grant):
  --redirect-uri URI       a redirect URI every client may use (repeatable; replaces the
                           default http://127.0.0.1/callback); loopback ones match on any port
  --require-par            authorization requests must be pushed first (RFC 9126), also in
                           the metadata (require_pushed_authorization_requests)
  --deny-authorization     every authorization request is answered with access_denied
  --iss MODE               correct (default) | omit | wrong: the iss of authorization
                           responses (RFC 9207)
  --no-iss-metadata        the metadata does not say authorization_response_iss_parameter_supported
  --code-ttl SECONDS       lifetime of codes and pushed request_uris (default 60)
  --id-token-fault F       wrong-nonce | wrong-aud | wrong-iss | missing: the id_token of an
                           openid code grant is broken
FAULT: 500 (a 500 error), html (an HTML page), no-access-token (a token response without one),
  hang (never answer), reset (reset the connection), huge:BYTES (a body of BYTES, not held in
  memory), trickle:BYTES:PER_SECOND (a slow body), redirect:URL (a 302 to URL), binary (a body
  of every byte value), malformed-challenge (a 401 with a broken WWW-Authenticate),
  nonce-on-200 (a fresh DPoP-Nonce on every 2xx), invalid-token (the API refuses every token)";

struct Options {
    config: Config,
    port: u16,
    port_file: Option<String>,
    quiet: bool,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut args = args.peekable();
    let mut options = Options {
        config: Config::default(),
        port: 0,
        port_file: None,
        quiet: false,
    };
    let mut clients = Vec::new();
    let mut redirect_uris = Vec::new();
    let (mut cert, mut key) = (None, None);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |text: String| {
            text.parse::<u64>()
                .map_err(|_| format!("{flag}: '{text}' is not a number"))
        };
        let config = &mut options.config;
        match flag.as_str() {
            "--port" => {
                let text = value()?;
                options.port = text
                    .parse()
                    .map_err(|_| format!("--port: '{text}' is not a port"))?;
            }
            "--port-file" => options.port_file = Some(value()?),
            "--require-nonce" => {
                config.require_nonce_token = true;
                config.require_nonce_api = true;
            }
            "--nonce-every-request" => config.api_nonce_every_request = true,
            "--token-nonce-every-request" => config.token_nonce_every_request = true,
            "--token-fault" => config.token_fault = Some(value()?.parse()?),
            "--api-fault" => config.api_fault = Some(value()?.parse()?),
            "--ttl" => config.token_ttl = number(value()?)?,
            "--refresh-tokens" => config.issue_refresh_tokens = true,
            "--token-type" => config.token_type = value()?,
            "--iat-window" => config.iat_window = number(value()?)?,
            "--rotate-nonce-every" => config.rotate_nonce_every = number(value()?)?,
            "--no-record" => config.record_requests = false,
            "--tls-cert" => cert = Some(value()?),
            "--tls-key" => key = Some(value()?),
            "--client" => {
                clients.push(pair(&flag, &value()?)?);
            }
            "--client-jwt" => {
                let (id, secret) = pair(&flag, &value()?)?;
                config.registered_clients.push(Client {
                    id,
                    auth: ClientAuth::SecretJwt(secret),
                });
            }
            "--no-rotate-refresh-tokens" => config.rotate_refresh_tokens = false,
            "--jwt-bearer-assertion" => config.jwt_bearer_assertion = Some(value()?),
            "--jwt-bearer-jwk" => config.jwt_bearer_jwk = Some(jwk(&flag, value()?)?),
            "--client-key" => {
                let (id, text) = pair(&flag, &value()?)?;
                let jwk = jwk(&flag, text)?;
                config.registered_clients.push(Client {
                    id,
                    auth: ClientAuth::PrivateKeyJwt(jwk),
                });
            }
            "--public-client" => config.registered_clients.push(Client {
                id: value()?,
                auth: ClientAuth::None,
            }),
            "--assertion-aud-issuer-only" => config.assertion_aud_issuer_only = true,
            "--issuer-path" => config.issuer_path = Some(value()?),
            "--metadata" => {
                config.metadata_documents = match value()?.as_str() {
                    "both" => MetadataDocuments::Both,
                    "openid" => MetadataDocuments::OpenIdOnly,
                    "oauth" => MetadataDocuments::OAuthOnly,
                    "none" => MetadataDocuments::None,
                    other => {
                        return Err(format!(
                            "--metadata: '{other}' is not both, openid, oauth or none"
                        ))
                    }
                }
            }
            "--issuer-override" => config.issuer_override = Some(value()?),
            "--metadata-fault" => {
                config.metadata_fault = Some(match value()?.as_str() {
                    "not-json" => MetadataFault::NotJson,
                    "no-token-endpoint" => MetadataFault::NoTokenEndpoint,
                    other => {
                        return Err(format!(
                            "--metadata-fault: '{other}' is not not-json or no-token-endpoint"
                        ))
                    }
                })
            }
            "--token-retry-after" => config.token_retry_after = Some(value()?.parse()?),
            "--api-retry-after" => config.api_retry_after = Some(value()?.parse()?),
            "--quiet" => options.quiet = true,
            "--clock-offset" => {
                let text = value()?;
                config.clock_offset_secs = text
                    .parse()
                    .map_err(|_| format!("--clock-offset: '{text}' is not a number"))?;
            }
            "--api-algs" => config.api_algs = list(&value()?),
            "--dpop-algs" => config.dpop_signing_alg_values_supported = list(&value()?),
            "--terse-errors" => config.terse_errors = true,
            "--public-base-url" => config.public_base_url = Some(value()?),
            "--redirect-uri" => redirect_uris.push(value()?),
            "--require-par" => config.require_par = true,
            "--deny-authorization" => config.deny_authorization = true,
            "--iss" => {
                config.authorization_iss = match value()?.as_str() {
                    "correct" => AuthorizationIss::Correct,
                    "omit" => AuthorizationIss::Omitted,
                    "wrong" => AuthorizationIss::Wrong,
                    other => return Err(format!("--iss: '{other}' is not correct, omit or wrong")),
                }
            }
            "--no-iss-metadata" => config.advertise_iss_parameter = false,
            "--code-ttl" => config.code_ttl = number(value()?)?,
            "--id-token-fault" => {
                config.id_token_fault = Some(match value()?.as_str() {
                    "wrong-nonce" => IdTokenFault::WrongNonce,
                    "wrong-aud" => IdTokenFault::WrongAudience,
                    "wrong-iss" => IdTokenFault::WrongIssuer,
                    "missing" => IdTokenFault::Missing,
                    other => {
                        return Err(format!(
                            "--id-token-fault: '{other}' is not wrong-nonce, wrong-aud, wrong-iss or missing"
                        ))
                    }
                })
            }
            "-h" | "--help" => return Err(String::new()),
            _ => return Err(format!("unknown option '{flag}'")),
        }
    }
    if !clients.is_empty() {
        options.config.clients = clients;
    }
    if !redirect_uris.is_empty() {
        options.config.redirect_uris = redirect_uris;
    }
    options.config.tls = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok(options)
}

/// A JWK given as JSON text or as the path of a file holding it.
fn jwk(flag: &str, text: String) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(&text).unwrap_or(text);
    serde_json::from_str(&text).map_err(|e| format!("{flag}: the JWK is not JSON: {e}"))
}

/// The two halves of `ID:VALUE`.
fn pair(flag: &str, text: &str) -> Result<(String, String), String> {
    let (id, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{flag} needs ID:VALUE"))?;
    Ok((id.to_owned(), value.to_owned()))
}

/// The items of a comma- or space-separated list.
fn list(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Writes the port to `path` through a temporary file, so a reader never sees a partial file.
fn write_port_file(path: &str, port: u16) -> std::io::Result<()> {
    let temporary = format!("{path}.tmp{}", std::process::id());
    std::fs::write(&temporary, format!("{port}\n"))?;
    std::fs::rename(&temporary, path)
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("dpop-test-server: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(if message.is_empty() { 0 } else { 2 });
        }
    };
    let server = match Server::start_on(options.config, options.port) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("dpop-test-server: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    server.log_requests(!options.quiet);
    if let Some(path) = &options.port_file {
        if let Err(e) = write_port_file(path, server.port()) {
            eprintln!("dpop-test-server: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "dpop-test-server listening on {}", server.base_url());
    let _ = stdout.flush();
    loop {
        std::thread::park();
    }
}
