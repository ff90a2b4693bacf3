package cab

import "cab/internal/capi"

// Device is where computation and memory live (cab_device).
type Device int32

// Devices.
const (
	DeviceAuto Device = 0 // the GPU when the build has CUDA and one is present, else the CPU
	DeviceCPU  Device = 1
	DeviceCUDA Device = 2
)

// KVType is the element type of the KV cache (cab_kv_type).
type KVType int32

// KV-cache element types.
const (
	KVTypeAuto KVType = 0 // F32 on the CPU, BF16 on CUDA
	KVTypeF32  KVType = 1
	KVTypeF16  KVType = 2
	KVTypeBF16 KVType = 3
)

// KVQ8Type is the element type of 8-bit KV blocks (cab_kv_q8_type): one byte per element and
// one F32 scale per row either way.
type KVQ8Type int32

// 8-bit KV element types.
const (
	KVQ8Int8    KVQ8Type = 0 // int8, uniform steps of max|x| / 127 within a row
	KVQ8Fp8E4M3 KVQ8Type = 1 // fp8 E4M3: 3 significant bits over 2^17 within a row
)

// ModelParams are the options of LoadModel (cab_model_params).
type ModelParams struct {
	Device   Device // where the weights go; default DeviceAuto
	GPUIndex int32  // which GPU for DeviceCUDA/DeviceAuto; default 0
}

// DefaultModelParams gives the library's defaults.
func DefaultModelParams() ModelParams {
	p := capi.NewCab_model_params()
	defer capi.DeleteCab_model_params(p)
	return ModelParams{Device: Device(p.GetDevice()), GPUIndex: p.GetGpu_index()}
}

// native gives a C struct (free it with capi.DeleteCab_model_params); nil means the defaults.
func (o *ModelParams) native() capi.Cab_model_params {
	p := capi.NewCab_model_params()
	if o != nil {
		p.SetDevice(capi.Enum_SS_cab_device(o.Device))
		p.SetGpu_index(o.GPUIndex)
	}
	return p
}

// ContextParams are the options of NewContext (cab_ctx_params).
type ContextParams struct {
	Device           Device // default DeviceAuto: follows the model
	MaxSequences     int32  // sequences held at once, numbered from 0; default 1
	Threads          int32  // CPU threads, also for eviction's host-side selections; 0 = every core (default)
	KVCapacityTokens int64  // KV pool: tokens of every layer and kv head of all sequences; default 4096
	KVBlockSize      int32  // tokens per KV block; default 16
	KVType           KVType // default KVTypeAuto
	PrefillChunk     int32  // most tokens per prefill forward pass; default 512
	// AutoEvict turns automatic eviction on (nil, the default: off). NewContext copies it: a
	// sequence more than AutoEvictSlack tokens (per stream, on average) over the budget is
	// evicted to it before its next step; prompts are prefilled in chunks within budget + slack.
	AutoEvict      *EvictParams
	AutoEvictSlack int32 // tokens past the budget before automatic eviction fires; default 64
	ScoreWindow    int32 // the last queries of each prefill chunk that make the window score; 32
	// KVQ8CapacityTokens gives every stream int8 blocks for this many tokens on top of
	// KVCapacityTokens (0, the default: none); the "quantize" policies of Evict and AutoEvict
	// fill them.
	KVQ8CapacityTokens int64
	KVQ8Type           KVQ8Type // element type of those blocks; default KVQ8Int8
}

// DefaultContextParams gives the library's defaults.
func DefaultContextParams() ContextParams {
	p := capi.NewCab_ctx_params()
	defer capi.DeleteCab_ctx_params(p)
	return ContextParams{
		Device:             Device(p.GetDevice()),
		MaxSequences:       p.GetN_seq_max(),
		Threads:            p.GetN_threads(),
		KVCapacityTokens:   p.GetKv_capacity_tokens(),
		KVBlockSize:        p.GetKv_block_size(),
		KVType:             KVType(p.GetKv_type()),
		PrefillChunk:       p.GetPrefill_chunk(),
		AutoEvictSlack:     p.GetAuto_evict_slack(),
		ScoreWindow:        p.GetScore_window(),
		KVQ8CapacityTokens: p.GetKv_q8_capacity_tokens(),
		KVQ8Type:           KVQ8Type(p.GetKv_q8_type()),
	}
}

func (o *ContextParams) native() capi.Cab_ctx_params {
	p := capi.NewCab_ctx_params()
	if o != nil {
		p.SetDevice(capi.Enum_SS_cab_device(o.Device))
		p.SetN_seq_max(o.MaxSequences)
		p.SetN_threads(o.Threads)
		p.SetKv_capacity_tokens(o.KVCapacityTokens)
		p.SetKv_block_size(o.KVBlockSize)
		p.SetKv_type(capi.Enum_SS_cab_kv_type(o.KVType))
		p.SetPrefill_chunk(o.PrefillChunk)
		p.SetAuto_evict_slack(o.AutoEvictSlack)
		p.SetScore_window(o.ScoreWindow)
		p.SetKv_q8_capacity_tokens(o.KVQ8CapacityTokens)
		p.SetKv_q8_type(capi.Enum_SS_cab_kv_q8_type(o.KVQ8Type))
	}
	return p
}

// SamplerParams are the options of NewSampler (cab_sampler_params); the defaults are greedy.
type SamplerParams struct {
	Temperature   float32 // 0 = greedy (argmax)
	TopK          int32   // keep the k most likely tokens; 0 = off
	TopP          float32 // nucleus: smallest set with mass >= TopP; 1 = off
	MinP          float32 // drop tokens below MinP * p(best); 0 = off
	RepeatPenalty float32 // CTRL-style penalty on recent tokens; 1 = off
	RepeatLastN   int32   // how many recent tokens the penalty looks at
	Seed          uint64  // the same seed gives the same samples
}

// DefaultSamplerParams gives the library's defaults.
func DefaultSamplerParams() SamplerParams {
	p := capi.NewCab_sampler_params()
	defer capi.DeleteCab_sampler_params(p)
	return SamplerParams{
		Temperature:   p.GetTemperature(),
		TopK:          p.GetTop_k(),
		TopP:          p.GetTop_p(),
		MinP:          p.GetMin_p(),
		RepeatPenalty: p.GetRepeat_penalty(),
		RepeatLastN:   p.GetRepeat_last_n(),
		Seed:          p.GetSeed(),
	}
}

func (o *SamplerParams) native() capi.Cab_sampler_params {
	p := capi.NewCab_sampler_params()
	if o != nil {
		p.SetTemperature(o.Temperature)
		p.SetTop_k(o.TopK)
		p.SetTop_p(o.TopP)
		p.SetMin_p(o.MinP)
		p.SetRepeat_penalty(o.RepeatPenalty)
		p.SetRepeat_last_n(o.RepeatLastN)
		p.SetSeed(o.Seed)
	}
	return p
}
