//! `#[system_abi]`, the calling convention of libdpop's C exports.
//!
//! Every export is written `#[system_abi] #[no_mangle] pub extern "C" fn ...` and compiled as
//! `extern "system"`: **stdcall on 32-bit Windows**, the only convention that DataFlex
//! `External_Function`, VB6 `Declare` and other 32-bit 4GL hosts can call, and the C convention
//! everywhere else (64-bit Windows and Unix have just one). The source says `"C"` so that
//! cbindgen, which reads only `extern "C"` functions, generates `include/dpop.h` from the real
//! sources; the header marks each prototype `DPOP_CALL`, which is `__stdcall` on 32-bit Windows.
//!
//! `windows/check_exports.py` proves the result on every Windows build: each i686 export
//! returns with `ret $N` for its N bytes of parameters, so an export without the attribute
//! (compiled cdecl) fails the build.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// Compiles the `extern "C" fn` it is put on as `extern "system" fn`.
///
/// Anything else (no `extern "C"` before `fn`, or arguments to the attribute) is a compile error,
/// so every export states its ABI the same way.
#[proc_macro_attribute]
pub fn system_abi(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return compile_error("#[system_abi] takes no arguments", Span::call_site());
    }
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let abi = tokens
        .windows(2)
        .take_while(|pair| !is_ident(&pair[0], "fn"))
        .position(|pair| is_ident(&pair[0], "extern") && is_c_abi(&pair[1]));
    let Some(extern_at) = abi else {
        return compile_error(
            "#[system_abi] goes on a function written `pub extern \"C\" fn`",
            tokens.first().map_or(Span::call_site(), TokenTree::span),
        );
    };
    let span = tokens[extern_at + 1].span();
    let mut system = Literal::string("system");
    system.set_span(span);
    tokens[extern_at + 1] = TokenTree::Literal(system);
    tokens.into_iter().collect()
}

fn is_ident(token: &TokenTree, name: &str) -> bool {
    matches!(token, TokenTree::Ident(ident) if ident.to_string() == name)
}

fn is_c_abi(token: &TokenTree) -> bool {
    matches!(token, TokenTree::Literal(lit) if lit.to_string() == "\"C\"")
}

/// `compile_error!("message")` at `span`.
fn compile_error(message: &str, span: Span) -> TokenStream {
    let mut literal = Literal::string(message);
    literal.set_span(span);
    let mut bang = Punct::new('!', Spacing::Alone);
    bang.set_span(span);
    let mut group = Group::new(Delimiter::Parenthesis, TokenTree::Literal(literal).into());
    group.set_span(span);
    [
        TokenTree::Ident(Ident::new("compile_error", span)),
        TokenTree::Punct(bang),
        TokenTree::Group(group),
        TokenTree::Punct(Punct::new(';', Spacing::Alone)),
    ]
    .into_iter()
    .collect()
}
