// Training rows for the trainer: an intervention's rows as text pairs and as tokenised
// train.Example sets.

package survey

import (
	"fmt"

	"github.com/valora-go/valora/tokenize"
	"github.com/valora-go/valora/train"
)

// Text returns the rows as text training pairs (prompt text, prefix, answer digit).
func Text(rows []Row) []train.TextExample {
	out := make([]train.TextExample, len(rows))
	for i, r := range rows {
		out[i] = train.TextExample{Prompt: r.Prompt.Text, Prefix: r.Prompt.Prefix, Answer: r.Answer}
	}
	return out
}

// Examples tokenises an intervention's rows for the trainer, the same way the scorer reads
// ratings (chat template or not), so the model is trained at the position its ratings are
// read from.
func (t *TrainingData) Examples(tok *tokenize.Tokenizer, chat tokenize.Chat) (trainSet, valSet []train.Example, err error) {
	return t.EncodeExamples(tok, chat, false)
}

// EncodeExamples is Examples with a choice of appending the tokenizer's end-of-sequence token
// after the answer digit (eos; the model then also learns to stop after the rating, as a
// Hugging Face Trainer run that appends eos_token to the response does).
func (t *TrainingData) EncodeExamples(tok *tokenize.Tokenizer, chat tokenize.Chat, eos bool) (trainSet, valSet []train.Example, err error) {
	if trainSet, err = train.Encode(tok, Text(t.Train), chat, eos); err != nil {
		return nil, nil, fmt.Errorf("survey: training rows: %w", err)
	}
	if valSet, err = train.Encode(tok, Text(t.Validation), chat, eos); err != nil {
		return nil, nil, fmt.Errorf("survey: validation rows: %w", err)
	}
	return trainSet, valSet, nil
}
