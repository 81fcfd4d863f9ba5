package survey

import (
	"context"
	"fmt"
	"math"
	"math/rand"

	"github.com/valora-go/valora/eval/score"
)

// Mode is how a rating is read from the model.
type Mode string

// Read-out modes.
const (
	// ModeLogit reads the softmax over the six digit log-probabilities; the rating is the
	// argmax (deterministic).
	ModeLogit Mode = "logit"
	// ModeSampled draws the rating from softmax(logp/T) over the six digits with a seeded
	// *rand.Rand (the authors sampled at T = 0.5 and took the first digit; here sampling is
	// restricted to the digits; RateGenerated is the authors' read-out itself).
	ModeSampled Mode = "sampled"
)

// DefaultTemperature is the sampling temperature of the authors' protocol.
const DefaultTemperature = 0.5

// RateOptions control Rate.
type RateOptions struct {
	Mode        Mode    // ModeLogit when empty
	Temperature float64 // ModeSampled; DefaultTemperature when <= 0
	Seed        int64   // ModeSampled: seed of the *rand.Rand; draws follow variant order
	BatchSize   int     // prompts per Scorer call; score.DefaultCallBatch when <= 0
	Render      RenderOptions
	// Progress, if set, is called after each batch with the number of prompts done and the
	// total.
	Progress func(done, total int)
}

// Rating is the read-out of one variant.
type Rating struct {
	Variant
	Value  Value  `json:"value"`
	Level1 Level1 `json:"level1"`
	Split  Split  `json:"split"`
	// LogProbs are the scorer's log-probabilities of the candidates "1".."6".
	LogProbs [6]float64 `json:"logprobs"`
	// Probs is softmax(LogProbs): the distribution over the ratings 1..6.
	Probs    [6]float64 `json:"probs"`
	Expected float64    `json:"expected"` // sum_k k * Probs[k-1]
	Argmax   int        `json:"argmax"`   // 1..6; the lower rating on a tie
	// Rating is the rating used for votes: Argmax in logit mode, the sampled digit in
	// sampled mode, the first digit 1-6 of the reply in generated read-out (RateGenerated),
	// 0 when that reply holds none (Missing).
	Rating int `json:"rating"`
	// Reply is the generated text (RateGenerated only).
	Reply string `json:"reply,omitempty"`
	// Missing: the generated reply holds no digit 1-6 (RateGenerated only); the rating is
	// then left out of every metric and counted.
	Missing bool `json:"missing,omitempty"`
}

// ReadDigits computes the logit read-out of six digit log-probabilities: the softmax
// distribution, its expectation over 1..6 and its argmax (the lower digit on a tie).
func ReadDigits(logp [6]float64) (probs [6]float64, expected float64, argmax int) {
	p := score.Normalize(logp[:], 1)
	copy(probs[:], p)
	argmax = 1
	for k := range 6 {
		expected += float64(k+1) * probs[k]
		if probs[k] > probs[argmax-1] {
			argmax = k + 1
		}
	}
	return probs, expected, argmax
}

// SampleDigit draws a rating 1..6 from softmax(logp / temperature) with rng (one Float64
// draw).
func SampleDigit(logp [6]float64, temperature float64, rng *rand.Rand) int {
	p := score.Normalize(logp[:], temperature)
	u := rng.Float64()
	var c float64
	for k := range 6 {
		c += p[k]
		if u < c {
			return k + 1
		}
	}
	// Rounding left u above the cumulative sum: the last digit with mass.
	for k := 5; k >= 0; k-- {
		if p[k] > 0 {
			return k + 1
		}
	}
	return 6
}

// Rate reads a rating from every variant of the given descriptions (see
// Instrument.Variants for the order), calling the scorer in batches.
func Rate(ctx context.Context, s score.Scorer, in *Instrument, descs []Description, opts RateOptions) ([]Rating, error) {
	mode := opts.Mode
	if mode == "" {
		mode = ModeLogit
	}
	if mode != ModeLogit && mode != ModeSampled {
		return nil, fmt.Errorf("survey: rate: unknown mode %q (want logit or sampled)", mode)
	}
	temp := positiveOr(opts.Temperature, DefaultTemperature)
	var rng *rand.Rand
	if mode == ModeSampled {
		rng = rand.New(rand.NewSource(opts.Seed))
	}
	cands := opts.Render.Candidates()
	read := readOut{what: "rate", source: "scorer", batchSize: opts.BatchSize, render: opts.Render, progress: opts.Progress}
	logProbs := func(prompts []score.Prompt, _ int) ([][]float64, error) {
		cs := make([][]string, len(prompts))
		for i := range cs {
			cs[i] = cands
		}
		return s.LogProbs(ctx, prompts, cs)
	}
	return readBatches(ctx, read, in, descs, logProbs, func(r *Rating, lp []float64) error {
		if len(lp) != 6 {
			return fmt.Errorf("survey: rate: description %d variant %d: scorer gave %d log-probabilities, want 6", r.Description, r.Number, len(lp))
		}
		for k := range 6 {
			if math.IsNaN(lp[k]) {
				return fmt.Errorf("survey: rate: description %d variant %d: log-probability of %q is NaN", r.Description, r.Number, cands[k])
			}
			r.LogProbs[k] = lp[k]
		}
		r.Probs, r.Expected, r.Argmax = ReadDigits(r.LogProbs)
		r.Rating = r.Argmax
		if mode == ModeSampled {
			r.Rating = SampleDigit(r.LogProbs, temp, rng)
		}
		return nil
	})
}

// readOut is what the read-outs (Rate, RateGenerated) share: the variants of the descriptions
// in batches of batchSize (score.DefaultCallBatch when <= 0), each batch's prompts rendered, the
// context checked before a batch and progress reported after it.
type readOut struct {
	what      string // the read-out, in errors
	source    string // what gives the results: scorer or generator
	batchSize int
	render    RenderOptions
	progress  func(done, total int)
}

// readBatches reads every batch of the variants of descs: call gives one result per prompt
// (first is the index of the batch's first variant), and rate fills in each variant's rating
// (its variant, value, level-1 value and split already set) from its result.
func readBatches[R any](ctx context.Context, o readOut, in *Instrument, descs []Description,
	call func(prompts []score.Prompt, first int) ([]R, error), rate func(r *Rating, res R) error) ([]Rating, error) {
	bs := positiveOr(o.batchSize, score.DefaultCallBatch)
	vars := in.Variants(descs)
	out := make([]Rating, 0, len(vars))
	for start := 0; start < len(vars); start += bs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("survey: %s: %w", o.what, err)
		}
		batch := vars[start:min(start+bs, len(vars))]
		prompts := make([]score.Prompt, 0, len(batch))
		for _, v := range batch {
			p, err := in.Prompt(v, o.render)
			if err != nil {
				return nil, err
			}
			prompts = append(prompts, p)
		}
		res, err := call(prompts, start)
		if err != nil {
			return nil, fmt.Errorf("survey: %s: prompts %d..%d: %w", o.what, start, start+len(batch)-1, err)
		}
		if len(res) != len(prompts) {
			return nil, fmt.Errorf("survey: %s: %s gave %d results for %d prompts", o.what, o.source, len(res), len(prompts))
		}
		for i, v := range batch {
			d := in.Descriptions[v.Description]
			r := Rating{Variant: v, Value: d.Value, Level1: d.Level1, Split: d.Split}
			if err := rate(&r, res[i]); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		if o.progress != nil {
			o.progress(start+len(batch), len(vars))
		}
	}
	return out, nil
}

// positiveOr is v, or def when v is not positive (an option left at zero).
func positiveOr[T int | float64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Vote returns the majority of ratings in 1..6: the most frequent; on a tie, the tied rating
// closest to the mean of all ratings, and of two equally close, the lower.
func Vote(ratings []int) (int, error) {
	if len(ratings) == 0 {
		return 0, fmt.Errorf("survey: vote: no ratings")
	}
	var counts [7]int
	var sum float64
	for i, r := range ratings {
		if r < 1 || r > 6 {
			return 0, fmt.Errorf("survey: vote: rating %d is %d, want 1..6", i, r)
		}
		counts[r]++
		sum += float64(r)
	}
	mean := sum / float64(len(ratings))
	best := 0
	for k := 1; k <= 6; k++ {
		switch {
		case best == 0 || counts[k] > counts[best]:
			best = k
		case counts[k] == counts[best] && math.Abs(float64(k)-mean) < math.Abs(float64(best)-mean):
			// k > best, so an equal distance keeps the lower best.
			best = k
		}
	}
	return best, nil
}
