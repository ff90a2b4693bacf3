package cab

import (
	"runtime"
	"unsafe"

	"cab/internal/capi"
)

// SeqAll asks KVStats about the whole context (CAB_SEQ_ALL).
const SeqAll int32 = -1

// KVStats are the KV-cache figures of one sequence or of the whole context (cab_kv_stats).
type KVStats struct {
	Layers        int32
	KVHeads       int32
	BlockSize     int32  // tokens per block
	SeqLength     int64  // tokens the sequence has taken (0 for SeqAll)
	TokensCached  int64  // cached tokens summed over every (layer, kv head) stream
	StreamMin     int32  // fewest tokens in one stream
	StreamMax     int32  // most tokens in one stream
	TokensEvicted int64  // tokens evicted so far, summed over streams
	BlocksUsed    int64  // blocks held
	BlocksFree    int64  // blocks free in the pool
	BlocksTotal   int64  // blocks in the pool
	BytesUsed     uint64 // KV bytes held, blocks of both types
	BytesTotal    uint64 // KV bytes of the whole pool, both types
	Q8BlocksUsed  int64  // int8 blocks (ContextParams.KVQ8CapacityTokens); Blocks* count the others
	Q8BlocksFree  int64
	Q8BlocksTotal int64
	Q8BytesUsed   uint64 // the part of BytesUsed in int8 blocks
}

// Context holds a KV block pool and up to MaxSequences sequences over one model. Use it from
// one goroutine at a time.
type Context struct {
	h     *handle
	model *Model
}

// NewContext creates a context over model and allocates its KV pool; params may be nil for the
// defaults. The context keeps the model alive until it is closed.
func NewContext(model *Model, params *ContextParams) (*Context, error) {
	if model == nil {
		return nil, errNilModel
	}
	mptr, err := model.h.acquire()
	if err != nil {
		return nil, err
	}
	p := params.native()
	defer capi.DeleteCab_ctx_params(p)
	if params != nil && params.AutoEvict != nil {
		// cab_ctx_create copies the eviction options, policy name included.
		e, release := params.AutoEvict.native()
		defer release()
		p.SetAuto_evict(e)
	}
	var ptr uintptr
	if err := call(func() capi.Enum_SS_cab_status { return capi.Cab_ctx_create(mptr, p, &ptr) }); err != nil {
		model.h.release()
		return nil, err
	}
	c := &Context{model: model}
	c.h = newHandle(ptr, func(ptr uintptr) {
		capi.Cab_ctx_destroy(ptr)
		model.h.release()
	})
	runtime.SetFinalizer(c, (*Context).Close)
	return c, nil
}

// Model is the model the context runs.
func (c *Context) Model() *Model { return c.model }

// Prefill appends prompt tokens to sequence seq and runs them; afterwards Logits gives the last
// token's next-token logits. ErrKVFull leaves the sequence as it was.
func (c *Context) Prefill(seq int32, tokens []int32) error {
	return c.h.with(func(ptr uintptr) error {
		return call(func() capi.Enum_SS_cab_status {
			return capi.Cab_prefill(ptr, seq, tokens, int64(len(tokens)))
		})
	})
}

// Decode is one batched decode step: tokens[i] is appended to seqs[i] (each sequence at most
// once). ErrKVFull appends nothing.
func (c *Context) Decode(seqs, tokens []int32) error {
	if len(seqs) != len(tokens) {
		return &Error{Status: StatusInvalidArgument, Message: "Decode: seqs and tokens differ in length"}
	}
	return c.h.with(func(ptr uintptr) error {
		return call(func() capi.Enum_SS_cab_status {
			return capi.Cab_decode(ptr, seqs, tokens, int64(len(seqs)))
		})
	})
}

// Logits gives a copy of the next-token logits of seq (VocabSize floats). ErrState before the
// sequence has any.
func (c *Context) Logits(seq int32) ([]float32, error) {
	out := make([]float32, c.model.info.VocabSize)
	err := c.h.with(func(ptr uintptr) error {
		var logits unsafe.Pointer
		if err := call(func() capi.Enum_SS_cab_status { return capi.Cab_logits(ptr, seq, &logits) }); err != nil {
			return err
		}
		copy(out, unsafe.Slice((*float32)(logits), len(out)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Sample picks the next token of seq; a nil sampler is greedy.
func (c *Context) Sample(seq int32, sampler *Sampler) (int32, error) {
	var token int32
	err := c.h.with(func(ptr uintptr) error {
		if sampler == nil {
			return call(func() capi.Enum_SS_cab_status { return capi.Cab_sample(ptr, seq, 0, &token) })
		}
		return sampler.h.with(func(sptr uintptr) error {
			return call(func() capi.Enum_SS_cab_status { return capi.Cab_sample(ptr, seq, sptr, &token) })
		})
	})
	return token, err
}

// SeqLength is the number of tokens seq has taken so far (its next position).
func (c *Context) SeqLength(seq int32) (int64, error) {
	var n int64
	err := c.h.with(func(ptr uintptr) error {
		return call(func() capi.Enum_SS_cab_status { return capi.Cab_seq_length(ptr, seq, &n) })
	})
	return n, err
}

// ResetSeq drops a sequence: its KV blocks go back to the pool, its positions restart.
func (c *Context) ResetSeq(seq int32) error {
	return c.h.with(func(ptr uintptr) error {
		return call(func() capi.Enum_SS_cab_status { return capi.Cab_seq_reset(ptr, seq) })
	})
}

// CopySeq makes dst an independent copy of src: its KV cache and scores, its tokens and next
// position, and its logits (Logits and Sample give for dst what they give for src). What dst
// held is dropped. The pool must have as many free blocks as src uses, else ErrKVFull and dst
// is left as it was (ResetSeq dst first to free its blocks). Prefill once, copy, and continue
// the copies in different ways (other eviction policies or budgets).
func (c *Context) CopySeq(src, dst int32) error {
	return c.h.with(func(ptr uintptr) error {
		return call(func() capi.Enum_SS_cab_status { return capi.Cab_seq_copy(ptr, src, dst) })
	})
}

// KVStats gives the KV-cache figures of seq, or of the whole context for SeqAll.
func (c *Context) KVStats(seq int32) (KVStats, error) {
	s := capi.NewCab_kv_stats()
	defer capi.DeleteCab_kv_stats(s)
	err := c.h.with(func(ptr uintptr) error {
		return call(func() capi.Enum_SS_cab_status { return capi.Cab_kv_stats_get(ptr, seq, s) })
	})
	if err != nil {
		return KVStats{}, err
	}
	return KVStats{
		Layers: s.GetN_layer(), KVHeads: s.GetN_head_kv(), BlockSize: s.GetBlock_size(),
		SeqLength: s.GetSeq_length(), TokensCached: s.GetTokens_cached(),
		StreamMin: s.GetStream_min(), StreamMax: s.GetStream_max(),
		TokensEvicted: s.GetTokens_evicted(),
		BlocksUsed:    s.GetBlocks_used(), BlocksFree: s.GetBlocks_free(), BlocksTotal: s.GetBlocks_total(),
		BytesUsed: s.GetBytes_used(), BytesTotal: s.GetBytes_total(),
		Q8BlocksUsed: s.GetQ8_blocks_used(), Q8BlocksFree: s.GetQ8_blocks_free(),
		Q8BlocksTotal: s.GetQ8_blocks_total(), Q8BytesUsed: s.GetQ8_bytes_used(),
	}, nil
}

// KVLengths gives the tokens cached per stream of seq, indexed layer*KVHeads + head.
func (c *Context) KVLengths(seq int32) ([]int32, error) {
	var lengths []int32
	info := c.model.info
	err := c.h.with(func(ptr uintptr) (err error) {
		lengths, err = fill(int(info.Layers*info.KVHeads), func(buf []int32, n *int64) capi.Enum_SS_cab_status {
			return capi.Cab_kv_lengths(ptr, seq, buf, int64(len(buf)), n)
		})
		return err
	})
	return lengths, err
}

// Close destroys the context and frees its KV pool; calling it again does nothing.
func (c *Context) Close() error {
	c.h.close()
	runtime.SetFinalizer(c, nil)
	return nil
}
