//! Contexts: a KV block pool and sequences over one model.
use std::mem;
use std::ptr::{self, NonNull};
use std::slice;

use cab_sys as sys;

use crate::error::{check, fill, Error, Result, Status};
use crate::evict::{EvictParams, EvictReport, KvScores};
use crate::model::Model;
use crate::params::ContextParams;
use crate::sampler::Sampler;
use crate::{Seq, Token};

/// Pass as a sequence to ask about the whole context (`CAB_SEQ_ALL`).
pub const SEQ_ALL: Seq = sys::CAB_SEQ_ALL;

/// KV-cache figures of one sequence or of the whole context (`cab_kv_stats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvStats {
    pub layers: i32,
    pub kv_heads: i32,
    /// Tokens per block.
    pub block_size: i32,
    /// Tokens the sequence has taken (0 for `SEQ_ALL`).
    pub seq_length: i64,
    /// Cached tokens summed over every (layer, kv head) stream.
    pub tokens_cached: i64,
    /// Fewest tokens in one stream.
    pub stream_min: i32,
    /// Most tokens in one stream.
    pub stream_max: i32,
    /// Tokens evicted so far, summed over streams.
    pub tokens_evicted: i64,
    pub blocks_used: i64,
    pub blocks_free: i64,
    pub blocks_total: i64,
    /// KV bytes held, blocks of both types.
    pub bytes_used: u64,
    /// KV bytes of the whole pool, both types.
    pub bytes_total: u64,
    /// Int8 blocks (`ContextParams::kv_q8_capacity_tokens`); `blocks_*` count the others.
    pub q8_blocks_used: i64,
    pub q8_blocks_free: i64,
    pub q8_blocks_total: i64,
    /// The part of `bytes_used` in int8 blocks.
    pub q8_bytes_used: u64,
}

/// A KV block pool and up to `max_sequences` sequences over one model. It borrows the model;
/// it moves between threads but is used by one at a time (`Send`, not `Sync`).
#[derive(Debug)]
pub struct Context<'m> {
    ptr: NonNull<sys::cab_ctx>,
    model: &'m Model,
}

// SAFETY: the C ABI allows a context on any thread, one at a time; it is not Sync.
unsafe impl Send for Context<'_> {}

impl<'m> Context<'m> {
    /// Creates a context and allocates its KV pool.
    pub fn new(model: &'m Model, params: &ContextParams) -> Result<Context<'m>> {
        let mut raw = params.raw();
        let mut ptr = ptr::null_mut();
        let mut create = |raw: &sys::cab_ctx_params| {
            check(unsafe { sys::cab_ctx_create(model.as_ptr(), raw, &mut ptr) })
        };
        match &params.auto_evict {
            // cab_ctx_create copies the eviction options, policy name included.
            Some(evict) => evict.with_raw(|e| {
                raw.auto_evict = e;
                create(&raw)
            })??,
            None => create(&raw)?,
        }
        let ptr = NonNull::new(ptr)
            .ok_or_else(|| Error::new(Status::Internal, "cab_ctx_create gave NULL"))?;
        Ok(Context { ptr, model })
    }

    pub fn model(&self) -> &'m Model {
        self.model
    }

    fn as_ptr(&self) -> *mut sys::cab_ctx {
        self.ptr.as_ptr()
    }

    /// Appends prompt tokens to sequence `seq` and runs them; afterwards [`logits`](Self::logits)
    /// gives the last token's next-token logits. `KvFull` leaves the sequence as it was.
    pub fn prefill(&mut self, seq: Seq, tokens: &[Token]) -> Result<()> {
        check(unsafe { sys::cab_prefill(self.as_ptr(), seq, tokens.as_ptr(), tokens.len()) })
    }

    /// One batched decode step: `tokens[i]` is appended to `seqs[i]` (each sequence at most once).
    /// `KvFull` appends nothing.
    pub fn decode(&mut self, seqs: &[Seq], tokens: &[Token]) -> Result<()> {
        if seqs.len() != tokens.len() {
            return Err(Error::new(
                Status::InvalidArgument,
                "decode: seqs and tokens differ in length",
            ));
        }
        check(unsafe { sys::cab_decode(self.as_ptr(), seqs.as_ptr(), tokens.as_ptr(), seqs.len()) })
    }

    /// The next-token logits of `seq`, borrowed from the context until its next mutation.
    /// `State` before the sequence has any.
    pub fn logits(&self, seq: Seq) -> Result<&[f32]> {
        let mut logits = ptr::null();
        check(unsafe { sys::cab_logits(self.as_ptr(), seq, &mut logits) })?;
        let n = self.model.info().vocab_size as usize;
        // SAFETY: n_vocab floats owned by the context, valid until the next prefill, decode,
        // reset or destroy, which all need `&mut self` and so end this borrow first.
        Ok(unsafe { slice::from_raw_parts(logits, n) })
    }

    /// Picks the next token of `seq`; `None` is greedy.
    pub fn sample(&mut self, seq: Seq, sampler: Option<&mut Sampler>) -> Result<Token> {
        let sampler = sampler.map_or(ptr::null_mut(), |s| s.as_ptr());
        let mut token = 0;
        check(unsafe { sys::cab_sample(self.as_ptr(), seq, sampler, &mut token) })?;
        Ok(token)
    }

    /// Tokens the sequence has taken so far (its next position).
    pub fn seq_length(&self, seq: Seq) -> Result<i64> {
        let mut n = 0;
        check(unsafe { sys::cab_seq_length(self.as_ptr(), seq, &mut n) })?;
        Ok(n)
    }

    /// Drops a sequence: its KV blocks go back to the pool, its positions restart.
    pub fn seq_reset(&mut self, seq: Seq) -> Result<()> {
        check(unsafe { sys::cab_seq_reset(self.as_ptr(), seq) })
    }

    /// Makes `dst` an independent copy of `src`: its KV cache and scores, its tokens and next
    /// position, and its logits ([`logits`](Self::logits) and [`sample`](Self::sample) give for
    /// `dst` what they give for `src`). What `dst` held is dropped. The pool must have as many
    /// free blocks as `src` uses, else `KvFull` and `dst` is left as it was
    /// ([`seq_reset`](Self::seq_reset) `dst` first to free its blocks). Prefill once, copy, and
    /// continue the copies in different ways (other eviction policies or budgets).
    pub fn seq_copy(&mut self, src: Seq, dst: Seq) -> Result<()> {
        check(unsafe { sys::cab_seq_copy(self.as_ptr(), src, dst) })
    }

    /// KV-cache figures of `seq`, or of the whole context for [`SEQ_ALL`].
    pub fn kv_stats(&self, seq: Seq) -> Result<KvStats> {
        // SAFETY: zeroed bytes are a valid cab_kv_stats; struct_size says how much to fill.
        let mut s: sys::cab_kv_stats = unsafe { mem::zeroed() };
        s.struct_size = mem::size_of::<sys::cab_kv_stats>() as u32;
        check(unsafe { sys::cab_kv_stats_get(self.as_ptr(), seq, &mut s) })?;
        Ok(KvStats {
            layers: s.n_layer,
            kv_heads: s.n_head_kv,
            block_size: s.block_size,
            seq_length: s.seq_length,
            tokens_cached: s.tokens_cached,
            stream_min: s.stream_min,
            stream_max: s.stream_max,
            tokens_evicted: s.tokens_evicted,
            blocks_used: s.blocks_used,
            blocks_free: s.blocks_free,
            blocks_total: s.blocks_total,
            bytes_used: s.bytes_used,
            bytes_total: s.bytes_total,
            q8_blocks_used: s.q8_blocks_used,
            q8_blocks_free: s.q8_blocks_free,
            q8_blocks_total: s.q8_blocks_total,
            q8_bytes_used: s.q8_bytes_used,
        })
    }

    /// Tokens cached per stream of `seq`, indexed `layer * kv_heads + head`.
    pub fn kv_lengths(&self, seq: Seq) -> Result<Vec<i32>> {
        let info = self.model.info();
        fill(
            (info.layers * info.kv_heads) as usize,
            |buf, cap, n| unsafe { sys::cab_kv_lengths(self.as_ptr(), seq, buf, cap, n) },
        )
    }

    /// Shrinks the KV cache of `seq` to the budget with a policy; the sequence goes on from
    /// where it was. `InvalidArgument` names a bad field (an unknown policy, say).
    pub fn evict(&mut self, seq: Seq, params: &EvictParams) -> Result<EvictReport> {
        // SAFETY: zeroed bytes are a valid cab_evict_report; struct_size says how much to fill.
        let mut report: sys::cab_evict_report = unsafe { mem::zeroed() };
        report.struct_size = mem::size_of::<sys::cab_evict_report>() as u32;
        let ctx = self.as_ptr();
        params.with_raw(|raw| check(unsafe { sys::cab_evict(ctx, seq, raw, &mut report) }))??;
        Ok(EvictReport::from_raw(&report))
    }

    /// The original positions of the tokens cached in one (layer, kv head) stream of `seq`, in
    /// cache order; eviction removes entries and never renumbers them.
    pub fn kv_positions(&self, seq: Seq, layer: i32, head: i32) -> Result<Vec<i32>> {
        let guess = self.seq_length(seq)? as usize;
        fill(guess, |buf, cap, n| unsafe {
            sys::cab_kv_positions(self.as_ptr(), seq, layer, head, buf, cap, n)
        })
    }

    /// The attention scores of the tokens cached in one stream, in [`kv_positions`] order.
    ///
    /// [`kv_positions`]: Self::kv_positions
    pub fn kv_scores(&self, seq: Seq, layer: i32, head: i32) -> Result<KvScores> {
        let mut cap = self.seq_length(seq)? as usize;
        loop {
            let mut s = KvScores {
                score: vec![0.0; cap],
                observers: vec![0.0; cap],
                window: vec![0.0; cap],
            };
            let mut n = 0usize;
            let status = unsafe {
                sys::cab_kv_scores(
                    self.as_ptr(),
                    seq,
                    layer,
                    head,
                    s.score.as_mut_ptr(),
                    s.observers.as_mut_ptr(),
                    s.window.as_mut_ptr(),
                    cap,
                    &mut n,
                )
            };
            if status == sys::CAB_ERR_BUFFER_TOO_SMALL && n > cap {
                cap = n;
                continue;
            }
            check(status)?;
            s.score.truncate(n);
            s.observers.truncate(n);
            s.window.truncate(n);
            return Ok(s);
        }
    }
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        unsafe { sys::cab_ctx_destroy(self.ptr.as_ptr()) }
    }
}
