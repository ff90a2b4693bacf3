package cab_test

import (
	"errors"
	"strings"
	"testing"

	"cab"
)

// greedy decodes steps greedy tokens on seq and returns them.
func greedy(t *testing.T, c *cab.Context, seq int32, steps int) []int32 {
	t.Helper()
	var out []int32
	for i := 0; i < steps; i++ {
		token, err := c.Sample(seq, nil)
		must(t, err)
		out = append(out, token)
		must(t, c.Decode([]int32{seq}, []int32{token}))
	}
	return out
}

func TestCopySeq(t *testing.T) {
	m := loadModel(t)
	c := newContext(t, m, 3)
	must(t, c.Prefill(0, storyPrompt))
	must(t, c.CopySeq(0, 1))
	src, err := c.Logits(0)
	must(t, err)
	dst, err := c.Logits(1)
	must(t, err)
	for i := range src {
		if src[i] != dst[i] {
			t.Fatalf("logit %d: copy %v, original %v", i, dst[i], src[i])
		}
	}
	if n, err := c.SeqLength(1); err != nil || n != int64(len(storyPrompt)) {
		t.Fatalf("copy's length %d (%v)", n, err)
	}
	// The copy continues as the original would have.
	if got := greedy(t, c, 1, len(storyContinuation)); !equalTokens(got, storyContinuation) {
		t.Fatalf("the copy generated %v, want %v", got, storyContinuation)
	}

	// Evicting a copy leaves the original as it was (the pool's free count aside).
	before, err := c.KVStats(1)
	must(t, err)
	must(t, c.CopySeq(1, 2))
	if _, err := c.Evict(2, cab.NewEvictParams("h2o", 8)); err != nil {
		t.Fatal(err)
	}
	after, err := c.KVStats(1)
	must(t, err)
	evicted, err := c.KVStats(2)
	must(t, err)
	after.BlocksFree = before.BlocksFree
	if before != after || evicted.TokensEvicted == 0 || evicted.StreamMax != 8 {
		t.Fatalf("original before %+v, after %+v; evicted copy %+v", before, after, evicted)
	}

	if err := c.CopySeq(1, 1); !errors.Is(err, cab.ErrInvalidArgument) || !strings.Contains(err.Error(), "src and dst") {
		t.Fatalf("copy onto itself gave %v", err)
	}
	if err := c.CopySeq(0, 3); !errors.Is(err, cab.ErrInvalidArgument) || !strings.Contains(err.Error(), "dst") {
		t.Fatalf("bad dst gave %v", err)
	}
}

func TestCopySeqKVFull(t *testing.T) {
	m := loadModel(t)
	c := newContext(t, m, 2)
	long := make([]int32, 200)
	for i := range long {
		long[i] = int32(3 + i*7%500)
	}
	must(t, c.Prefill(0, long))
	must(t, c.Prefill(1, storyPrompt))
	before, err := c.KVStats(1)
	must(t, err)
	if err := c.CopySeq(0, 1); !errors.Is(err, cab.ErrKVFull) {
		t.Fatalf("a copy larger than the free pool gave %v", err)
	}
	after, err := c.KVStats(1)
	must(t, err)
	if before != after {
		t.Fatalf("KV_FULL changed dst: before %+v, after %+v", before, after)
	}
}
