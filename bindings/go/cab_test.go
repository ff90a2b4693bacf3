package cab_test

import (
	"errors"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"

	"cab"
)

// llama2.c's encoding of "Once upon a time" (with BOS) and its 30 greedy tokens on stories260K
// (tools/golden/stories260k_reference.py, as in tests/test_context.cpp).
var (
	storyPrompt       = []int32{1, 403, 407, 261, 378}
	storyContinuation = []int32{432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338,
		401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432}
)

const storyText = ", there was a little girl named Lily. She loved to play outside in the park. One day,"

// modelPath is $CAB_TEST_MODEL or this checkout's models/stories260K.gguf.
func modelPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CAB_TEST_MODEL")
	if path == "" {
		path = "../../models/stories260K.gguf"
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("model %s is missing: run tools/prepare_models.sh (%v)", path, err)
	}
	return path
}

func loadModel(t *testing.T) *cab.Model {
	t.Helper()
	m, err := cab.LoadModel(modelPath(t), nil)
	if err != nil {
		t.Fatalf("LoadModel: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func newContext(t *testing.T, m *cab.Model, sequences int32) *cab.Context {
	t.Helper()
	p := cab.DefaultContextParams()
	p.Device = cab.DeviceCPU
	p.MaxSequences = sequences
	p.Threads = 2
	p.KVCapacityTokens = 256
	c, err := cab.NewContext(m, &p)
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equalTokens(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func argmax(v []float32) int32 {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return int32(best)
}

func TestLoad(t *testing.T) {
	m := loadModel(t)
	i := m.Info()
	if i.Arch != "llama" || i.VocabSize != 512 || i.Layers != 5 || i.Heads != 8 || i.KVHeads != 4 ||
		i.BOS != 1 || i.Device != cab.DeviceCPU || i.ChatTemplate != cab.ChatTemplateNone {
		t.Fatalf("unexpected model info %+v", i)
	}
	if cab.VersionNumber() != cab.HeaderVersionNumber() {
		t.Fatalf("library %d, header %d", cab.VersionNumber(), cab.HeaderVersionNumber())
	}
	if !strings.HasPrefix(cab.Version(), "0.") {
		t.Fatalf("version %q", cab.Version())
	}
	if cab.StatusKVFull.String() != "CAB_ERR_KV_FULL" {
		t.Fatalf("status name %q", cab.StatusKVFull.String())
	}
}

func TestTokenizeRoundTrip(t *testing.T) {
	m := loadModel(t)
	tokens, err := m.Tokenize("Once upon a time", cab.AddBOS)
	must(t, err)
	if !equalTokens(tokens, storyPrompt) {
		t.Fatalf("tokens %v, want %v", tokens, storyPrompt)
	}
	for _, text := range []string{"Once upon a time, there was a little girl.", "Zürich — naïve café ✓ 日本"} {
		tokens, err := m.Tokenize(text, cab.AddBOS)
		must(t, err)
		if tokens[0] != m.Info().BOS {
			t.Fatalf("first token %d, want BOS", tokens[0])
		}
		back, err := m.Detokenize(tokens, cab.SkipSpecial)
		must(t, err)
		if back != text {
			t.Fatalf("round trip gave %q, want %q", back, text)
		}
	}
	empty, err := m.Tokenize("", 0)
	must(t, err)
	if len(empty) != 0 {
		t.Fatalf("empty text gave %v", empty)
	}
	piece, err := m.TokenPiece(storyPrompt[1])
	must(t, err)
	if len(piece) == 0 {
		t.Fatal("empty piece")
	}
}

func TestGenerateGreedy(t *testing.T) {
	m := loadModel(t)
	c := newContext(t, m, 1)
	must(t, c.Prefill(0, storyPrompt))
	var got []int32
	for len(got) < len(storyContinuation) {
		token, err := c.Sample(0, nil)
		must(t, err)
		logits, err := c.Logits(0)
		must(t, err)
		if argmax(logits) != token {
			t.Fatalf("greedy sample %d is not the argmax %d", token, argmax(logits))
		}
		got = append(got, token)
		must(t, c.Decode([]int32{0}, []int32{token}))
	}
	if !equalTokens(got, storyContinuation) {
		t.Fatalf("greedy tokens %v, want %v", got, storyContinuation)
	}
	text, err := m.Detokenize(got, 0)
	must(t, err)
	if text != storyText {
		t.Fatalf("greedy text %q, want %q", text, storyText)
	}
	n, err := c.SeqLength(0)
	must(t, err)
	if n != int64(len(storyPrompt)+len(got)) {
		t.Fatalf("sequence length %d", n)
	}
}

func TestSeededSampling(t *testing.T) {
	m := loadModel(t)
	run := func() []int32 {
		p := cab.DefaultSamplerParams()
		p.Temperature, p.TopK, p.TopP, p.Seed = 0.9, 40, 0.95, 42
		s, err := cab.NewSampler(&p)
		must(t, err)
		defer s.Close()
		c := newContext(t, m, 1)
		must(t, c.Prefill(0, storyPrompt))
		out := make([]int32, 20)
		for i := range out {
			out[i], err = c.Sample(0, s)
			must(t, err)
			must(t, c.Decode([]int32{0}, out[i:i+1]))
		}
		return out
	}
	a, b := run(), run()
	if !equalTokens(a, b) {
		t.Fatalf("same seed, different tokens: %v and %v", a, b)
	}
}

// Three prompts decoded together, step by step, against each decoded alone.
func TestBatchDecode(t *testing.T) {
	m := loadModel(t)
	prompts := []string{"Once upon a time", "The cat sat", "Tom and Sue went to the park"}
	const steps = 6
	aloneTokens := make([][]int32, len(prompts))
	aloneLogits := make([][]float32, len(prompts))
	for s, prompt := range prompts {
		c := newContext(t, m, 1)
		tokens, err := m.Tokenize(prompt, cab.AddBOS)
		must(t, err)
		must(t, c.Prefill(0, tokens))
		for i := 0; i < steps; i++ {
			token, err := c.Sample(0, nil)
			must(t, err)
			aloneTokens[s] = append(aloneTokens[s], token)
			must(t, c.Decode([]int32{0}, []int32{token}))
		}
		aloneLogits[s], err = c.Logits(0)
		must(t, err)
		c.Close()
	}

	c := newContext(t, m, int32(len(prompts)))
	seqs := make([]int32, len(prompts))
	for s, prompt := range prompts {
		seqs[s] = int32(s)
		tokens, err := m.Tokenize(prompt, cab.AddBOS)
		must(t, err)
		must(t, c.Prefill(int32(s), tokens))
	}
	for i := 0; i < steps; i++ {
		next := make([]int32, len(seqs))
		for s := range seqs {
			token, err := c.Sample(int32(s), nil)
			must(t, err)
			if token != aloneTokens[s][i] {
				t.Fatalf("step %d, sequence %d: token %d, alone %d", i, s, token, aloneTokens[s][i])
			}
			next[s] = token
		}
		must(t, c.Decode(seqs, next))
	}
	for s := range seqs {
		logits, err := c.Logits(int32(s))
		must(t, err)
		diff := 0.0
		for i := range logits {
			diff = math.Max(diff, math.Abs(float64(logits[i]-aloneLogits[s][i])))
		}
		if diff > 1e-3 {
			t.Fatalf("sequence %d: batched logits differ from alone by %g", s, diff)
		}
	}
}

func TestKVStatsAndReset(t *testing.T) {
	m := loadModel(t)
	c := newContext(t, m, 2)
	streams := int64(m.Info().Layers * m.Info().KVHeads)
	must(t, c.Prefill(1, storyPrompt))
	s, err := c.KVStats(1)
	must(t, err)
	n := int64(len(storyPrompt))
	if s.SeqLength != n || s.TokensCached != n*streams || int64(s.StreamMax) != n || s.BlocksUsed == 0 {
		t.Fatalf("stats %+v", s)
	}
	lengths, err := c.KVLengths(1)
	must(t, err)
	if int64(len(lengths)) != streams {
		t.Fatalf("%d lengths, want %d", len(lengths), streams)
	}
	for _, l := range lengths {
		if int64(l) != n {
			t.Fatalf("lengths %v", lengths)
		}
	}
	all, err := c.KVStats(cab.SeqAll)
	must(t, err)
	if all.BlocksUsed+all.BlocksFree != all.BlocksTotal {
		t.Fatalf("pool stats %+v", all)
	}
	must(t, c.ResetSeq(1))
	all, err = c.KVStats(cab.SeqAll)
	must(t, err)
	if all.BlocksFree != all.BlocksTotal {
		t.Fatalf("after reset %+v", all)
	}
}

func TestErrors(t *testing.T) {
	const path = "/nonexistent/dir/missing-model.gguf"
	_, err := cab.LoadModel(path, nil)
	var e *cab.Error
	if !errors.As(err, &e) || e.Status != cab.StatusIO || !errors.Is(err, cab.ErrIO) {
		t.Fatalf("bad path gave %v, want ErrIO", err)
	}
	if !strings.Contains(e.Message, path) {
		t.Fatalf("message %q does not name the path", e.Message)
	}

	m := loadModel(t)
	c := newContext(t, m, 1)
	if err := c.Prefill(3, storyPrompt); !errors.Is(err, cab.ErrInvalidArgument) || !strings.Contains(err.Error(), "seq") {
		t.Fatalf("bad seq gave %v", err)
	}
	if err := c.Decode([]int32{-2}, []int32{5}); !errors.Is(err, cab.ErrInvalidArgument) {
		t.Fatalf("bad decode seq gave %v", err)
	}
	if err := c.Prefill(0, []int32{1, 100000}); !errors.Is(err, cab.ErrInvalidArgument) {
		t.Fatalf("unknown token gave %v", err)
	}
	if _, err := c.Logits(0); !errors.Is(err, cab.ErrState) {
		t.Fatalf("logits before prefill gave %v", err)
	}
	if _, err := m.FormatChat([]cab.ChatMessage{{Role: "user", Content: "hi"}}, true); !errors.Is(err, cab.ErrUnsupported) {
		t.Fatalf("chat without template gave %v", err)
	}
	if errors.Is(err, cab.ErrKVFull) {
		t.Fatal("errors.Is matched the wrong status")
	}
}

func TestCloseTwice(t *testing.T) {
	m, err := cab.LoadModel(modelPath(t), nil)
	must(t, err)
	c, err := cab.NewContext(m, nil)
	must(t, err)
	s, err := cab.NewSampler(nil)
	must(t, err)
	for i := 0; i < 2; i++ {
		must(t, c.Close())
		must(t, s.Close())
		must(t, m.Close())
	}
	if err := c.Prefill(0, storyPrompt); !errors.Is(err, cab.ErrClosed) {
		t.Fatalf("prefill after Close gave %v", err)
	}
	if _, err := m.Tokenize("x", 0); !errors.Is(err, cab.ErrClosed) {
		t.Fatalf("tokenize after Close gave %v", err)
	}
	if _, err := cab.NewContext(m, nil); !errors.Is(err, cab.ErrClosed) {
		t.Fatalf("NewContext on a closed model gave %v", err)
	}
}

// A context keeps its closed model alive; forgotten objects are freed by finalizers.
func TestContextOutlivesModel(t *testing.T) {
	m, err := cab.LoadModel(modelPath(t), nil)
	must(t, err)
	c, err := cab.NewContext(m, nil)
	must(t, err)
	must(t, m.Close())
	must(t, c.Prefill(0, storyPrompt))
	token, err := c.Sample(0, nil)
	must(t, err)
	if token != storyContinuation[0] {
		t.Fatalf("first token %d", token)
	}
	must(t, c.Close())

	func() {
		m, err := cab.LoadModel(modelPath(t), nil)
		must(t, err)
		c, err := cab.NewContext(m, nil)
		must(t, err)
		must(t, c.Prefill(0, storyPrompt))
	}()
	runtime.GC()
	runtime.GC()
}

// Chat formatting needs a model with a template: SmolLM2 (ChatML).
func TestFormatChat(t *testing.T) {
	path := os.Getenv("CAB_TEST_CHAT_MODEL")
	if path == "" {
		path = "../../models/SmolLM2-135M-Instruct.Q4_1.gguf"
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("model %s is missing: run tools/prepare_models.sh (%v)", path, err)
	}
	m, err := cab.LoadModel(path, nil)
	must(t, err)
	defer m.Close()
	if m.Info().ChatTemplate != cab.ChatTemplateChatML {
		t.Fatalf("template %d, want ChatML", m.Info().ChatTemplate)
	}
	text, err := m.FormatChat([]cab.ChatMessage{
		{Role: "system", Content: "Be brief."},
		{Role: "user", Content: "Hi"},
		{Role: "assistant", Content: "Hello!"},
		{Role: "user", Content: "Bye ✓"},
	}, true)
	must(t, err)
	want := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n" +
		"<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye ✓<|im_end|>\n" +
		"<|im_start|>assistant\n"
	if text != want {
		t.Fatalf("formatted %q, want %q", text, want)
	}
	tokens, err := m.Tokenize(text, cab.ParseSpecial)
	must(t, err)
	if piece, _ := m.TokenPiece(tokens[0]); string(piece) != "<|im_start|>" || !m.IsEOG(m.Info().EOT) {
		t.Fatalf("first token %d (%q), eot %d", tokens[0], piece, m.Info().EOT)
	}
	_, err = m.FormatChat([]cab.ChatMessage{{Role: "narrator", Content: "x"}}, false)
	if !errors.Is(err, cab.ErrInvalidArgument) || !strings.Contains(err.Error(), "narrator") {
		t.Fatalf("bad role gave %v", err)
	}
}
