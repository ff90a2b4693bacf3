//! Options of models, contexts and samplers. `Default` gives the library's own defaults
//! (`cab_*_default_params`); `raw` copies them over a fresh C struct, so a field added to the C
//! struct is one field here plus one line in `raw`.
use std::mem::MaybeUninit;

use cab_sys as sys;

use crate::evict::EvictParams;

/// Where computation and memory live (`cab_device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    /// The GPU when the build has CUDA and one is present, else the CPU.
    Auto,
    Cpu,
    Cuda,
    /// A device newer than this crate.
    Other(u32),
}

impl Device {
    pub(crate) fn from_raw(v: sys::cab_device) -> Device {
        match v {
            sys::CAB_DEVICE_AUTO => Device::Auto,
            sys::CAB_DEVICE_CPU => Device::Cpu,
            sys::CAB_DEVICE_CUDA => Device::Cuda,
            other => Device::Other(other),
        }
    }

    pub(crate) fn raw(self) -> sys::cab_device {
        match self {
            Device::Auto => sys::CAB_DEVICE_AUTO,
            Device::Cpu => sys::CAB_DEVICE_CPU,
            Device::Cuda => sys::CAB_DEVICE_CUDA,
            Device::Other(v) => v,
        }
    }
}

/// Element type of the KV cache (`cab_kv_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvType {
    /// F32 on the CPU, BF16 on CUDA.
    Auto,
    F32,
    F16,
    Bf16,
    /// A type newer than this crate.
    Other(u32),
}

impl KvType {
    pub(crate) fn from_raw(v: sys::cab_kv_type) -> KvType {
        match v {
            sys::CAB_KV_TYPE_AUTO => KvType::Auto,
            sys::CAB_KV_TYPE_F32 => KvType::F32,
            sys::CAB_KV_TYPE_F16 => KvType::F16,
            sys::CAB_KV_TYPE_BF16 => KvType::Bf16,
            other => KvType::Other(other),
        }
    }

    pub(crate) fn raw(self) -> sys::cab_kv_type {
        match self {
            KvType::Auto => sys::CAB_KV_TYPE_AUTO,
            KvType::F32 => sys::CAB_KV_TYPE_F32,
            KvType::F16 => sys::CAB_KV_TYPE_F16,
            KvType::Bf16 => sys::CAB_KV_TYPE_BF16,
            KvType::Other(v) => v,
        }
    }
}

/// Element type of 8-bit KV blocks (`cab_kv_q8_type`): one byte per element and one F32 scale
/// per row either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvQ8Type {
    /// int8, uniform steps of max|x| / 127 within a row.
    Int8,
    /// fp8 E4M3: 3 significant bits over a range of 2^17 within a row.
    Fp8E4M3,
    /// A type newer than this crate.
    Other(u32),
}

impl KvQ8Type {
    pub(crate) fn from_raw(v: sys::cab_kv_q8_type) -> KvQ8Type {
        match v {
            sys::CAB_KV_Q8_INT8 => KvQ8Type::Int8,
            sys::CAB_KV_Q8_FP8_E4M3 => KvQ8Type::Fp8E4M3,
            other => KvQ8Type::Other(other),
        }
    }

    pub(crate) fn raw(self) -> sys::cab_kv_q8_type {
        match self {
            KvQ8Type::Int8 => sys::CAB_KV_Q8_INT8,
            KvQ8Type::Fp8E4M3 => sys::CAB_KV_Q8_FP8_E4M3,
            KvQ8Type::Other(v) => v,
        }
    }
}

/// A C options struct filled by its `cab_*_default_params`.
pub(crate) fn defaults<T>(fill: unsafe extern "C" fn(*mut T) -> sys::cab_status) -> T {
    let mut raw = MaybeUninit::<T>::zeroed();
    // SAFETY: the struct is plain data for which all-zero bytes are valid; the call fills it.
    unsafe {
        fill(raw.as_mut_ptr());
        raw.assume_init()
    }
}

/// Options of [`Model::load`](crate::Model::load) (`cab_model_params`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelParams {
    /// Where the weights go; default `Auto`.
    pub device: Device,
    /// Which GPU for `Cuda`/`Auto`; default 0.
    pub gpu_index: i32,
}

impl Default for ModelParams {
    fn default() -> Self {
        let raw = defaults(sys::cab_model_default_params);
        ModelParams {
            device: Device::from_raw(raw.device),
            gpu_index: raw.gpu_index,
        }
    }
}

impl ModelParams {
    pub(crate) fn raw(&self) -> sys::cab_model_params {
        let mut raw = defaults(sys::cab_model_default_params);
        raw.device = self.device.raw();
        raw.gpu_index = self.gpu_index;
        raw
    }
}

/// Options of [`Context::new`](crate::Context::new) (`cab_ctx_params`).
#[derive(Debug, Clone, PartialEq)]
pub struct ContextParams {
    /// Default `Auto`: follows the model.
    pub device: Device,
    /// Sequences the context holds at once, numbered from 0; default 1.
    pub max_sequences: i32,
    /// CPU threads (also for eviction's host-side selections); 0 = every core (default).
    pub threads: i32,
    /// KV pool: tokens of every layer and kv head of all sequences together; default 4096.
    pub kv_capacity_tokens: i64,
    /// Tokens per KV block; default 16.
    pub kv_block_size: i32,
    /// Element type of the KV cache; default `Auto`.
    pub kv_type: KvType,
    /// Most tokens per prefill forward pass; default 512.
    pub prefill_chunk: i32,
    /// Automatic eviction: `None` (default) turns it off. Copied by
    /// [`Context::new`](crate::Context::new): a sequence more than `auto_evict_slack` tokens (per stream, on
    /// average) over the budget is evicted to it before its next step, and prompts are prefilled
    /// in chunks that keep them within budget + slack.
    pub auto_evict: Option<EvictParams>,
    /// Tokens past the budget before automatic eviction fires; >= 1, default 64.
    pub auto_evict_slack: i32,
    /// The last queries of each prefill chunk that make the window score; default 32.
    pub score_window: i32,
    /// Int8 KV blocks for this many tokens per stream on top of `kv_capacity_tokens` (default 0:
    /// none); the `quantize` policies of [`Context::evict`](crate::Context::evict) fill them.
    /// CPU contexts only for now.
    pub kv_q8_capacity_tokens: i64,
    /// Element type of those blocks; default `Int8`.
    pub kv_q8_type: KvQ8Type,
}

impl Default for ContextParams {
    fn default() -> Self {
        let raw = defaults(sys::cab_ctx_default_params);
        ContextParams {
            device: Device::from_raw(raw.device),
            max_sequences: raw.n_seq_max,
            threads: raw.n_threads,
            kv_capacity_tokens: raw.kv_capacity_tokens,
            kv_block_size: raw.kv_block_size,
            kv_type: KvType::from_raw(raw.kv_type),
            prefill_chunk: raw.prefill_chunk,
            auto_evict: None,
            auto_evict_slack: raw.auto_evict_slack,
            score_window: raw.score_window,
            kv_q8_capacity_tokens: raw.kv_q8_capacity_tokens,
            kv_q8_type: KvQ8Type::from_raw(raw.kv_q8_type),
        }
    }
}

impl ContextParams {
    pub(crate) fn raw(&self) -> sys::cab_ctx_params {
        let mut raw = defaults(sys::cab_ctx_default_params);
        raw.device = self.device.raw();
        raw.n_seq_max = self.max_sequences;
        raw.n_threads = self.threads;
        raw.kv_capacity_tokens = self.kv_capacity_tokens;
        raw.kv_block_size = self.kv_block_size;
        raw.kv_type = self.kv_type.raw();
        raw.prefill_chunk = self.prefill_chunk;
        raw.auto_evict_slack = self.auto_evict_slack;
        raw.score_window = self.score_window;
        raw.kv_q8_capacity_tokens = self.kv_q8_capacity_tokens;
        raw.kv_q8_type = self.kv_q8_type.raw();
        raw
    }
}

/// Options of [`Sampler::new`](crate::Sampler::new) (`cab_sampler_params`); the defaults are
/// greedy.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerParams {
    /// 0 = greedy (argmax).
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 = off.
    pub top_k: i32,
    /// Nucleus: the smallest set with mass at least `top_p`; 1 = off.
    pub top_p: f32,
    /// Drop tokens below `min_p * p(best)`; 0 = off.
    pub min_p: f32,
    /// CTRL-style penalty on recent tokens; 1 = off.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: i32,
    /// The same seed gives the same samples.
    pub seed: u64,
}

impl Default for SamplerParams {
    fn default() -> Self {
        let raw = defaults(sys::cab_sampler_default_params);
        SamplerParams {
            temperature: raw.temperature,
            top_k: raw.top_k,
            top_p: raw.top_p,
            min_p: raw.min_p,
            repeat_penalty: raw.repeat_penalty,
            repeat_last_n: raw.repeat_last_n,
            seed: raw.seed,
        }
    }
}

impl SamplerParams {
    pub(crate) fn raw(&self) -> sys::cab_sampler_params {
        let mut raw = defaults(sys::cab_sampler_default_params);
        raw.temperature = self.temperature;
        raw.top_k = self.top_k;
        raw.top_p = self.top_p;
        raw.min_p = self.min_p;
        raw.repeat_penalty = self.repeat_penalty;
        raw.repeat_last_n = self.repeat_last_n;
        raw.seed = self.seed;
        raw
    }
}
