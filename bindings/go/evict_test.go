package cab_test

import (
	"errors"
	"strings"
	"testing"

	"cab"
)

func evictContext(t *testing.T, m *cab.Model, auto *cab.EvictParams) *cab.Context {
	t.Helper()
	p := cab.DefaultContextParams()
	p.Device = cab.DeviceCPU
	p.Threads = 2
	p.KVCapacityTokens = 128
	p.AutoEvict = auto
	p.AutoEvictSlack = 8
	c, err := cab.NewContext(m, &p)
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func generate(t *testing.T, c *cab.Context, steps int) {
	t.Helper()
	for i := 0; i < steps; i++ {
		token, err := c.Sample(0, nil)
		must(t, err)
		must(t, c.Decode([]int32{0}, []int32{token}))
	}
}

func kvStats(t *testing.T, c *cab.Context) cab.KVStats {
	t.Helper()
	s, err := c.KVStats(0)
	must(t, err)
	return s
}

func TestEvictToBudget(t *testing.T) {
	m := loadModel(t)
	c := evictContext(t, m, nil)
	streams := int64(m.Info().Layers * m.Info().KVHeads)
	must(t, c.Prefill(0, storyPrompt))
	generate(t, c, 35)
	before := kvStats(t, c)
	if before.TokensCached != 40*streams {
		t.Fatalf("tokens cached before: %d", before.TokensCached)
	}
	p := cab.NewEvictParams("h2o", 16)
	if p.Sinks != 4 || cab.DefaultEvictParams().Policy != "cab" {
		t.Fatalf("defaults: %+v", cab.DefaultEvictParams())
	}
	r, err := c.Evict(0, p)
	must(t, err)
	after := kvStats(t, c)
	if r.TokensBefore != before.TokensCached || r.TokensKept != 16*streams ||
		r.TokensKept != after.TokensCached || r.TokensEvicted != r.TokensBefore-r.TokensKept ||
		after.TokensEvicted != r.TokensEvicted || r.BlocksFreed != before.BlocksUsed-after.BlocksUsed ||
		r.BlocksFreed <= 0 || r.BytesFreed == 0 {
		t.Fatalf("report %+v, stats before %+v, after %+v", r, before, after)
	}
	if after.StreamMax != 16 || after.SeqLength != 40 {
		t.Fatalf("after: %+v", after)
	}
	positions, err := c.KVPositions(0, 2, 1)
	must(t, err)
	if len(positions) != 16 || positions[0] != 0 || positions[3] != 3 {
		t.Fatalf("positions %v: want 16 with the sinks 0..3", positions)
	}
	for i := 1; i < len(positions); i++ {
		if positions[i] <= positions[i-1] {
			t.Fatalf("positions not increasing: %v", positions)
		}
	}
	scores, err := c.KVScores(0, 2, 1)
	must(t, err)
	if len(scores.Score) != 16 || len(scores.Observers) != 16 || len(scores.Window) != 16 {
		t.Fatalf("scores: %+v", scores)
	}
	for i := range scores.Score {
		if scores.Score[i] <= 0 || scores.Observers[i] < 1 {
			t.Fatalf("token %d: score %g, observers %g", i, scores.Score[i], scores.Observers[i])
		}
	}
	generate(t, c, 10)
	if s := kvStats(t, c); s.SeqLength != 50 || s.StreamMax != 26 {
		t.Fatalf("after 10 more tokens: %+v", s)
	}
}

func TestAutoEvictKeepsBudgetAndSlack(t *testing.T) {
	m := loadModel(t)
	const budget = 24
	p := cab.NewEvictParams("window", budget)
	c := evictContext(t, m, &p)
	must(t, c.Prefill(0, storyPrompt))
	for i := 0; i < 300; i++ {
		generate(t, c, 1)
		if s := kvStats(t, c); s.StreamMax > budget+8 {
			t.Fatalf("%d tokens in a stream at %d", s.StreamMax, s.SeqLength)
		}
	}
	if s := kvStats(t, c); s.SeqLength != 305 || s.TokensEvicted == 0 {
		t.Fatalf("at the end: %+v", s)
	}
}

func TestBadPolicyNamesIt(t *testing.T) {
	m := loadModel(t)
	c := evictContext(t, m, nil)
	must(t, c.Prefill(0, storyPrompt))
	_, err := c.Evict(0, cab.NewEvictParams("no-such-policy", 4))
	if !errors.Is(err, cab.ErrInvalidArgument) || !strings.Contains(err.Error(), "no-such-policy") {
		t.Fatalf("Evict with a bad policy: %v", err)
	}
	bad := cab.NewEvictParams("lru", 16)
	p := cab.DefaultContextParams()
	p.AutoEvict = &bad
	if _, err := cab.NewContext(m, &p); !errors.Is(err, cab.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "lru") {
		t.Fatalf("NewContext with a bad policy: %v", err)
	}
}

func TestQuantizeThenEvict(t *testing.T) {
	if q := cab.DefaultContextParams().KVQ8Type; q != cab.KVQ8Int8 {
		t.Fatalf("default KVQ8Type %d", q)
	}
	// Both 8-bit types take the same blocks and bytes.
	for _, q8 := range []cab.KVQ8Type{cab.KVQ8Int8, cab.KVQ8Fp8E4M3} {
		quantizeThenEvict(t, q8)
	}
}

func quantizeThenEvict(t *testing.T, q8 cab.KVQ8Type) {
	m := loadModel(t)
	p := cab.DefaultContextParams()
	p.Device = cab.DeviceCPU
	p.Threads = 2
	p.KVCapacityTokens = 128
	p.KVQ8CapacityTokens = 128
	p.KVQ8Type = q8
	c, err := cab.NewContext(m, &p)
	must(t, err)
	defer c.Close()
	streams := int64(m.Info().Layers * m.Info().KVHeads)
	must(t, c.Prefill(0, storyPrompt))
	generate(t, c, 35)
	before := kvStats(t, c)
	if before.Q8BlocksUsed != 0 || before.Q8BlocksTotal == 0 {
		t.Fatalf("type %d, before: %+v", q8, before)
	}
	e := cab.NewEvictParams("quantize+h2o", 24)
	e.QuantizeRecent = 8
	r, err := c.Evict(0, e)
	must(t, err)
	after := kvStats(t, c)
	// 40 tokens, the last 8 recent: two whole blocks of 16 per stream go to 8-bit blocks.
	if r.TokensQuantized != 32*streams || r.TokensKept != 24*streams ||
		after.TokensCached != r.TokensKept || after.Q8BlocksUsed == 0 ||
		after.Q8BytesUsed == 0 || after.BytesUsed+r.BytesFreed != before.BytesUsed {
		t.Fatalf("type %d: report %+v, stats before %+v, after %+v", q8, r, before, after)
	}
	generate(t, c, 5)
}
