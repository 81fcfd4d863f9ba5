package survey

import (
	"context"
	"fmt"

	"github.com/valora-go/valora/eval/score"
)

// DefaultMaxNewTokens is how many tokens the authors' sampled read-out generates per prompt.
const DefaultMaxNewTokens = 8

// FirstDigit returns the first character 1..6 of a generated reply ("Rating: 5" -> 5,
// " 5." -> 5, "I'd say 4" -> 4) and false when the reply holds none: the authors' sampled
// read-out. Other digits (0, 7, 8, 9) are skipped.
func FirstDigit(reply string) (int, bool) {
	for _, c := range reply {
		if c >= '1' && c <= '6' {
			return int(c - '0'), true
		}
	}
	return 0, false
}

// GenerateRateOptions control RateGenerated.
type GenerateRateOptions struct {
	Temperature  float64 // DefaultTemperature when <= 0
	MaxNewTokens int     // DefaultMaxNewTokens when <= 0
	// Seed is the read-out's seed: the same seed gives the same replies whatever the batch
	// size (every prompt has its own sampling stream, derived from the seed and its place).
	Seed      uint64
	BatchSize int // prompts per Generate call; score.DefaultCallBatch when <= 0
	Render    RenderOptions
	// Progress, if set, is called after each batch with the number of prompts done and the
	// total.
	Progress func(done, total int)
}

// RateGenerated is the authors' sampled read-out: for every variant of the given descriptions
// (Instrument.Variants order) it generates up to MaxNewTokens tokens at Temperature after the
// prompt (Text+Prefix, the template up to {rating}) and takes the first digit 1-6 of the reply
// (FirstDigit). A reply without one is kept with Missing set and Rating 0. Generation of a
// reply stops at its first digit, since later text cannot change the rating. The logit fields
// of the returned ratings (LogProbs, Probs, Expected, Argmax) are not filled: use Rate for them.
func RateGenerated(ctx context.Context, g score.Generator, in *Instrument, descs []Description, opts GenerateRateOptions) ([]Rating, error) {
	if g == nil {
		return nil, fmt.Errorf("survey: generated read-out: nil generator")
	}
	temp := positiveOr(opts.Temperature, DefaultTemperature)
	maxNew := positiveOr(opts.MaxNewTokens, DefaultMaxNewTokens)
	stop := func(reply string) bool { _, ok := FirstDigit(reply); return ok }
	read := readOut{what: "generated read-out", source: "generator", batchSize: opts.BatchSize, render: opts.Render, progress: opts.Progress}
	generate := func(prompts []score.Prompt, first int) ([]string, error) {
		return g.Generate(ctx, prompts, score.GenerateOptions{MaxTokens: maxNew, Temperature: temp,
			Seed: opts.Seed, FirstIndex: first, Stop: stop})
	}
	return readBatches(ctx, read, in, descs, generate, func(r *Rating, reply string) error {
		r.Reply = reply
		if k, ok := FirstDigit(reply); ok {
			r.Rating = k
		} else {
			r.Missing = true
		}
		return nil
	})
}

// CountMissing counts the ratings whose generated reply held no digit.
func CountMissing(rs []Rating) int {
	n := 0
	for _, r := range rs {
		if r.Missing {
			n++
		}
	}
	return n
}
