// The authors' instrument format (kvs_data_new.json).

package survey

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// authorsItem is one item of the authors' file.
type authorsItem struct {
	Sentence         *string  `json:"sentence"`
	NegativeSentence string   `json:"negative_sentence"`
	Category         string   `json:"category"`
	Level1           []string `json:"level1"`
	Level2           []string `json:"level2"`
	Level3           []string `json:"level3"`
	Level4           []string `json:"level4"`
}

type authorsFile struct {
	Tasks            []string      `json:"tasks"`
	ResponseTemplate []string      `json:"response_template"`
	Train            []authorsItem `json:"train"`
	Eval             []authorsItem `json:"eval"`
	Test             []authorsItem `json:"test"`
}

// ReadAuthors reads the authors' instrument format (kvs_data_new.json): an object with
// "tasks" and "response_template" lists and the item lists "train", "eval" (our validation
// split) and "test". Items need sentence, level1 and level2 (one entry each); category and
// level3, when present, must agree with the taxonomy; level4 and negative_sentence are not
// checked (negative_sentence is kept in Description.Negative). name is used in errors.
// Descriptions come in the order train, eval, test, each in file order.
func ReadAuthors(r io.Reader, name string) (*Instrument, error) {
	var f authorsFile
	if err := decodeStrict(r, &f); err != nil {
		return nil, fmt.Errorf("survey: read %s (authors' format): %w", name, err)
	}
	in := &Instrument{Name: name, Tasks: f.Tasks, Templates: f.ResponseTemplate}
	if len(f.Tasks) == 0 {
		return nil, fmt.Errorf("survey: read %s: field tasks: missing or empty", name)
	}
	if len(f.ResponseTemplate) == 0 {
		return nil, fmt.Errorf("survey: read %s: field response_template: missing or empty", name)
	}
	for i, t := range f.ResponseTemplate {
		if err := checkTemplate(t); err != nil {
			return nil, fmt.Errorf("survey: read %s: response_template %d: %w", name, i, err)
		}
	}
	parts := []struct {
		key   string
		split Split
		items []authorsItem
	}{{"train", SplitTrain, f.Train}, {"eval", SplitValidation, f.Eval}, {"test", SplitTest, f.Test}}
	for _, p := range parts {
		for i, it := range p.items {
			d, err := authorsDescription(it, p.split)
			if err != nil {
				return nil, fmt.Errorf("survey: read %s: item %s[%d]: %w", name, p.key, i, err)
			}
			d.Index = len(in.Descriptions)
			in.Descriptions = append(in.Descriptions, d)
		}
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return in, nil
}

func authorsDescription(it authorsItem, split Split) (Description, error) {
	if it.Sentence == nil || strings.TrimSpace(*it.Sentence) == "" {
		return Description{}, fmt.Errorf("field sentence: missing")
	}
	if len(it.Level1) != 1 {
		return Description{}, fmt.Errorf("field level1: %d entries, want 1", len(it.Level1))
	}
	if len(it.Level2) != 1 {
		return Description{}, fmt.Errorf("field level2: %d entries, want 1", len(it.Level2))
	}
	l1 := Level1(it.Level1[0])
	if !l1.Valid() {
		return Description{}, fmt.Errorf("field level1: unknown level-1 value %q", it.Level1[0])
	}
	v := Value(it.Level2[0])
	info, ok := v.Info()
	if !ok {
		return Description{}, fmt.Errorf("field level2: unknown value %q", it.Level2[0])
	}
	if l1.Value() != v {
		return Description{}, fmt.Errorf("field level2: %q, but level1 %q belongs to %q", v, l1, l1.Value())
	}
	if it.Category != "" && it.Category != info.Code {
		return Description{}, fmt.Errorf("field category: %q, want %q for %s", it.Category, info.Code, v)
	}
	if it.Level3 != nil {
		got := append([]string(nil), it.Level3...)
		slices.Sort(got)
		var want []string
		for _, h := range info.HigherOrder {
			want = append(want, string(h))
		}
		slices.Sort(want)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			return Description{}, fmt.Errorf("field level3: %q, want %q for %s", it.Level3, want, v)
		}
	}
	return Description{Text: *it.Sentence, Negative: it.NegativeSentence, Level1: l1, Value: v, Split: split}, nil
}
