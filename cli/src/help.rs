//! The help texts (`dpop --help`, `dpop <command> --help`).

pub const MAIN: &str = "\
dpop: OAuth 2.0 DPoP (RFC 9449) from the command line, over libdpop's core

usage: dpop <command> [options]

commands:
  keygen               generate a private key (PKCS#8 PEM)
  thumbprint KEY       print a key's JWK thumbprint (the dpop_jkt / cnf.jkt value)
  jwk KEY              print a key's public JWK
  proof                print one DPoP proof JWT
  get URL              GET with a DPoP proof and a DPoP-bound access token
  post URL             POST, likewise
  request METHOD URL   any method, likewise

  dpop <command> --help   the command's options
  dpop --version          the version

Secrets are never taken from the command line, where other users see them (ps, /proc):
  DPOP_KEY_PASSWORD    the password of an encrypted key (or --password-file FILE)
  DPOP_CLIENT_SECRET   the client secret, when the token settings do not hold it

exit status:
  0  success; for get, post and request: a 2xx response
  1  the server answered with another status (the body is still printed)
  2  bad usage: unknown command or option, a missing or invalid value, a URL, method, header
     or body the request cannot use, an input file that cannot be read, bad token settings
  3  key problem: the key file is missing or unreadable, not a supported private key, or
     its password is missing or wrong
  4  network problem: the server cannot be reached, TLS fails, a timeout, an invalid or
     oversized response
  5  token endpoint problem: it refused the client (a wrong secret, ...), or gave no usable
     DPoP token
  6  other errors: an output file that cannot be written, ...
Errors are one line on stderr, starting with 'dpop: '; they never show a secret.
";

pub const KEYGEN: &str = "\
usage: dpop keygen [--alg ES256|ES384|EdDSA|PS256|RS256] [--out FILE [--force]] [--password | --password-file FILE]

Generates a private key and writes it as PKCS#8 PEM to FILE (created readable by its owner
only) or to stdout. Its thumbprint goes to stderr.

  --alg ALG             ES256 (default), ES384, EdDSA (Ed25519), or PS256 or RS256 (RSA,
                        3072 bits; a PEM file does not record RS256 and loads as PS256)
  --out FILE            write the key to FILE instead of stdout; an existing FILE is kept
  --force               replace an existing FILE (a token bound to the old key stops working)
  --password            encrypt the key (PBES2: PBKDF2-SHA256, AES-256-CBC) with the password
                        in DPOP_KEY_PASSWORD
  --password-file FILE  encrypt it with the first line of FILE ('-': stdin)
The password is never an argument: other users of the machine can read every argument.
";

pub const THUMBPRINT: &str = "\
usage: dpop thumbprint KEY [--password-file FILE]

Prints the RFC 7638 SHA-256 thumbprint of KEY's public JWK: the dpop_jkt of an authorization
request and the cnf.jkt of a bound token. KEY is a file (PEM, DER or JWK; '-': stdin); an
encrypted key's password comes from DPOP_KEY_PASSWORD or --password-file FILE.
";

pub const JWK: &str = "\
usage: dpop jwk KEY [--private] [--password-file FILE]

Prints KEY's public JWK (members in RFC 7638 order). KEY is a file (PEM, DER or JWK; '-':
stdin); an encrypted key's password comes from DPOP_KEY_PASSWORD or --password-file FILE.

  --private   print the private JWK (with \"d\") instead, with a warning on stderr
";

pub const PROOF: &str = "\
usage: dpop proof --key KEY --method METHOD --url URL [options]

Prints one DPoP proof JWT (RFC 9449 section 4.2), to send as the DPoP header.

  --key KEY             the private key (PEM, DER or JWK; '-': stdin); an encrypted key's
                        password comes from DPOP_KEY_PASSWORD or --password-file FILE
  --method METHOD       the request's method (htm)
  --url URL             the request's URL; htu is it without query and fragment
  --token TOKEN         bind the proof to this access token (ath); visible to other users
  --token-file FILE     the same, the token from the first line of FILE ('-': stdin)
  --nonce NONCE         the server's DPoP-Nonce
  --claims JSON         further claims, a JSON object
";

pub const REQUEST: &str = "\
usage: dpop get URL [options]
       dpop post URL [options]
       dpop request METHOD URL [options]

Sends one request with a DPoP proof and prints the response body to stdout, as curl does.
With token settings it first gets a DPoP-bound access token (client_credentials grant, with
a proof and the server's nonces); with an access token it sends that one.

key:
  --key FILE            the DPoP private key (PEM, DER or JWK); an encrypted key's password
                        comes from DPOP_KEY_PASSWORD or --password-file FILE. Without --key,
                        a new ES256 key is made for this run (the token is bound to it).
token settings (libdpop's AuthToken JSON; the flags set or override the file's members):
  --auth-token FILE     {\"client_id\",\"client_secret\",\"token_endpoint\",\"scope\",...}
  --client-id ID
  --client-secret S     visible to other users: prefer DPOP_CLIENT_SECRET or the file
  --token-endpoint URL
  --scope SCOPE
  --auth-method M       client_secret_post (default) or client_secret_basic
  --accept-bearer       accept a Bearer token from the token endpoint (refused by default)
or a token obtained elsewhere:
  --access-token TOKEN  visible to other users: prefer --access-token-file
  --access-token-file FILE   the token from the first line of FILE ('-': stdin)
request:
  -H, --header 'Name: value'   an extra header (repeatable)
  -d, --data DATA       the request body
  --data-file FILE      the request body from FILE ('-': stdin)
transport:
  --timeout SECONDS     the most the request may take, token request and retries included
                        (default 60)
  --ca-file FILE        trust the CA certificates of this PEM file besides the built-in roots
  --proxy URL           send through an HTTP proxy (http://host:port)
  --insecure-http       allow plain http:// to hosts other than loopback
output:
  -i, --include         print the status line and the headers before the body
  -o, --output FILE     write the body (and with -i the headers) to FILE
  --session-log FILE    append every exchange to FILE, secrets masked (owner-only)
  -v, --verbose         print every exchange to stderr, secrets masked

exit status: 0 for a 2xx response, 1 for another status (the body is still printed), 2 bad
usage, 3 key problem, 4 network problem, 5 token endpoint problem, 6 other (dpop --help).
";
