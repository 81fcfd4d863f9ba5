package score

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/valora-go/valora/internal/kern"
	"github.com/valora-go/valora/internal/prefix"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/tokenize"
)

// Options configure a ModelScorer.
type Options struct {
	// Chat is the prompt format, the one train.Encode takes (tokenize.RenderPrompt). With
	// Chat.Enabled, Prompt.Text is the user message of the tokenizer's chat template (after
	// Chat.System, if any) with the generation prompt, and Prompt.Prefix starts the assistant
	// turn. Without it the model sees Text+Prefix, encoded with the tokenizer's special tokens
	// (BOS where its config adds one).
	Chat tokenize.Chat
	// BatchSize is the number of prompts per forward pass (default DefaultBatchSize). The pass
	// that extends the prompts with the later tokens of multi-token candidates holds one row
	// per such candidate of those prompts.
	BatchSize int
	// Adapter, if set, is applied in every forward pass (for example a *lora.Adapter; a nil
	// *lora.Adapter is no adapter). One that does not fit the model (model.CheckAdapter: made
	// for another model) is refused by New.
	Adapter model.Adapter
	// Threads caps the goroutines of the scorer's forward passes (0: the model's cap, see
	// model.Model.SetThreads).
	Threads int
}

// The two batch sizes of scoring, one default each.
const (
	// DefaultBatchSize is the number of prompts per forward pass of a ModelScorer when
	// Options.BatchSize is 0. It bounds the memory of a pass (activations and key/value cache
	// grow with it).
	DefaultBatchSize = 8
	// DefaultCallBatch is the number of prompts the library's evaluations (package eval's
	// benchmarks, package survey's read-outs) hand to a Scorer or Generator in one call when
	// their options leave BatchSize at 0. The context is checked and progress reported between
	// calls; a ModelScorer splits a call into forward passes of Options.BatchSize prompts and
	// runs a prefix the call's prompts share once, so larger calls share more.
	DefaultCallBatch = 64
)

// ModelScorer is a Scorer that reads candidate log-probabilities from a model's logits. Each
// batch of prompts runs through the model once (left-padded); the first token of every
// candidate is read from the logits after the prompt, and the later tokens of multi-token
// candidates from one more pass that continues the prompts' key/value cache. Log-softmax is
// taken in float64 over the whole vocabulary. Without Chat, LogProbs may run concurrently when
// the Adapter allows it (the model and tokenizer do).
type ModelScorer struct {
	m    *model.Model
	tok  *tokenize.Tokenizer
	opts Options
}

var _ Scorer = (*ModelScorer)(nil)

// New returns a scorer over m with tokenizer tok (which must be the model's).
func New(m *model.Model, tok *tokenize.Tokenizer, opts Options) (*ModelScorer, error) {
	if m == nil || tok == nil {
		return nil, errors.New("score: model scorer: nil model or tokenizer")
	}
	if opts.BatchSize < 0 {
		return nil, fmt.Errorf("score: model scorer: batch size %d, want >= 0", opts.BatchSize)
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Chat.Enabled && !tok.HasChatTemplate() {
		return nil, errors.New("score: model scorer: Chat is enabled but the tokenizer has no chat_template")
	}
	if err := m.CheckAdapter(opts.Adapter); err != nil {
		return nil, fmt.Errorf("score: model scorer: %w", err)
	}
	opts.Chat.Vars = maps.Clone(opts.Chat.Vars) // the caller's map may change after this
	return &ModelScorer{m: m, tok: tok, opts: opts}, nil
}

// Chat returns the prompt format the scorer reads prompts in: pass it to train.Encode so that
// training rows are encoded exactly as the scorer reads them.
func (s *ModelScorer) Chat() tokenize.Chat {
	c := s.opts.Chat
	c.Vars = maps.Clone(c.Vars)
	return c
}

// Render returns the text the model reads for p: Text+Prefix, or with Chat the rendered chat
// (system message if any, user message Text, generation prompt) followed by Prefix.
func (s *ModelScorer) Render(p Prompt) (string, error) {
	return s.tok.RenderPrompt(p.Text, p.Prefix, s.opts.Chat)
}

// Tokens returns the token ids the model reads for p and the ids of each candidate as it
// continues them (tokenize.EncodePrompt: BOS where the tokenizer adds one, trailing whitespace
// of the prompt moved into the candidates when it would merge with them). A candidate that
// otherwise merges with the end of the prompt is an error wrapping a *tokenize.BoundaryError.
func (s *ModelScorer) Tokens(p Prompt, candidates []string) (prompt []int, cands [][]int, err error) {
	text, err := s.Render(p)
	if err != nil {
		return nil, nil, err
	}
	prompt, cands, err = s.tok.EncodePrompt(text, candidates, !s.opts.Chat.Enabled)
	if err != nil {
		return nil, nil, err
	}
	if len(prompt) == 0 {
		return nil, nil, errors.New("prompt encodes to no tokens")
	}
	return prompt, cands, nil
}

// scoreItem is one prompt with its encoded candidates.
type scoreItem struct {
	idx    int // index into the caller's prompts
	prompt []int
	cands  [][]int
}

// LogProbs implements Scorer.
func (s *ModelScorer) LogProbs(ctx context.Context, prompts []Prompt, candidates [][]string) ([][]float64, error) {
	if len(prompts) != len(candidates) {
		return nil, fmt.Errorf("score: model scorer: %d prompts but %d candidate lists", len(prompts), len(candidates))
	}
	vocab := s.m.Config.VocabSize
	out := make([][]float64, len(prompts))
	items := make([]scoreItem, 0, len(prompts))
	for i, p := range prompts {
		out[i] = make([]float64, len(candidates[i]))
		if len(candidates[i]) == 0 {
			continue
		}
		ids, cands, err := s.Tokens(p, candidates[i])
		if err != nil {
			var be *tokenize.BoundaryError
			if errors.As(err, &be) {
				return nil, fmt.Errorf("score: prompt %d (%s): candidate %q does not start at a token boundary after the prompt (the prompt's last token merges with it); end the prompt before a trailing space and give the candidates with their leading space: %w",
					i, short(p.Text+p.Prefix), be.Answer, err)
			}
			return nil, fmt.Errorf("score: prompt %d (%s): %w", i, short(p.Text+p.Prefix), err)
		}
		for _, seq := range append([][]int{ids}, cands...) {
			for _, id := range seq {
				if id < 0 || id >= vocab {
					return nil, fmt.Errorf("score: prompt %d (%s): token id %d is outside the model's vocabulary of %d: tokenizer and model do not match",
						i, short(p.Text+p.Prefix), id, vocab)
				}
			}
		}
		items = append(items, scoreItem{idx: i, prompt: ids, cands: cands})
	}
	// Prompts in token order: those that share a prefix land in the same forward batch, which
	// then runs the prefix once (see runPrompts). Results go back by index.
	slices.SortStableFunc(items, func(a, b scoreItem) int { return slices.Compare(a.prompt, b.prompt) })
	var pc prefixCache
	for lo := 0; lo < len(items); {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := batchEnd(items, lo, s.opts.BatchSize)
		if err := s.scoreBatch(ctx, items[lo:hi], out, &pc); err != nil {
			return nil, err
		}
		lo = hi
	}
	return out, nil
}

// batchEnd picks the end of the forward batch that starts at lo: up to size prompts, but once
// it is half full it ends where the next prompt would shorten the batch's shared prefix, so
// batches follow the groups of prompts that share the most.
func batchEnd(items []scoreItem, lo, size int) int {
	hi := lo + 1
	for hi < len(items) && hi-lo < size {
		if hi-lo >= (size+1)/2 && prefix.Common(items[hi].prompt, items[lo].prompt) < prefix.Common(items[hi-1].prompt, items[lo].prompt) {
			break
		}
		hi++
	}
	return hi
}

// scoreBatch fills out for a batch of prompts: one pass over the prompts, then (if any
// candidate has several tokens) one pass over those candidates' later tokens, continuing a
// copy of the prompts' cache.
func (s *ModelScorer) scoreBatch(ctx context.Context, items []scoreItem, out [][]float64, pc *prefixCache) error {
	rows := make([][]int, len(items))
	longest := 0
	for i, it := range items {
		rows[i] = it.prompt
		for _, c := range it.cands {
			longest = max(longest, len(c))
		}
	}
	cache, res, err := s.runPrompts(ctx, rows, longest-1, pc)
	if err != nil {
		return fmt.Errorf("score: scoring a batch of %d prompts (prompt %d first): %w", len(items), items[0].idx, err)
	}
	for i, it := range items {
		row := res.Row(i)
		lse := kern.LogSumExp(row)
		for c, ids := range it.cands {
			out[it.idx][c] = float64(row[ids[0]]) - lse
		}
	}
	if longest < 2 {
		return nil
	}

	// Later tokens: one right-padded row per multi-token candidate. Row r feeds the candidate's
	// tokens but the last; the logits at its k-th token predict token k+1.
	type dest struct{ item, cand int }
	var sel []int
	var dests []dest
	for i, it := range items {
		for c, ids := range it.cands {
			if len(ids) > 1 {
				sel = append(sel, i)
				dests = append(dests, dest{i, c})
			}
		}
	}
	ext, err := cache.Select(sel)
	if err != nil {
		return err
	}
	T := longest - 1
	eb := model.Batch{B: len(sel), T: T, IDs: make([]int32, len(sel)*T), Mask: make([]float32, len(sel)*T)}
	var logitRows []int
	for r, d := range dests {
		ids := items[d.item].cands[d.cand]
		for k, id := range ids[:len(ids)-1] {
			eb.IDs[r*T+k] = int32(id)
			eb.Mask[r*T+k] = 1
			logitRows = append(logitRows, r*T+k)
		}
	}
	res, err = s.m.Forward(ctx, eb, model.Options{Rows: logitRows, Cache: ext, Adapter: s.opts.Adapter, Threads: s.opts.Threads})
	if err != nil {
		return fmt.Errorf("score: scoring the candidates of a batch of %d prompts (prompt %d first): %w", len(items), items[0].idx, err)
	}
	n := 0
	for _, d := range dests {
		it := items[d.item]
		ids := it.cands[d.cand]
		for _, id := range ids[1:] {
			row := res.Row(n)
			out[it.idx][d.cand] += float64(row[id]) - kern.LogSumExp(row)
			n++
		}
	}
	return nil
}

// minSharedPrefix is the shortest common token prefix worth a pass of its own.
const minSharedPrefix = 8

// prefixCache keeps the key/value cache of the last shared prefix run (one row), so that the
// next batch that starts the same way (survey prompts share their task text across many
// batches) continues it instead of recomputing it.
type prefixCache struct {
	tokens []int
	cache  *model.Cache
}

// runPrompts runs a batch of prompts through the model, filling a cache with room for extra
// more tokens per row, and returns the logits at each prompt's last token. The batch's shared
// token prefix runs once, in a batch of one, continuing as much of the previous batch's prefix
// as matches; the cache is then copied to every row and the rest of each prompt follows, left-
// padded, its positions continuing the prefix's (the layout of the trainer's shared prefixes,
// package internal/prefix).
func (s *ModelScorer) runPrompts(ctx context.Context, rows [][]int, extra int, pc *prefixCache) (*model.Cache, *model.Output, error) {
	shared := prefix.Shared(rows, 1) // every row keeps at least one token of its own
	cache := &model.Cache{}
	if len(rows) > 1 && shared >= minSharedPrefix {
		pre := rows[0][:shared]
		longest := 0
		for _, r := range rows {
			longest = max(longest, len(r)-shared)
		}
		if k := prefix.Common(pc.tokens, pre); k >= minSharedPrefix {
			cache = pc.cache.Clone()
			if err := cache.Truncate(k); err != nil {
				return nil, nil, err
			}
			pre = pre[k:]
		}
		if len(pre) > 0 {
			cache.Reserve(len(pre))
			pb := model.Batch{B: 1, T: len(pre), IDs: make([]int32, len(pre))}
			for i, id := range pre {
				pb.IDs[i] = int32(id)
			}
			if _, err := s.m.Forward(ctx, pb, model.Options{Rows: []int{}, Cache: cache, Adapter: s.opts.Adapter, Threads: s.opts.Threads}); err != nil {
				return nil, nil, err
			}
		}
		pc.tokens, pc.cache = rows[0][:shared], cache
		var err error
		if cache, err = cache.Expand(len(rows)); err != nil {
			return nil, nil, err
		}
		cache.Reserve(longest + extra)
		rest := make([][]int, len(rows))
		for i, r := range rows {
			rest[i] = r[shared:]
		}
		rows = rest
	} else {
		cache.Reserve(extra)
	}
	b, err := model.NewBatch(rows, 0)
	if err != nil {
		return nil, nil, err
	}
	b.Pos = nil // positions continue from the cache's (after the shared prefix, if any)
	res, err := s.m.Forward(ctx, b, model.Options{Rows: b.Last(), Cache: cache, Adapter: s.opts.Adapter, Threads: s.opts.Threads})
	return cache, res, err
}

// short quotes s, cut to 60 characters, for error messages.
func short(s string) string {
	if r := []rune(s); len(r) > 60 {
		s = string(r[:57]) + "..."
	}
	return fmt.Sprintf("%q", s)
}
