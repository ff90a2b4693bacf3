package cab

import (
	"runtime"

	"cab/internal/capi"
)

// Sampler picks tokens from logits with its own seeded RNG. Use it from one goroutine at a time.
type Sampler struct {
	h *handle
}

// NewSampler creates a sampler; params may be nil for greedy sampling.
func NewSampler(params *SamplerParams) (*Sampler, error) {
	p := params.native()
	defer capi.DeleteCab_sampler_params(p)
	var ptr uintptr
	if err := call(func() capi.Enum_SS_cab_status { return capi.Cab_sampler_create(p, &ptr) }); err != nil {
		return nil, err
	}
	s := &Sampler{h: newHandle(ptr, capi.Cab_sampler_free)}
	runtime.SetFinalizer(s, (*Sampler).Close)
	return s, nil
}

// Close frees the sampler; calling it again does nothing.
func (s *Sampler) Close() error {
	s.h.close()
	runtime.SetFinalizer(s, nil)
	return nil
}
