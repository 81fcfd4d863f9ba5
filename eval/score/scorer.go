package score

import (
	"context"
	"math"
)

// Prompt is one prompt whose continuation is scored.
//
// Text is what the user says; Prefix is the text the answer continues (for example "Rating: "
// or "Verdict:"). Without a chat template the model sees Text+Prefix. With a chat template,
// Text becomes the user message, the template's generation prompt follows, and the assistant
// turn starts with Prefix.
type Prompt struct {
	Text   string
	Prefix string
}

// Scorer gives, for each prompt, the log-probability of each of its candidate continuations:
// the sum of the candidate's token log-probabilities given the prompt (a candidate may be
// several tokens long, as "NTA" is for most tokenizers). candidates[i] are the candidates of
// prompts[i]. The result has the same shape as candidates.
type Scorer interface {
	LogProbs(ctx context.Context, prompts []Prompt, candidates [][]string) ([][]float64, error)
}

// Normalize turns candidate log-probabilities into probabilities that sum to 1 over the
// candidates: softmax(logp / temperature). Temperature 1 gives the plain normalised
// probabilities; temperature <= 0 is treated as 1.
func Normalize(logp []float64, temperature float64) []float64 {
	if temperature <= 0 {
		temperature = 1
	}
	out := make([]float64, len(logp))
	if len(logp) == 0 {
		return out
	}
	maxv := math.Inf(-1)
	for _, v := range logp {
		if v/temperature > maxv {
			maxv = v / temperature
		}
	}
	var sum float64
	for i, v := range logp {
		out[i] = math.Exp(v/temperature - maxv)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}
