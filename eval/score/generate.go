package score

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/valora-go/valora/model"
)

// GenerateOptions control Generator.Generate.
type GenerateOptions struct {
	// MaxTokens is the most new tokens per prompt (required, > 0).
	MaxTokens int
	// Temperature 0 is greedy decoding; above 0 every token is sampled from softmax(logits/T)
	// over the whole vocabulary (no top-k or top-p truncation).
	Temperature float64
	// Seed seeds the sampler. Prompt i of a call draws from its own stream, seeded by (Seed,
	// FirstIndex+i), so a reply does not depend on the batch the prompt lands in; a caller that
	// splits one job over several calls sets FirstIndex to the place of the call's first prompt.
	Seed       uint64
	FirstIndex int
	// Stop, if set, is asked after every new token with the reply so far; true ends that
	// prompt's generation (for example once the reply holds a rating digit). A reply also ends
	// at one of the model's end-of-sequence tokens, which is not part of the text.
	Stop func(reply string) bool
}

// Generator continues prompts with generated text: replies[i] is the decoded continuation of
// prompts[i] (special tokens skipped).
type Generator interface {
	Generate(ctx context.Context, prompts []Prompt, opts GenerateOptions) (replies []string, err error)
}

var _ Generator = (*ModelScorer)(nil)

// Generate implements Generator on the scorer's model, tokenizer, chat setting and adapter.
// Prompts are encoded as the Hugging Face tokenizer would encode the rendered text (Text+Prefix,
// or the chat followed by Prefix; BOS where the tokenizer adds one) and run in batches of
// Options.BatchSize, left-padded, with shared prompt prefixes computed once; each batch
// then decodes one token per pass over its key/value cache until every reply has stopped or
// MaxTokens are reached.
func (s *ModelScorer) Generate(ctx context.Context, prompts []Prompt, opts GenerateOptions) ([]string, error) {
	if opts.MaxTokens <= 0 {
		return nil, fmt.Errorf("score: generate: MaxTokens %d, want > 0", opts.MaxTokens)
	}
	if opts.Temperature < 0 || math.IsNaN(opts.Temperature) || math.IsInf(opts.Temperature, 0) {
		return nil, fmt.Errorf("score: generate: temperature %v, want finite and >= 0", opts.Temperature)
	}
	vocab := s.m.Config.VocabSize
	items := make([]scoreItem, len(prompts))
	for i, p := range prompts {
		text, err := s.Render(p)
		if err != nil {
			return nil, fmt.Errorf("score: generate: prompt %d (%s): %w", i, short(p.Text+p.Prefix), err)
		}
		ids, err := s.tok.Encode(text, !s.opts.Chat.Enabled)
		if err != nil {
			return nil, fmt.Errorf("score: generate: prompt %d (%s): %w", i, short(p.Text+p.Prefix), err)
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("score: generate: prompt %d (%s): encodes to no tokens", i, short(p.Text+p.Prefix))
		}
		for _, id := range ids {
			if id < 0 || id >= vocab {
				return nil, fmt.Errorf("score: generate: prompt %d: token id %d is outside the model's vocabulary of %d: tokenizer and model do not match", i, id, vocab)
			}
		}
		items[i] = scoreItem{idx: i, prompt: ids}
	}
	slices.SortStableFunc(items, func(a, b scoreItem) int { return slices.Compare(a.prompt, b.prompt) })
	out := make([]string, len(prompts))
	var pc prefixCache
	for lo := 0; lo < len(items); {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("score: generate: %w", err)
		}
		hi := batchEnd(items, lo, s.opts.BatchSize)
		if err := s.generateBatch(ctx, items[lo:hi], opts, out, &pc); err != nil {
			return nil, fmt.Errorf("score: generate: a batch of %d prompts (prompt %d first): %w", hi-lo, items[lo].idx, err)
		}
		lo = hi
	}
	return out, nil
}

// generateBatch generates the replies of one batch of prompts into out.
func (s *ModelScorer) generateBatch(ctx context.Context, items []scoreItem, opts GenerateOptions, out []string, pc *prefixCache) error {
	rows := make([][]int, len(items))
	rngs := make([]*rand.Rand, len(items))
	for i, it := range items {
		rows[i] = it.prompt
		rngs[i] = rand.New(rand.NewPCG(opts.Seed, uint64(opts.FirstIndex+it.idx)^0x9e3779b97f4a7c15))
	}
	cache, res, err := s.runPrompts(ctx, rows, opts.MaxTokens, pc)
	if err != nil {
		return err
	}
	gen := make([][]int, len(items))
	done := make([]bool, len(items))
	left := len(items)
	var w []float64
	next := make([]int32, len(items))
	for step := 0; ; step++ {
		for i := range items {
			if done[i] {
				continue
			}
			var id int
			id, w = model.SampleToken(res.Row(i), opts.Temperature, rngs[i], w)
			next[i] = int32(id)
			if slices.Contains(s.m.Config.EOSTokenIDs, id) {
				done[i], left = true, left-1
				continue
			}
			gen[i] = append(gen[i], id)
			if opts.Stop != nil {
				text, err := s.tok.Decode(gen[i], true)
				if err != nil {
					return err
				}
				if opts.Stop(text) {
					done[i], left = true, left-1
				}
			}
		}
		if left == 0 || step+1 >= opts.MaxTokens {
			break
		}
		// Finished rows keep being fed (their token is ignored): the batch keeps its shape.
		b := model.Batch{B: len(items), T: 1, IDs: next}
		sel := make([]int, len(items))
		for i := range sel {
			sel[i] = i
		}
		if res, err = s.m.Forward(ctx, b, model.Options{Rows: sel, Cache: cache, Adapter: s.opts.Adapter, Threads: s.opts.Threads}); err != nil {
			return err
		}
	}
	for i, it := range items {
		text, err := s.tok.Decode(gen[i], true)
		if err != nil {
			return err
		}
		out[it.idx] = text
	}
	return nil
}

// errNoGenerator is returned by callers that need a Generator and got a Scorer without one.
var errNoGenerator = errors.New("the scorer cannot generate text (it does not implement score.Generator)")

// AsGenerator returns s as a Generator, or an error when it is not one.
func AsGenerator(s Scorer) (Generator, error) {
	if g, ok := s.(Generator); ok {
		return g, nil
	}
	return nil, errNoGenerator
}
