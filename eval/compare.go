// What the tuned-vs-control benchmarks (AITA, verdicts, moral sets) share: the check of their
// scorers, the defaults of their prompts, and the grouping of their items for the reports.

package eval

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/valora-go/valora/eval/score"
)

// requireTunedControl checks that both scorers are given: a tuned model is always compared
// with a control. what names the benchmark in the error.
func requireTunedControl(tuned, control score.Scorer, what string) error {
	if tuned == nil || control == nil {
		return fmt.Errorf("eval: %s: both a tuned and a control scorer are required", what)
	}
	return nil
}

// promptKind is what the prompts of one benchmark share: its name in errors, the default
// template, the placeholder of the item text in the template, and the default answer prefix.
type promptKind struct{ what, template, placeholder, prefix string }

var (
	aitaPrompts  = promptKind{"AITA", DefaultAITATemplate, "{post}", DefaultAITAPrefix}
	moralPrompts = promptKind{"moral", DefaultMoralTemplate, "{text}", DefaultMoralPrefix}
)

// fill sets an empty template and prefix of a benchmark's options to the defaults (the prefix
// stays empty with noPrefix) and checks that the template has the placeholder.
func (k promptKind) fill(template, prefix *string, noPrefix bool) error {
	*template = cmp.Or(*template, k.template)
	if !strings.Contains(*template, k.placeholder) {
		return fmt.Errorf("eval: %s options: template has no %s placeholder", k.what, k.placeholder)
	}
	if !noPrefix {
		*prefix = cmp.Or(*prefix, k.prefix)
	}
	return nil
}

// prompt puts text, with surrounding space trimmed, in place of the placeholder of template.
func (k promptKind) prompt(template, prefix, text string) score.Prompt {
	return score.Prompt{Text: strings.ReplaceAll(template, k.placeholder, strings.TrimSpace(text)), Prefix: prefix}
}

// summarizeGroups summarises the items with group, given a name and the indices of the items
// it covers: all of them (named "all"), and those of each key, in key order.
func summarizeGroups[T, G any](items []T, key func(T) string, group func(name string, idx []int) G) (all G, groups []G) {
	idx := make([]int, len(items))
	byKey := map[string][]int{}
	for i, it := range items {
		idx[i] = i
		k := key(it)
		byKey[k] = append(byKey[k], i)
	}
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		groups = append(groups, group(k, byKey[k]))
	}
	return group("all", idx), groups
}
