package survey

import (
	"fmt"
	"strings"

	"github.com/valora-go/valora/eval/score"
)

// RenderOptions choose how a variant becomes an score.Prompt.
type RenderOptions struct {
	// SpaceInCandidate moves a space that ends the template prefix into the candidates:
	// Prefix "Rating:" and candidates " 1".." 6" instead of Prefix "Rating: " and "1".."6".
	// Plain text and the answer string are the same either way; only the split between
	// prompt and answer changes, which matters for tokenizers that attach a space to a digit.
	SpaceInCandidate bool
}

// Candidates returns the six rating continuations "1".."6" (" 1".." 6" with
// SpaceInCandidate).
func (o RenderOptions) Candidates() []string {
	out := make([]string, 6)
	for i := range out {
		out[i] = fmt.Sprintf("%d", i+1)
		if o.SpaceInCandidate {
			out[i] = " " + out[i]
		}
	}
	return out
}

// Variant names one prompt of an instrument: a description under one task and one template.
type Variant struct {
	Description int `json:"description"` // Instrument.Descriptions index
	Task        int `json:"task"`
	Template    int `json:"template"`
	Number      int `json:"variant"` // Task*len(Templates) + Template
}

// Render builds the prompt of a description under a task prompt and a response template:
//
//	Text   = strings.TrimSpace(task) + "\n\nStatement:\n" + strings.TrimSpace(description) + "\n\n"
//	Prefix = the template up to {rating}, unchanged (for "Rating: {rating}": "Rating: ")
//
// so that a plain model reads Text+Prefix, which ends with the space of the template, and the
// rating digit follows without a space of its own. Text after the placeholder in the template
// (none in the built-in and the authors' templates) is not part of the prompt.
func Render(task, description, template string, opts RenderOptions) (score.Prompt, error) {
	if err := checkTemplate(template); err != nil {
		return score.Prompt{}, fmt.Errorf("survey: render: %w", err)
	}
	prefix := template[:strings.Index(template, RatingPlaceholder)]
	if opts.SpaceInCandidate {
		prefix = strings.TrimSuffix(prefix, " ")
	}
	return score.Prompt{
		Text:   strings.TrimSpace(task) + "\n\nStatement:\n" + strings.TrimSpace(description) + "\n\n",
		Prefix: prefix,
	}, nil
}

// VariantsPerDescription returns len(Tasks) * len(Templates).
func (in *Instrument) VariantsPerDescription() int { return len(in.Tasks) * len(in.Templates) }

// Variants lists every variant of the given descriptions: for each description in the order
// given, task-major (task 0 with templates 0..8, then task 1, ...).
func (in *Instrument) Variants(descs []Description) []Variant {
	out := make([]Variant, 0, len(descs)*in.VariantsPerDescription())
	for _, d := range descs {
		for t := range in.Tasks {
			for m := range in.Templates {
				out = append(out, Variant{Description: d.Index, Task: t, Template: m, Number: t*len(in.Templates) + m})
			}
		}
	}
	return out
}

// Prompt renders one variant (see Render).
func (in *Instrument) Prompt(v Variant, opts RenderOptions) (score.Prompt, error) {
	if v.Description < 0 || v.Description >= len(in.Descriptions) {
		return score.Prompt{}, fmt.Errorf("survey: variant: description %d out of range [0,%d)", v.Description, len(in.Descriptions))
	}
	if v.Task < 0 || v.Task >= len(in.Tasks) || v.Template < 0 || v.Template >= len(in.Templates) {
		return score.Prompt{}, fmt.Errorf("survey: variant of description %d: task %d / template %d out of range (%d tasks, %d templates)",
			v.Description, v.Task, v.Template, len(in.Tasks), len(in.Templates))
	}
	p, err := Render(in.Tasks[v.Task], in.Descriptions[v.Description].Text, in.Templates[v.Template], opts)
	if err != nil {
		return score.Prompt{}, fmt.Errorf("survey: description %d template %d: %w", v.Description, v.Template, err)
	}
	return p, nil
}
