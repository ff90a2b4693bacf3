//! KV-cache eviction (`cab_evict`): which policy keeps which tokens, and to what budget.
//! docs/POLICIES.md describes the policies and their options.
use std::ffi::{CStr, CString};

use cab_sys as sys;

use crate::error::{Error, Result, Status};
use crate::params::defaults;

/// How many tokens each stream keeps (`cab_budget_unit` with its value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// Tokens kept per (layer, kv head) stream.
    Tokens(i32),
    /// Share of each stream's length kept, in `[0, 1]` (for automatic eviction: of the
    /// sequence's length).
    Ratio(f64),
}

/// Which unit a policy selects over (`cab_evict_selection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Every (layer, kv head) stream chooses its own tokens.
    PerHead,
    /// One choice per layer from the sum of its heads' scores.
    SharedPerLayer,
    /// A value newer than this crate.
    Other(u32),
}

/// How the budget is shared among a sequence's streams (`cab_budget_allocation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    Uniform,
    /// More in lower layers (PyramidKV).
    Pyramid,
    /// Per layer, to the heads with diffuse attention (AdaKV).
    Adaptive,
    /// A value newer than this crate.
    Other(u32),
}

/// Which attention scores h2o, cab and cab-frc rank by (`cab_score_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreSource {
    /// Attention from every query since the token was cached.
    Cumulative,
    /// Attention from the last queries of the latest prefill chunk.
    Window,
    /// A value newer than this crate.
    Other(u32),
}

macro_rules! raw_enum {
    ($t:ident, $($v:ident = $c:ident),+) => {
        impl $t {
            fn from_raw(v: u32) -> $t {
                match v {
                    $(sys::$c => $t::$v,)+
                    other => $t::Other(other),
                }
            }

            fn raw(self) -> u32 {
                match self {
                    $($t::$v => sys::$c,)+
                    $t::Other(v) => v,
                }
            }
        }
    };
}

raw_enum!(
    Selection,
    PerHead = CAB_SELECTION_PER_HEAD,
    SharedPerLayer = CAB_SELECTION_SHARED_PER_LAYER
);
raw_enum!(
    Allocation,
    Uniform = CAB_ALLOCATION_UNIFORM,
    Pyramid = CAB_ALLOCATION_PYRAMID,
    Adaptive = CAB_ALLOCATION_ADAPTIVE
);
raw_enum!(
    ScoreSource,
    Cumulative = CAB_SCORE_CUMULATIVE,
    Window = CAB_SCORE_WINDOW
);

/// Options of [`Context::evict`](crate::Context::evict) and of automatic eviction
/// ([`ContextParams::auto_evict`](crate::ContextParams::auto_evict)) (`cab_evict_params`).
/// `Default` is `cab_evict_default_params`.
#[derive(Debug, Clone, PartialEq)]
pub struct EvictParams {
    /// "full", "random", "window", "h2o", "tova", "snapkv", "cab", "cab-frc" or "chunkkv";
    /// default "cab". Or "quantize" / "quantize+<policy>": old tokens to int8 blocks first
    /// (`ContextParams::kv_q8_capacity_tokens`).
    pub policy: String,
    /// Default `Tokens(256)`.
    pub budget: Budget,
    /// First tokens always kept; default 4.
    pub sinks: i32,
    /// Most recent tokens always kept; default 0.
    pub recent: i32,
    pub selection: Selection,
    pub allocation: Allocation,
    /// Pyramid / adaptive: per-stream floor; default 5.
    pub min_budget: i32,
    /// Pyramid: the top layer gets average / beta; default 20.
    pub pyramid_beta: f32,
    /// Random policy; default 0.
    pub seed: u64,
    /// h2o: rank by score / observers; default false.
    pub h2o_normalize: bool,
    /// h2o: share of the budget for recent tokens; default 0.2.
    pub h2o_recent_ratio: f32,
    /// snapkv: last tokens kept as the observation window; default 32.
    pub snapkv_window: i32,
    /// snapkv: odd max-pool width; default 7.
    pub snapkv_kernel: i32,
    /// cab, cab-frc: share for recent tokens; default 0.3.
    pub cab_r_local: f32,
    /// cab, cab-frc: share for bridges; default 0.2.
    pub cab_r_bridge: f32,
    pub score_source: ScoreSource,
    /// cab-frc: tokens pooled per graph node; default 16.
    pub frc_block: i32,
    /// cab-frc: most graph nodes per stream; default 128.
    pub frc_max_blocks: i32,
    /// chunkkv: tokens per chunk; default 16.
    pub chunkkv_chunk: i32,
    /// snapkv: the pool window moves this many slots back, so it reaches further after a hit;
    /// 0..snapkv_kernel/2, default 0.
    pub snapkv_shift: i32,
    /// snapkv: share of the layers, from the first, that rank by the deeper layers' window score
    /// instead of their own; in [0, 1), default 0 (off).
    pub snapkv_inherit: f32,
    /// `quantize` policies: the most recent tokens per stream kept in full precision; default
    /// 64.
    pub quantize_recent: i32,
}

impl Default for EvictParams {
    fn default() -> Self {
        let raw = defaults(sys::cab_evict_default_params);
        // SAFETY: the default policy is a static NUL-terminated string.
        let policy = unsafe { CStr::from_ptr(raw.policy) }
            .to_string_lossy()
            .into_owned();
        EvictParams {
            policy,
            budget: if raw.budget_unit == sys::CAB_BUDGET_RATIO {
                Budget::Ratio(raw.budget_ratio)
            } else {
                Budget::Tokens(raw.budget_tokens)
            },
            sinks: raw.n_sinks,
            recent: raw.n_recent,
            selection: Selection::from_raw(raw.selection),
            allocation: Allocation::from_raw(raw.allocation),
            min_budget: raw.min_budget,
            pyramid_beta: raw.pyramid_beta,
            seed: raw.seed,
            h2o_normalize: raw.h2o_normalize != 0,
            h2o_recent_ratio: raw.h2o_recent_ratio,
            snapkv_window: raw.snapkv_window,
            snapkv_kernel: raw.snapkv_kernel,
            cab_r_local: raw.cab_r_local,
            cab_r_bridge: raw.cab_r_bridge,
            score_source: ScoreSource::from_raw(raw.score_source),
            frc_block: raw.frc_block,
            frc_max_blocks: raw.frc_max_blocks,
            chunkkv_chunk: raw.chunkkv_chunk,
            snapkv_shift: raw.snapkv_shift,
            snapkv_inherit: raw.snapkv_inherit,
            quantize_recent: raw.quantize_recent,
        }
    }
}

impl EvictParams {
    /// The defaults with `policy` and a budget of `tokens` per stream.
    pub fn new(policy: &str, tokens: i32) -> EvictParams {
        EvictParams {
            policy: policy.to_string(),
            budget: Budget::Tokens(tokens),
            ..EvictParams::default()
        }
    }

    /// Runs `f` with the C struct, whose policy pointer is valid only during `f` (the library
    /// borrows it for a call, and copies it for automatic eviction).
    pub(crate) fn with_raw<R>(&self, f: impl FnOnce(&sys::cab_evict_params) -> R) -> Result<R> {
        let policy = CString::new(self.policy.as_str()).map_err(|_| {
            Error::new(
                Status::InvalidArgument,
                format!("evict policy {:?} contains a NUL byte", self.policy),
            )
        })?;
        let mut raw = defaults(sys::cab_evict_default_params);
        raw.policy = policy.as_ptr();
        match self.budget {
            Budget::Tokens(n) => {
                raw.budget_unit = sys::CAB_BUDGET_TOKENS;
                raw.budget_tokens = n;
            }
            Budget::Ratio(r) => {
                raw.budget_unit = sys::CAB_BUDGET_RATIO;
                raw.budget_ratio = r;
            }
        }
        raw.n_sinks = self.sinks;
        raw.n_recent = self.recent;
        raw.selection = self.selection.raw();
        raw.allocation = self.allocation.raw();
        raw.min_budget = self.min_budget;
        raw.pyramid_beta = self.pyramid_beta;
        raw.seed = self.seed;
        raw.h2o_normalize = self.h2o_normalize as i32;
        raw.h2o_recent_ratio = self.h2o_recent_ratio;
        raw.snapkv_window = self.snapkv_window;
        raw.snapkv_kernel = self.snapkv_kernel;
        raw.cab_r_local = self.cab_r_local;
        raw.cab_r_bridge = self.cab_r_bridge;
        raw.score_source = self.score_source.raw();
        raw.frc_block = self.frc_block;
        raw.frc_max_blocks = self.frc_max_blocks;
        raw.chunkkv_chunk = self.chunkkv_chunk;
        raw.snapkv_shift = self.snapkv_shift;
        raw.snapkv_inherit = self.snapkv_inherit;
        raw.quantize_recent = self.quantize_recent;
        Ok(f(&raw))
    }
}

/// What one [`Context::evict`](crate::Context::evict) did, summed over the sequence's streams
/// (`cab_evict_report`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvictReport {
    pub tokens_before: i64,
    pub tokens_kept: i64,
    /// `tokens_before - tokens_kept`.
    pub tokens_evicted: i64,
    /// KV blocks returned to the pool, both types.
    pub blocks_freed: i64,
    pub bytes_freed: u64,
    /// Tokens moved to int8 blocks (`quantize` policies).
    pub tokens_quantized: i64,
}

impl EvictReport {
    pub(crate) fn from_raw(r: &sys::cab_evict_report) -> EvictReport {
        EvictReport {
            tokens_before: r.tokens_before,
            tokens_kept: r.tokens_kept,
            tokens_evicted: r.tokens_evicted,
            blocks_freed: r.blocks_freed,
            bytes_freed: r.bytes_freed,
            tokens_quantized: r.tokens_quantized,
        }
    }
}

/// The attention scores of one stream's cached tokens, in the order of
/// [`Context::kv_positions`](crate::Context::kv_positions) (`cab_kv_scores`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KvScores {
    /// Softmax mass every query gave the token since it was cached.
    pub score: Vec<f32>,
    /// How many queries could see it.
    pub observers: Vec<f32>,
    /// The same sum over the last `score_window` queries of the latest prefill chunk.
    pub window: Vec<f32>,
}
