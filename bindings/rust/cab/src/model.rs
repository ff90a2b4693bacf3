//! A loaded GGUF model.
use std::ffi::CString;
use std::mem;
use std::os::raw::c_char;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::{self, NonNull};

use cab_sys as sys;

use crate::error::{check, fill, Error, Result, Status};
use crate::params::{Device, ModelParams};
use crate::Token;

/// The chat template a model uses (`cab_chat_template`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChatTemplate {
    None,
    ChatMl,
    Llama3,
    /// A template newer than this crate.
    Other(u32),
}

/// Options of [`Model::tokenize`] (`CAB_TOKENIZE_*`), combined with `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TokenizeFlags(u32);

impl TokenizeFlags {
    pub const NONE: TokenizeFlags = TokenizeFlags(0);
    /// Prepend BOS when the model uses one.
    pub const ADD_BOS: TokenizeFlags = TokenizeFlags(sys::CAB_TOKENIZE_ADD_BOS);
    /// Special-token text such as `<|im_start|>` becomes its token.
    pub const PARSE_SPECIAL: TokenizeFlags = TokenizeFlags(sys::CAB_TOKENIZE_PARSE_SPECIAL);
}

impl std::ops::BitOr for TokenizeFlags {
    type Output = TokenizeFlags;
    fn bitor(self, other: TokenizeFlags) -> TokenizeFlags {
        TokenizeFlags(self.0 | other.0)
    }
}

/// Options of [`Model::detokenize`] (`CAB_DETOKENIZE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DetokenizeFlags(u32);

impl DetokenizeFlags {
    pub const NONE: DetokenizeFlags = DetokenizeFlags(0);
    /// Leave out control tokens (BOS, EOS, end of turn).
    pub const SKIP_SPECIAL: DetokenizeFlags = DetokenizeFlags(sys::CAB_DETOKENIZE_SKIP_SPECIAL);
}

/// What a model is (`cab_model_info`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// "llama", "qwen2".
    pub arch: String,
    /// `general.name` of the GGUF file.
    pub name: String,
    pub vocab_size: i32,
    /// Context length the model was trained for.
    pub trained_context: i32,
    pub embedding_size: i32,
    pub layers: i32,
    pub heads: i32,
    pub kv_heads: i32,
    pub head_dim: i32,
    pub feed_forward_size: i32,
    pub rope_theta: f32,
    pub rms_eps: f32,
    pub bos: Option<Token>,
    pub eos: Option<Token>,
    /// End of turn, e.g. `<|im_end|>`.
    pub eot: Option<Token>,
    pub chat_template: ChatTemplate,
    /// Number of weights.
    pub params: u64,
    pub file_bytes: u64,
    /// Where the weights live.
    pub device: Device,
}

fn c_text(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn token(t: Token) -> Option<Token> {
    if t < 0 {
        None
    } else {
        Some(t)
    }
}

impl ModelInfo {
    fn from_raw(i: &sys::cab_model_info) -> ModelInfo {
        ModelInfo {
            arch: c_text(&i.arch),
            name: c_text(&i.name),
            vocab_size: i.n_vocab,
            trained_context: i.n_ctx_train,
            embedding_size: i.n_embd,
            layers: i.n_layer,
            heads: i.n_head,
            kv_heads: i.n_head_kv,
            head_dim: i.head_dim,
            feed_forward_size: i.n_ff,
            rope_theta: i.rope_theta,
            rms_eps: i.rms_eps,
            bos: token(i.bos),
            eos: token(i.eos),
            eot: token(i.eot),
            chat_template: match i.chat_template {
                sys::CAB_CHAT_TEMPLATE_NONE => ChatTemplate::None,
                sys::CAB_CHAT_TEMPLATE_CHATML => ChatTemplate::ChatMl,
                sys::CAB_CHAT_TEMPLATE_LLAMA3 => ChatTemplate::Llama3,
                other => ChatTemplate::Other(other),
            },
            params: i.n_params,
            file_bytes: i.file_bytes,
            device: Device::from_raw(i.device),
        }
    }
}

/// One message of a conversation for [`Model::format_chat`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// "system", "user" or "assistant".
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A loaded GGUF model: immutable, shared by any number of [`Context`](crate::Context)s on any
/// threads. Contexts borrow it, so it cannot be dropped while one is alive.
#[derive(Debug)]
pub struct Model {
    ptr: NonNull<sys::cab_model>,
    info: ModelInfo,
}

// SAFETY: the C ABI makes a model immutable after loading and safe to share between threads.
unsafe impl Send for Model {}
unsafe impl Sync for Model {}

fn nul_free(text: &str, what: &str) -> Result<CString> {
    CString::new(text).map_err(|_| {
        Error::new(
            Status::InvalidArgument,
            format!("{} holds a NUL byte", what),
        )
    })
}

impl Model {
    /// Loads a GGUF model (memory-mapped: the file must stay in place while the model lives).
    /// Errors: `Io` for a missing file (the message names the path), `Format` for a corrupt one,
    /// `Unsupported` for an unknown architecture or tensor type.
    pub fn load(path: impl AsRef<Path>, params: &ModelParams) -> Result<Model> {
        let path = CString::new(path.as_ref().as_os_str().as_bytes())
            .map_err(|_| Error::new(Status::InvalidArgument, "the path holds a NUL byte"))?;
        let raw = params.raw();
        let mut ptr = ptr::null_mut();
        // SAFETY: valid NUL-terminated path, params and out-pointer for the call.
        check(unsafe { sys::cab_model_load(path.as_ptr(), &raw, &mut ptr) })?;
        let ptr = NonNull::new(ptr)
            .ok_or_else(|| Error::new(Status::Internal, "cab_model_load gave NULL"))?;
        // SAFETY: zeroed bytes are a valid cab_model_info; struct_size says how much to fill.
        let mut info: sys::cab_model_info = unsafe { mem::zeroed() };
        info.struct_size = mem::size_of::<sys::cab_model_info>() as u32;
        // Owned from here on: an error below frees it.
        let mut model = Model {
            ptr,
            info: ModelInfo::from_raw(&info),
        };
        check(unsafe { sys::cab_model_info_get(model.as_ptr(), &mut info) })?;
        model.info = ModelInfo::from_raw(&info);
        Ok(model)
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::cab_model {
        self.ptr.as_ptr()
    }

    /// Tokenizes UTF-8 text.
    pub fn tokenize(&self, text: &str, flags: TokenizeFlags) -> Result<Vec<Token>> {
        fill(text.len() + 2, |buf, cap, n| unsafe {
            sys::cab_tokenize(
                self.as_ptr(),
                text.as_ptr().cast(),
                text.len(),
                flags.0,
                buf,
                cap,
                n,
            )
        })
    }

    /// The bytes of the tokens, the inverse of `tokenize`. They are UTF-8 unless the tokens end
    /// inside a character.
    pub fn detokenize_bytes(&self, tokens: &[Token], flags: DetokenizeFlags) -> Result<Vec<u8>> {
        fill(tokens.len() * 8 + 1, |buf: *mut u8, cap, n| unsafe {
            sys::cab_detokenize(
                self.as_ptr(),
                tokens.as_ptr(),
                tokens.len(),
                flags.0,
                buf.cast(),
                cap,
                n,
            )
        })
    }

    /// The text of the tokens; an incomplete UTF-8 character becomes U+FFFD.
    pub fn detokenize(&self, tokens: &[Token], flags: DetokenizeFlags) -> Result<String> {
        let bytes = self.detokenize_bytes(tokens, flags)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The bytes one token stands for; they may be part of a UTF-8 character.
    pub fn token_to_piece(&self, token: Token) -> Result<Vec<u8>> {
        fill(32, |buf: *mut u8, cap, n| unsafe {
            sys::cab_token_to_piece(self.as_ptr(), token, buf.cast(), cap, n)
        })
    }

    /// True when `token` ends generation (EOS, end of turn...).
    pub fn is_eog(&self, token: Token) -> bool {
        unsafe { sys::cab_token_is_eog(self.as_ptr(), token) != 0 }
    }

    /// The conversation in the model's chat template (ChatML, Llama 3); with `add_assistant` it
    /// ends with the assistant's header, ready to generate. Tokenize the result with
    /// `PARSE_SPECIAL`. `Unsupported` when the model has no known template.
    pub fn format_chat(&self, messages: &[ChatMessage], add_assistant: bool) -> Result<String> {
        let mut strings = Vec::with_capacity(messages.len());
        for m in messages {
            strings.push((
                nul_free(&m.role, "a role")?,
                nul_free(&m.content, "a message")?,
            ));
        }
        let raw: Vec<sys::cab_chat_message> = strings
            .iter()
            .map(|(role, content)| sys::cab_chat_message {
                role: role.as_ptr(),
                content: content.as_ptr(),
            })
            .collect();
        let bytes = fill(256, |buf: *mut u8, cap, n| unsafe {
            sys::cab_chat_format(
                self.as_ptr(),
                raw.as_ptr(),
                raw.len(),
                add_assistant as i32,
                buf.cast(),
                cap,
                n,
            )
        })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: the pointer came from cab_model_load; borrows keep contexts from outliving it.
        unsafe { sys::cab_model_free(self.ptr.as_ptr()) }
    }
}
