//! Safe Rust API of libcab: LLM inference for long contexts under a fixed KV-cache budget.
//!
//! A [`Model`] is a loaded GGUF file, immutable and shared by any number of [`Context`]s, which
//! borrow it. A context holds a KV block pool and up to `max_sequences` sequences:
//! [`Context::prefill`] appends prompt tokens to one, [`Context::decode`] appends one token to
//! each of several in one batched step, and [`Context::logits`] or [`Context::sample`] read the
//! result. Every failure is an [`Error`] with the C status and libcab's message.
//!
//! ```no_run
//! use cab::{Context, ContextParams, Model, ModelParams, TokenizeFlags};
//!
//! let model = Model::load("models/stories260K.gguf", &ModelParams::default())?;
//! let mut ctx = Context::new(&model, &ContextParams::default())?;
//! let mut tokens = model.tokenize("Once upon a time", TokenizeFlags::ADD_BOS)?;
//! ctx.prefill(0, &tokens)?;
//! for _ in 0..20 {
//!     let token = ctx.sample(0, None)?;
//!     tokens.push(token);
//!     ctx.decode(&[0], &[token])?;
//! }
//! println!("{}", model.detokenize(&tokens, cab::DetokenizeFlags::SKIP_SPECIAL)?);
//! # Ok::<(), cab::Error>(())
//! ```
//!
//! Linking: `cab-sys` finds libcab through `$CAB_LIB_DIR` or pkg-config (see its build.rs and
//! docs/BINDINGS.md).

mod context;
mod error;
mod evict;
mod model;
mod params;
mod sampler;

pub use context::{Context, KvStats, SEQ_ALL};
pub use error::{Error, Result, Status};
pub use evict::{Allocation, Budget, EvictParams, EvictReport, KvScores, ScoreSource, Selection};
pub use model::{ChatMessage, ChatTemplate, DetokenizeFlags, Model, ModelInfo, TokenizeFlags};
pub use params::{ContextParams, Device, KvQ8Type, KvType, ModelParams, SamplerParams};
pub use sampler::Sampler;

/// A token id in `[0, vocab_size)`.
pub type Token = i32;
/// A sequence id in `[0, max_sequences)`.
pub type Seq = i32;

/// The loaded library's version, e.g. "0.1.0".
pub fn version() -> String {
    // SAFETY: a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(cab_sys::cab_version_string()) }
        .to_string_lossy()
        .into_owned()
}

/// The loaded library's version as `MAJOR * 10000 + MINOR * 100 + PATCH`.
pub fn version_number() -> i32 {
    unsafe { cab_sys::cab_version() }
}

/// The version of the cab.h that `cab-sys` was generated from.
pub const HEADER_VERSION_NUMBER: i32 = cab_sys::CAB_VERSION_NUMBER as i32;
