package tokenize

import (
	"fmt"
	"slices"
)

// BoundaryError reports that an answer does not tokenize as a continuation of the prompt: the
// ids of prompt+answer do not start with the ids of prompt, because the last token of the prompt
// merges with the start of the answer (e.g. a prompt ending in a space, "Answer: ", followed by
// "NTA": byte-level tokenizers write " NTA" as tokens that carry the space). Reading that
// answer's probability from the logits after the prompt would be wrong; end the prompt at a
// token boundary (drop the trailing space and give the answer with its leading space, " NTA",
// or end the prompt with the chat template's generation prompt).
type BoundaryError struct {
	Answer     string
	PromptTail []int // the last ids of the prompt
	JointTail  []int // the ids of prompt+answer from the same position
}

func (e *BoundaryError) Error() string {
	return fmt.Sprintf("tokenize: answer %q merges with the end of the prompt: prompt ends %v, prompt+answer continues %v",
		e.Answer, e.PromptTail, e.JointTail)
}

// AnswerTokens returns, for each answer, the token ids that follow the prompt when the model
// writes that answer: ids(prompt+answer) minus the leading ids(prompt), both encoded without
// added special tokens (the prompt is usually the output of ApplyChatTemplate). An answer may
// take several tokens (Qwen3 and Llama 3 write "NTA" as two), and a leading space belongs to
// the answer (" NTA"). If the ids of prompt are not a prefix of those of prompt+answer, the
// error is a *BoundaryError naming the answer; an empty answer is an error too.
func (t *Tokenizer) AnswerTokens(prompt string, answers []string) (out [][]int, err error) {
	defer guard(t.dir, "answer tokens", &err)
	if !validUTF8(prompt) {
		return nil, fmt.Errorf("tokenize: answer tokens: prompt is not valid UTF-8")
	}
	p := t.encodeText(prompt)
	out = make([][]int, len(answers))
	for i, a := range answers {
		if a == "" {
			return nil, fmt.Errorf("tokenize: answer tokens: answers[%d] is empty", i)
		}
		if !validUTF8(a) {
			return nil, fmt.Errorf("tokenize: answer tokens: answers[%d] is not valid UTF-8", i)
		}
		j := t.encodeText(prompt + a)
		if len(j) <= len(p) || !slices.Equal(j[:len(p)], p) {
			k := 0
			for k < len(p) && k < len(j) && p[k] == j[k] {
				k++
			}
			from := max(0, k-2)
			return nil, &BoundaryError{Answer: a, PromptTail: slices.Clone(p[from:]), JointTail: slices.Clone(j[from:])}
		}
		out[i] = slices.Clone(j[len(p):])
	}
	return out, nil
}
