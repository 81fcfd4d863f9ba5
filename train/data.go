package train

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/valora-go/valora/internal/prefix"
	"github.com/valora-go/valora/model"
)

// Example is one supervised pair of token ids: the loss counts only the Answer tokens, each
// predicted from everything before it.
type Example struct {
	Prompt []int
	Answer []int
}

// Len is the example's length in tokens.
func (e Example) Len() int { return len(e.Prompt) + len(e.Answer) }

// AnswerTokens counts the tokens the loss is taken over.
func AnswerTokens(xs []Example) int {
	n := 0
	for _, x := range xs {
		n += len(x.Answer)
	}
	return n
}

func validateExamples(name string, xs []Example, vocab int) error {
	for i, x := range xs {
		if len(x.Prompt) == 0 {
			return fmt.Errorf("train: %s example %d: empty prompt (the first answer token needs a token before it)", name, i)
		}
		if len(x.Answer) == 0 {
			return fmt.Errorf("train: %s example %d: empty answer", name, i)
		}
		for _, id := range slices.Concat(x.Prompt, x.Answer) {
			if id < 0 || id >= vocab {
				return fmt.Errorf("train: %s example %d: token id %d outside the vocabulary [0,%d)", name, i, id, vocab)
			}
		}
	}
	return nil
}

// Collate left-pads examples into one batch (the layout the model's scoring uses: every row
// ends at the last column, position ids restart at 0 after the pads) and returns the labels:
// the answer tokens where they are, IgnoreIndex elsewhere.
func Collate(xs []Example, pad int) (model.Batch, []int32, error) {
	rows := make([][]int, len(xs))
	for i, x := range xs {
		rows[i] = slices.Concat(x.Prompt, x.Answer)
	}
	b, err := model.NewBatch(rows, pad)
	if err != nil {
		return model.Batch{}, nil, err
	}
	labels := make([]int32, b.B*b.T)
	for i := range labels {
		labels[i] = IgnoreIndex
	}
	for i, x := range xs {
		end := (i + 1) * b.T
		for j, id := range x.Answer {
			labels[end-len(x.Answer)+j] = int32(id)
		}
	}
	return b, labels, nil
}

// labelRows appends to rows and targets the counted predictions of a batch of rows of t
// tokens with labels [B*t]: the position of every token whose next token in the same row has
// a label other than IgnoreIndex, and that label (the logits at position i predict
// labels[i+1], transformers' causal-LM convention).
func labelRows(labels []int32, t int, rows []int, targets []int32) ([]int, []int32) {
	for i := 0; i+1 < len(labels); i++ {
		if (i+1)%t != 0 && labels[i+1] != IgnoreIndex {
			rows = append(rows, i)
			targets = append(targets, labels[i+1])
		}
	}
	return rows, targets
}

// plan groups example indices into optimizer steps of micro-batches. Examples are shuffled,
// then sorted by length inside windows of 32 steps (length bucketing: rows of a micro-batch
// have similar lengths, so little padding), and the steps are shuffled again.
func plan(n, batch, accum int, bucket bool, rng *rand.Rand, lens func(int) int) [][][]int {
	idx := rng.Perm(n)
	perStep := batch * accum
	if bucket {
		window := perStep * 32
		for lo := 0; lo < n; lo += window {
			hi := min(lo+window, n)
			w := idx[lo:hi]
			slices.SortStableFunc(w, func(a, b int) int { return lens(a) - lens(b) })
		}
	}
	var steps [][][]int
	for lo := 0; lo < n; lo += perStep {
		hi := min(lo+perStep, n)
		var step [][]int
		for m := lo; m < hi; m += batch {
			step = append(step, idx[m:min(m+batch, hi)])
		}
		steps = append(steps, step)
	}
	if bucket {
		rng.Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })
	}
	return steps
}

// planShared is plan for prefix sharing: examples whose prompts share at least minSharedPrefix
// tokens are ordered so that those sharing the most are next to each other (prefix.Order: the
// groups, and the members of each, in random order), so that micro-batches hold rows with a
// common prefix; the examples that share with none follow, ordered as plan orders them. The
// steps are then shuffled. Without any shared prefix it is plan.
func planShared(xs []Example, batch, accum int, bucket bool, rng *rand.Rand) [][][]int {
	lens := func(i int) int { return xs[i].Len() }
	prompts := make([][]int, len(xs))
	for i, x := range xs {
		prompts[i] = x.Prompt
	}
	idx, alone := prefix.Order(prompts, minSharedPrefix, rng.Shuffle)
	if len(idx) == 0 {
		return plan(len(xs), batch, accum, bucket, rng, lens)
	}
	perStep := batch * accum
	rng.Shuffle(len(alone), func(i, j int) { alone[i], alone[j] = alone[j], alone[i] })
	if bucket {
		window := perStep * 32
		for lo := 0; lo < len(alone); lo += window {
			w := alone[lo:min(lo+window, len(alone))]
			slices.SortStableFunc(w, func(a, b int) int { return lens(a) - lens(b) })
		}
	}
	idx = append(idx, alone...)
	var steps [][][]int
	for lo := 0; lo < len(idx); lo += perStep {
		hi := min(lo+perStep, len(idx))
		var step [][]int
		for m := lo; m < hi; m += batch {
			step = append(step, idx[m:min(m+batch, hi)])
		}
		steps = append(steps, step)
	}
	rng.Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })
	return steps
}
