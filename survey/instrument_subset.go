package survey

import "fmt"

// Subset returns a smaller instrument for quick runs and tests: the first perGroup
// descriptions of every value in every split, and the first tasks task prompts and templates
// response templates (0 keeps them all). Description indices are renumbered.
func (in *Instrument) Subset(perGroup, tasks, templates int) (*Instrument, error) {
	if perGroup <= 0 || tasks < 0 || templates < 0 || tasks > len(in.Tasks) || templates > len(in.Templates) {
		return nil, fmt.Errorf("survey: subset of %s: %d per value and split, %d tasks, %d templates (the instrument has %d tasks, %d templates)",
			in.Name, perGroup, tasks, templates, len(in.Tasks), len(in.Templates))
	}
	if tasks == 0 {
		tasks = len(in.Tasks)
	}
	if templates == 0 {
		templates = len(in.Templates)
	}
	out := &Instrument{Name: in.Name + " (subset)", Tasks: in.Tasks[:tasks], Templates: in.Templates[:templates]}
	count := map[string]int{}
	for _, d := range in.Descriptions {
		k := string(d.Value) + "/" + string(d.Split)
		if count[k] < perGroup {
			count[k]++
			d.Index = len(out.Descriptions)
			out.Descriptions = append(out.Descriptions, d)
		}
	}
	return out, out.Validate()
}
