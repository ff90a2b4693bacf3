package cab

// #include <stdlib.h>
import "C"

import (
	"unsafe"

	"cab/internal/capi"
)

// BudgetUnit says how EvictParams gives the budget (cab_budget_unit).
type BudgetUnit int32

// Budget units.
const (
	BudgetTokens BudgetUnit = 0 // BudgetTokens tokens per (layer, kv head) stream
	BudgetRatio  BudgetUnit = 1 // BudgetRatio of each stream's length (auto eviction: the sequence's)
)

// Selection is the unit a policy selects over (cab_evict_selection).
type Selection int32

// Selections.
const (
	SelectionPerHead        Selection = 0 // every stream chooses its own tokens
	SelectionSharedPerLayer Selection = 1 // one choice per layer, kept by all its heads
)

// Allocation is how the budget is shared among a sequence's streams (cab_budget_allocation).
type Allocation int32

// Allocations.
const (
	AllocationUniform  Allocation = 0
	AllocationPyramid  Allocation = 1 // more in lower layers (PyramidKV)
	AllocationAdaptive Allocation = 2 // per layer, to the heads with diffuse attention (AdaKV)
)

// ScoreSource is which attention scores h2o, cab and cab-frc rank by (cab_score_source).
type ScoreSource int32

// Score sources.
const (
	ScoreCumulative ScoreSource = 0 // attention from every query since the token was cached
	ScoreWindow     ScoreSource = 1 // attention from the last queries of the latest prefill chunk
)

// EvictParams are the options of Context.Evict and of automatic eviction
// (ContextParams.AutoEvict) (cab_evict_params). docs/POLICIES.md describes the policies.
type EvictParams struct {
	// "full", "random", "window", "h2o", "tova", "snapkv", "cab", "cab-frc", "chunkkv", or
	// "quantize" / "quantize+<policy>": old tokens to int8 blocks (ContextParams.KVQ8CapacityTokens)
	Policy         string
	BudgetUnit     BudgetUnit
	BudgetTokens   int32   // tokens kept per stream; default 256
	BudgetRatio    float64 // share kept, in [0, 1]; default 0.5
	Sinks          int32   // first tokens always kept; default 4
	Recent         int32   // most recent tokens always kept; default 0
	Selection      Selection
	Allocation     Allocation
	MinBudget      int32   // pyramid / adaptive: per-stream floor; default 5
	PyramidBeta    float32 // pyramid: top layer gets average / beta; default 20
	Seed           uint64  // random policy
	H2ONormalize   bool    // h2o: rank by score / observers
	H2ORecentRatio float32 // h2o: share of the budget for recent tokens; default 0.2
	SnapKVWindow   int32   // snapkv: last tokens kept as the observation window; default 32
	SnapKVKernel   int32   // snapkv: odd max-pool width; default 7
	CabRLocal      float32 // cab, cab-frc: share for recent tokens; default 0.3
	CabRBridge     float32 // cab, cab-frc: share for bridges; default 0.2
	ScoreSource    ScoreSource
	FRCBlock       int32 // cab-frc: tokens pooled per graph node; default 16
	FRCMaxBlocks   int32 // cab-frc: most graph nodes per stream; default 128
	ChunkKVChunk   int32 // chunkkv: tokens per chunk; default 16
	// snapkv: the pool window moves this many slots back, so it reaches further after a hit;
	// 0..SnapKVKernel/2, default 0
	SnapKVShift int32
	// snapkv: share of the layers, from the first, that rank by the deeper layers' window score
	// instead of their own; in [0, 1), default 0 (off)
	SnapKVInherit float32
	// "quantize" policies: the most recent tokens per stream kept in full precision; default 64
	QuantizeRecent int32
}

// DefaultEvictParams gives the library's defaults (cab_evict_default_params).
func DefaultEvictParams() EvictParams {
	p := capi.NewCab_evict_params()
	defer capi.DeleteCab_evict_params(p)
	return EvictParams{
		Policy:         p.Policy_name(),
		BudgetUnit:     BudgetUnit(p.GetBudget_unit()),
		BudgetTokens:   p.GetBudget_tokens(),
		BudgetRatio:    p.GetBudget_ratio(),
		Sinks:          p.GetN_sinks(),
		Recent:         p.GetN_recent(),
		Selection:      Selection(p.GetSelection()),
		Allocation:     Allocation(p.GetAllocation()),
		MinBudget:      p.GetMin_budget(),
		PyramidBeta:    p.GetPyramid_beta(),
		Seed:           p.GetSeed(),
		H2ONormalize:   p.GetH2o_normalize() != 0,
		H2ORecentRatio: p.GetH2o_recent_ratio(),
		SnapKVWindow:   p.GetSnapkv_window(),
		SnapKVKernel:   p.GetSnapkv_kernel(),
		CabRLocal:      p.GetCab_r_local(),
		CabRBridge:     p.GetCab_r_bridge(),
		ScoreSource:    ScoreSource(p.GetScore_source()),
		FRCBlock:       p.GetFrc_block(),
		FRCMaxBlocks:   p.GetFrc_max_blocks(),
		ChunkKVChunk:   p.GetChunkkv_chunk(),
		SnapKVShift:    p.GetSnapkv_shift(),
		SnapKVInherit:  p.GetSnapkv_inherit(),
		QuantizeRecent: p.GetQuantize_recent(),
	}
}

// NewEvictParams gives the defaults with a policy and a budget of tokens per stream.
func NewEvictParams(policy string, budgetTokens int32) EvictParams {
	p := DefaultEvictParams()
	p.Policy = policy
	p.BudgetUnit = BudgetTokens
	p.BudgetTokens = budgetTokens
	return p
}

// native gives a C struct and its release function, to call once the call that reads the
// struct has returned. The policy name is a C copy whose address the struct borrows (see
// bindings/swig/cab.i); no Go memory is handed to C.
func (o *EvictParams) native() (capi.Cab_evict_params, func()) {
	p := capi.NewCab_evict_params()
	policy := C.CString(o.Policy)
	p.Set_policy_address(uint64(uintptr(unsafe.Pointer(policy))))
	p.SetBudget_unit(capi.Enum_SS_cab_budget_unit(o.BudgetUnit))
	p.SetBudget_tokens(o.BudgetTokens)
	p.SetBudget_ratio(o.BudgetRatio)
	p.SetN_sinks(o.Sinks)
	p.SetN_recent(o.Recent)
	p.SetSelection(capi.Enum_SS_cab_evict_selection(o.Selection))
	p.SetAllocation(capi.Enum_SS_cab_budget_allocation(o.Allocation))
	p.SetMin_budget(o.MinBudget)
	p.SetPyramid_beta(o.PyramidBeta)
	p.SetSeed(o.Seed)
	normalize := int32(0)
	if o.H2ONormalize {
		normalize = 1
	}
	p.SetH2o_normalize(normalize)
	p.SetH2o_recent_ratio(o.H2ORecentRatio)
	p.SetSnapkv_window(o.SnapKVWindow)
	p.SetSnapkv_kernel(o.SnapKVKernel)
	p.SetCab_r_local(o.CabRLocal)
	p.SetCab_r_bridge(o.CabRBridge)
	p.SetScore_source(capi.Enum_SS_cab_score_source(o.ScoreSource))
	p.SetFrc_block(o.FRCBlock)
	p.SetFrc_max_blocks(o.FRCMaxBlocks)
	p.SetChunkkv_chunk(o.ChunkKVChunk)
	p.SetSnapkv_shift(o.SnapKVShift)
	p.SetSnapkv_inherit(o.SnapKVInherit)
	p.SetQuantize_recent(o.QuantizeRecent)
	return p, func() {
		capi.DeleteCab_evict_params(p)
		C.free(unsafe.Pointer(policy))
	}
}

// EvictReport is what one Context.Evict did, summed over the sequence's streams
// (cab_evict_report).
type EvictReport struct {
	TokensBefore  int64
	TokensKept    int64
	TokensEvicted int64 // TokensBefore - TokensKept
	BlocksFreed   int64 // KV blocks returned to the pool, both types
	BytesFreed    uint64
	// Tokens moved to int8 blocks ("quantize" policies)
	TokensQuantized int64
}

// KVScores are the attention scores of one stream's cached tokens, in KVPositions order
// (cab_kv_scores).
type KVScores struct {
	Score     []float32 // softmax mass every query gave the token since it was cached
	Observers []float32 // how many queries could see it
	Window    []float32 // the same over the last ScoreWindow queries of the latest prefill chunk
}

// Evict shrinks the KV cache of seq to the budget with a policy; the sequence goes on from
// where it was. A bad field (an unknown policy, say) is StatusInvalidArgument naming it.
func (c *Context) Evict(seq int32, params EvictParams) (EvictReport, error) {
	p, release := params.native()
	defer release()
	r := capi.NewCab_evict_report()
	defer capi.DeleteCab_evict_report(r)
	err := c.h.with(func(ptr uintptr) error {
		return call(func() capi.Enum_SS_cab_status { return capi.Cab_evict(ptr, seq, p, r) })
	})
	if err != nil {
		return EvictReport{}, err
	}
	return EvictReport{
		TokensBefore:    r.GetTokens_before(),
		TokensKept:      r.GetTokens_kept(),
		TokensEvicted:   r.GetTokens_evicted(),
		BlocksFreed:     r.GetBlocks_freed(),
		BytesFreed:      r.GetBytes_freed(),
		TokensQuantized: r.GetTokens_quantized(),
	}, nil
}

// KVPositions gives the original positions of the tokens cached in one (layer, kv head) stream
// of seq, in cache order; eviction removes entries and never renumbers them.
func (c *Context) KVPositions(seq, layer, head int32) ([]int32, error) {
	guess, err := c.SeqLength(seq)
	if err != nil {
		return nil, err
	}
	var positions []int32
	err = c.h.with(func(ptr uintptr) (err error) {
		positions, err = fill(int(guess), func(buf []int32, n *int64) capi.Enum_SS_cab_status {
			return capi.Cab_kv_positions(ptr, seq, layer, head, buf, int64(len(buf)), n)
		})
		return err
	})
	return positions, err
}

// KVScores gives the attention scores of one stream's cached tokens, in KVPositions order.
func (c *Context) KVScores(seq, layer, head int32) (KVScores, error) {
	length, err := c.SeqLength(seq)
	if err != nil {
		return KVScores{}, err
	}
	var s KVScores
	err = c.h.with(func(ptr uintptr) error {
		for n := length; ; {
			s = KVScores{make([]float32, n), make([]float32, n), make([]float32, n)}
			var got int64
			err := call(func() capi.Enum_SS_cab_status {
				return capi.Cab_kv_scores(ptr, seq, layer, head, s.Score, s.Observers, s.Window, n, &got)
			})
			if e, ok := err.(*Error); ok && e.Status == StatusBufferTooSmall && got > n {
				n = got
				continue
			}
			if err != nil {
				return err
			}
			s = KVScores{s.Score[:got], s.Observers[:got], s.Window[:got]}
			return nil
		}
	})
	return s, err
}
