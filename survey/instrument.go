package survey

import (
	"fmt"
	"strings"
)

// Split is the part of an instrument a description belongs to.
type Split string

// The three splits. The authors' file calls the validation split "eval".
const (
	SplitTrain      Split = "train"
	SplitValidation Split = "validation"
	SplitTest       Split = "test"
)

// Valid reports whether s is one of the three splits.
func (s Split) Valid() bool { return s == SplitTrain || s == SplitValidation || s == SplitTest }

// RatingPlaceholder is the placeholder of a response template where the rating goes.
const RatingPlaceholder = "{rating}"

// Description is one value description (a survey item).
type Description struct {
	Index    int    `json:"index"` // position in Instrument.Descriptions
	Text     string `json:"text"`
	Negative string `json:"negative,omitempty"` // the authors' negative_sentence, if any (not used in prompts)
	Level1   Level1 `json:"level1"`
	Value    Value  `json:"value"`
	Split    Split  `json:"split"`
}

// Instrument is a survey: descriptions, task prompts and response templates. Every description
// is asked under every task and template: len(Tasks)*len(Templates) variants each.
type Instrument struct {
	Name         string
	Tasks        []string
	Templates    []string
	Descriptions []Description
}

// Counts summarises an instrument.
type Counts struct {
	Descriptions int
	Train        int
	Validation   int
	Test         int
	Values       int // distinct values covered
	Level1       int // distinct level-1 values covered
	Variants     int // variants per description: tasks x templates
	Prompts      int // descriptions x variants
}

// Counts counts the descriptions per split, the values covered and the prompts.
func (in *Instrument) Counts() Counts {
	c := Counts{Descriptions: len(in.Descriptions), Variants: len(in.Tasks) * len(in.Templates)}
	vals := map[Value]bool{}
	l1 := map[Level1]bool{}
	for _, d := range in.Descriptions {
		switch d.Split {
		case SplitTrain:
			c.Train++
		case SplitValidation:
			c.Validation++
		case SplitTest:
			c.Test++
		}
		vals[d.Value] = true
		l1[d.Level1] = true
	}
	c.Values, c.Level1 = len(vals), len(l1)
	c.Prompts = c.Descriptions * c.Variants
	return c
}

// InSplits returns the descriptions in any of the given splits (all when none is given), in
// instrument order.
func (in *Instrument) InSplits(splits ...Split) []Description {
	if len(splits) == 0 {
		return append([]Description(nil), in.Descriptions...)
	}
	var out []Description
	for _, d := range in.Descriptions {
		for _, s := range splits {
			if d.Split == s {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// Validate checks that the instrument is usable: at least one task and template, every
// template holding {rating} exactly once, and every description with text, a known level-1
// value, the value that level-1 value belongs to, a known split and Index equal to its
// position. The error names the item and field at fault.
func (in *Instrument) Validate() error {
	name := in.Name
	if name == "" {
		name = "instrument"
	}
	if len(in.Tasks) == 0 {
		return fmt.Errorf("survey: %s: field tasks: no task prompts", name)
	}
	for i, t := range in.Tasks {
		if strings.TrimSpace(t) == "" {
			return fmt.Errorf("survey: %s: task %d: empty task prompt", name, i)
		}
	}
	if len(in.Templates) == 0 {
		return fmt.Errorf("survey: %s: field templates: no response templates", name)
	}
	for i, t := range in.Templates {
		if err := checkTemplate(t); err != nil {
			return fmt.Errorf("survey: %s: template %d: %w", name, i, err)
		}
	}
	if len(in.Descriptions) == 0 {
		return fmt.Errorf("survey: %s: field descriptions: no descriptions", name)
	}
	for i, d := range in.Descriptions {
		if err := checkDescription(d); err != nil {
			return fmt.Errorf("survey: %s: description %d: %w", name, i, err)
		}
		if d.Index != i {
			return fmt.Errorf("survey: %s: description %d: field index: %d, want its position %d", name, i, d.Index, i)
		}
	}
	return nil
}

func checkTemplate(t string) error {
	switch n := strings.Count(t, RatingPlaceholder); n {
	case 0:
		return fmt.Errorf("template %q has no %s", t, RatingPlaceholder)
	case 1:
	default:
		return fmt.Errorf("template %q has %s %d times, want once", t, RatingPlaceholder, n)
	}
	return nil
}

func checkDescription(d Description) error {
	if strings.TrimSpace(d.Text) == "" {
		return fmt.Errorf("field text: missing description sentence")
	}
	if !d.Level1.Valid() {
		return fmt.Errorf("field level1: unknown level-1 value %q", d.Level1)
	}
	if !d.Value.Valid() {
		return fmt.Errorf("field value: unknown value %q", d.Value)
	}
	if want := d.Level1.Value(); d.Value != want {
		return fmt.Errorf("field value: %q, but level-1 value %q belongs to %q", d.Value, d.Level1, want)
	}
	if !d.Split.Valid() {
		return fmt.Errorf("field split: unknown split %q (want train, validation or test)", d.Split)
	}
	return nil
}

// splitSizes gives the deterministic split of n descriptions of one level-1 value: the last
// nTest are test, the nVal before them validation, the rest train, with nVal = nTest =
// round(2n/11) (11 -> 7/2/2, the proportions of the original instrument).
func splitSizes(n int) (train, val, test int) {
	k := (2*n + 5) / 11
	if 2*k > n {
		k = n / 2
	}
	return n - 2*k, k, k
}

// assignSplits fills Split for the descriptions whose split is empty, per level-1 value in
// instrument order (see splitSizes). A level-1 value whose descriptions give their split for
// some but not all is an error.
func assignSplits(name string, ds []Description) error {
	byL1 := map[Level1][]int{}
	var order []Level1
	for i, d := range ds {
		if _, ok := byL1[d.Level1]; !ok {
			order = append(order, d.Level1)
		}
		byL1[d.Level1] = append(byL1[d.Level1], i)
	}
	for _, l := range order {
		idx := byL1[l]
		given := 0
		for _, i := range idx {
			if ds[i].Split != "" {
				given++
			}
		}
		if given == len(idx) {
			continue
		}
		if given > 0 {
			for _, i := range idx {
				if ds[i].Split == "" {
					return fmt.Errorf("survey: %s: description %d: field split: missing, while other descriptions of level-1 value %q give theirs (give all or none)", name, i, l)
				}
			}
		}
		tr, va, _ := splitSizes(len(idx))
		for k, i := range idx {
			switch {
			case k < tr:
				ds[i].Split = SplitTrain
			case k < tr+va:
				ds[i].Split = SplitValidation
			default:
				ds[i].Split = SplitTest
			}
		}
	}
	return nil
}
