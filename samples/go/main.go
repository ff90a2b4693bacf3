// Command cab-batch answers several prompts at once: each prompt is a sequence of one context,
// and every step decodes one token for all unfinished sequences in a single batched call.
//
//	cab-batch [-n MAX_TOKENS] MODEL.gguf "PROMPT" ["PROMPT"...]
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"cab"
)

func main() {
	maxTokens := flag.Int("n", 48, "tokens to generate per prompt at most")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, `usage: cab-batch [-n MAX_TOKENS] MODEL.gguf "PROMPT" ["PROMPT"...]`)
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 2 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Args()[1:], *maxTokens); err != nil {
		fmt.Fprintln(os.Stderr, "cab-batch:", err)
		os.Exit(1)
	}
}

// promptTokens gives the tokens of one user prompt, in the model's chat template if it has one.
func promptTokens(m *cab.Model, prompt string) ([]int32, error) {
	if m.Info().ChatTemplate == cab.ChatTemplateNone {
		return m.Tokenize(prompt, cab.AddBOS)
	}
	text, err := m.FormatChat([]cab.ChatMessage{{Role: "user", Content: prompt}}, true)
	if err != nil {
		return nil, err
	}
	return m.Tokenize(text, cab.AddBOS|cab.ParseSpecial)
}

func run(modelPath string, prompts []string, maxTokens int) error {
	model, err := cab.LoadModel(modelPath, nil)
	if err != nil {
		return err
	}
	defer model.Close()

	prefixes := make([][]int32, len(prompts))
	longest := 0
	for i, p := range prompts {
		if prefixes[i], err = promptTokens(model, p); err != nil {
			return err
		}
		if len(prefixes[i]) > longest {
			longest = len(prefixes[i])
		}
	}
	params := cab.DefaultContextParams()
	params.MaxSequences = int32(len(prompts))
	params.KVCapacityTokens = int64(len(prompts) * (longest + maxTokens))
	ctx, err := cab.NewContext(model, &params)
	if err != nil {
		return err
	}
	defer ctx.Close()

	start := time.Now()
	for seq, tokens := range prefixes {
		if err := ctx.Prefill(int32(seq), tokens); err != nil {
			return err
		}
	}
	prefill := time.Since(start)

	// Every step samples each unfinished sequence and decodes them all in one batch.
	replies := make([][]int32, len(prompts))
	active := make([]int32, len(prompts))
	for i := range active {
		active[i] = int32(i)
	}
	steps, decoded := 0, 0
	start = time.Now()
	for len(active) > 0 {
		var seqs, next []int32
		for _, seq := range active {
			token, err := ctx.Sample(seq, nil)
			if err != nil {
				return err
			}
			if model.IsEOG(token) || len(replies[seq]) == maxTokens {
				continue
			}
			replies[seq] = append(replies[seq], token)
			seqs, next = append(seqs, seq), append(next, token)
		}
		if len(seqs) == 0 {
			break
		}
		if err := ctx.Decode(seqs, next); err != nil {
			return err
		}
		active = seqs
		steps++
		decoded += len(seqs)
	}
	decode := time.Since(start)

	for seq, prompt := range prompts {
		text, err := model.Detokenize(replies[seq], cab.SkipSpecial)
		if err != nil {
			return err
		}
		fmt.Printf("[%d] %s\n    %s\n\n", seq, prompt, text)
	}
	stats, err := ctx.KVStats(cab.SeqAll)
	if err != nil {
		return err
	}
	promptCount := 0
	for _, p := range prefixes {
		promptCount += len(p)
	}
	fmt.Printf("prefill: %d prompts, %d tokens, %.1f tokens/s\n", len(prompts), promptCount,
		float64(promptCount)/prefill.Seconds())
	fmt.Printf("decode:  %d batched steps, %d tokens (%.1f per step), %.1f tokens/s\n", steps,
		decoded, float64(decoded)/float64(max(steps, 1)), float64(decoded)/decode.Seconds())
	fmt.Printf("kv:      %d blocks of %d used, %.2f MiB of %.2f MiB\n", stats.BlocksUsed,
		stats.BlocksTotal, float64(stats.BytesUsed)/(1<<20), float64(stats.BytesTotal)/(1<<20))
	return nil
}

func max(a, b int) int {
	if a > b {
		return a
	}
	return b
}
