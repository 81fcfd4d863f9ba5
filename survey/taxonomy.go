package survey

import (
	"fmt"
	"strings"
)

// Value is one of the 20 values of the ValueEval taxonomy (level 2 in the authors' data),
// spelled as in the data, e.g. "Benevolence_dependability".
type Value string

// The 20 values, in the circular order of Schwartz's refined value theory (as the authors list
// them).
const (
	SelfDirectionThought     Value = "Self_direction_thought"
	SelfDirectionAction      Value = "Self_direction_action"
	Stimulation              Value = "Stimulation"
	Hedonism                 Value = "Hedonism"
	Achievement              Value = "Achievement"
	PowerDominance           Value = "Power_dominance"
	PowerResources           Value = "Power_resources"
	Face                     Value = "Face"
	SecurityPersonal         Value = "Security_personal"
	SecuritySocietal         Value = "Security_societal"
	Tradition                Value = "Tradition"
	ConformityRules          Value = "Conformity_rules"
	ConformityInterpersonal  Value = "Conformity_interpersonal"
	Humility                 Value = "Humility"
	BenevolenceCaring        Value = "Benevolence_caring"
	BenevolenceDependability Value = "Benevolence_dependability"
	UniversalismConcern      Value = "Universalism_concern"
	UniversalismNature       Value = "Universalism_nature"
	UniversalismTolerance    Value = "Universalism_tolerance"
	UniversalismObjectivity  Value = "Universalism_objectivity"
)

// BasicValue is one of the 10 Schwartz basic values.
type BasicValue string

// The 10 basic values, in circular order.
const (
	BasicSelfDirection BasicValue = "Self_direction"
	BasicStimulation   BasicValue = "Stimulation"
	BasicHedonism      BasicValue = "Hedonism"
	BasicAchievement   BasicValue = "Achievement"
	BasicPower         BasicValue = "Power"
	BasicSecurity      BasicValue = "Security"
	BasicTradition     BasicValue = "Tradition"
	BasicConformity    BasicValue = "Conformity"
	BasicBenevolence   BasicValue = "Benevolence"
	BasicUniversalism  BasicValue = "Universalism"
)

// HigherOrder is one of the four higher-order groups, spelled as in the authors' data (level 3).
type HigherOrder string

// The four higher-order groups.
const (
	OpennessToChange  HigherOrder = "Openness_to_change"
	SelfEnhancement   HigherOrder = "Self-enhancement"
	Conservation      HigherOrder = "Conservation"
	SelfTranscendence HigherOrder = "Self-transcendence"
)

// Level1 is one of the 54 level-1 values, e.g. "Be creative".
type Level1 string

// ValueInfo describes one value.
type ValueInfo struct {
	Name  Value
	Code  string // short code of the authors' data ("category"), e.g. "BED"
	Label string // label of the ValueEval taxonomy, e.g. "Benevolence: dependability"
	Basic BasicValue
	// HigherOrder lists the groups the value belongs to: one, or two for the values on a
	// border (Hedonism, Face, Humility), as in the authors' data.
	HigherOrder []HigherOrder
	Level1      []Level1
}

var valueTable = []ValueInfo{
	{SelfDirectionThought, "SDT", "Self-direction: thought", BasicSelfDirection, []HigherOrder{OpennessToChange},
		[]Level1{"Be creative", "Be curious", "Have freedom of thought"}},
	{SelfDirectionAction, "SDA", "Self-direction: action", BasicSelfDirection, []HigherOrder{OpennessToChange},
		[]Level1{"Be choosing own goals", "Be independent", "Have freedom of action", "Have privacy"}},
	{Stimulation, "ST", "Stimulation", BasicStimulation, []HigherOrder{OpennessToChange},
		[]Level1{"Have an exciting life", "Have a varied life", "Be daring"}},
	{Hedonism, "HE", "Hedonism", BasicHedonism, []HigherOrder{OpennessToChange, SelfEnhancement},
		[]Level1{"Have pleasure"}},
	{Achievement, "AC", "Achievement", BasicAchievement, []HigherOrder{SelfEnhancement},
		[]Level1{"Be ambitious", "Have success", "Be capable", "Be intellectual", "Be courageous"}},
	{PowerDominance, "POD", "Power: dominance", BasicPower, []HigherOrder{SelfEnhancement},
		[]Level1{"Have influence", "Have the right to command"}},
	{PowerResources, "POR", "Power: resources", BasicPower, []HigherOrder{SelfEnhancement},
		[]Level1{"Have wealth"}},
	{Face, "FAC", "Face", BasicPower, []HigherOrder{SelfEnhancement, Conservation},
		[]Level1{"Have social recognition", "Have a good reputation"}},
	{SecurityPersonal, "SEP", "Security: personal", BasicSecurity, []HigherOrder{Conservation},
		[]Level1{"Have a sense of belonging", "Have good health", "Have no debts", "Be neat and tidy", "Have a comfortable life"}},
	{SecuritySocietal, "SES", "Security: societal", BasicSecurity, []HigherOrder{Conservation},
		[]Level1{"Have a safe country", "Have a stable society"}},
	{Tradition, "TR", "Tradition", BasicTradition, []HigherOrder{Conservation},
		[]Level1{"Be respecting traditions", "Be holding religious faith"}},
	{ConformityRules, "COR", "Conformity: rules", BasicConformity, []HigherOrder{Conservation},
		[]Level1{"Be compliant", "Be self-disciplined", "Be behaving properly"}},
	{ConformityInterpersonal, "COI", "Conformity: interpersonal", BasicConformity, []HigherOrder{Conservation},
		[]Level1{"Be polite", "Be honoring elders"}},
	{Humility, "HU", "Humility", BasicTradition, []HigherOrder{Conservation, SelfTranscendence},
		[]Level1{"Be humble", "Have life accepted as is"}},
	{BenevolenceCaring, "BEC", "Benevolence: caring", BasicBenevolence, []HigherOrder{SelfTranscendence},
		[]Level1{"Be helpful", "Be honest", "Be forgiving", "Have the own family secured", "Be loving"}},
	{BenevolenceDependability, "BED", "Benevolence: dependability", BasicBenevolence, []HigherOrder{SelfTranscendence},
		[]Level1{"Be responsible", "Have loyalty towards friends"}},
	{UniversalismConcern, "UNC", "Universalism: concern", BasicUniversalism, []HigherOrder{SelfTranscendence},
		[]Level1{"Have equality", "Be just", "Have a world at peace"}},
	{UniversalismNature, "UNN", "Universalism: nature", BasicUniversalism, []HigherOrder{SelfTranscendence},
		[]Level1{"Be protecting the environment", "Have harmony with nature", "Have a world of beauty"}},
	{UniversalismTolerance, "UNT", "Universalism: tolerance", BasicUniversalism, []HigherOrder{SelfTranscendence},
		[]Level1{"Be broadminded", "Have the wisdom to accept others"}},
	{UniversalismObjectivity, "UNO", "Universalism: objectivity", BasicUniversalism, []HigherOrder{SelfTranscendence},
		[]Level1{"Be logical", "Have an objective view"}},
}

var basicOrder = []BasicValue{BasicSelfDirection, BasicStimulation, BasicHedonism, BasicAchievement, BasicPower,
	BasicSecurity, BasicTradition, BasicConformity, BasicBenevolence, BasicUniversalism}

var higherOrder = []HigherOrder{OpennessToChange, SelfEnhancement, Conservation, SelfTranscendence}

var (
	valueIndex  = map[Value]int{}
	level1Index = map[Level1]Value{}
	// nameIndex maps a folded spelling (see fold) of every name, label and code to the value.
	nameIndex = map[string]Value{}
)

func init() {
	for i, vi := range valueTable {
		valueIndex[vi.Name] = i
		for _, l := range vi.Level1 {
			level1Index[l] = vi.Name
		}
		for _, s := range []string{string(vi.Name), vi.Code, vi.Label} {
			nameIndex[fold(s)] = vi.Name
		}
	}
}

// fold maps the spellings of a name onto one key: case, spaces, '_', '-' and ':' are ignored,
// so "Self_direction_thought", "Self-direction: thought" and "self direction thought" match.
func fold(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch r {
		case ' ', '_', '-', ':':
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Values returns the 20 values in the circular order of Schwartz's refined value theory, as
// the authors list them: Self_direction_thought first, Universalism_objectivity last.
func Values() []Value {
	out := make([]Value, len(valueTable))
	for i, vi := range valueTable {
		out[i] = vi.Name
	}
	return out
}

// BasicValues returns the 10 basic values in circular order.
func BasicValues() []BasicValue { return append([]BasicValue(nil), basicOrder...) }

// HigherOrders returns the four higher-order groups.
func HigherOrders() []HigherOrder { return append([]HigherOrder(nil), higherOrder...) }

// Level1Values returns the 54 level-1 values, grouped by value in circular order.
func Level1Values() []Level1 {
	var out []Level1
	for _, vi := range valueTable {
		out = append(out, vi.Level1...)
	}
	return out
}

// Valid reports whether v is one of the 20 values.
func (v Value) Valid() bool { _, ok := valueIndex[v]; return ok }

// Info returns the description of v; ok is false for an unknown value.
func (v Value) Info() (info ValueInfo, ok bool) {
	i, ok := valueIndex[v]
	if !ok {
		return ValueInfo{}, false
	}
	info = valueTable[i]
	info.HigherOrder = append([]HigherOrder(nil), info.HigherOrder...)
	info.Level1 = append([]Level1(nil), info.Level1...)
	return info, true
}

// Basic returns the basic value v belongs to ("" for an unknown value).
func (v Value) Basic() BasicValue {
	if i, ok := valueIndex[v]; ok {
		return valueTable[i].Basic
	}
	return ""
}

// HigherOrder returns the higher-order groups of v (nil for an unknown value).
func (v Value) HigherOrder() []HigherOrder {
	info, _ := v.Info()
	return info.HigherOrder
}

// Level1 returns the level-1 values below v (nil for an unknown value).
func (v Value) Level1() []Level1 {
	info, _ := v.Info()
	return info.Level1
}

// CircleIndex returns the position of v in Values, or -1.
func (v Value) CircleIndex() int {
	if i, ok := valueIndex[v]; ok {
		return i
	}
	return -1
}

// Value returns the value l belongs to ("" for an unknown level-1 value).
func (l Level1) Value() Value { return level1Index[l] }

// Valid reports whether l is one of the 54 level-1 values.
func (l Level1) Valid() bool { _, ok := level1Index[l]; return ok }

// Values returns the values of basic value b, in circular order.
func (b BasicValue) Values() []Value {
	var out []Value
	for _, vi := range valueTable {
		if vi.Basic == b {
			out = append(out, vi.Name)
		}
	}
	return out
}

// Values returns the values in group h, in circular order; a value on a border belongs to
// both of its groups.
func (h HigherOrder) Values() []Value {
	var out []Value
	for _, vi := range valueTable {
		for _, g := range vi.HigherOrder {
			if g == h {
				out = append(out, vi.Name)
			}
		}
	}
	return out
}

// ParseValue finds a value by its name ("Power_dominance"), taxonomy label
// ("Power: dominance") or code ("POD"), ignoring case, spaces, '_', '-' and ':'.
func ParseValue(s string) (Value, error) {
	if v, ok := nameIndex[fold(s)]; ok {
		return v, nil
	}
	return "", fmt.Errorf("survey: unknown value %q", s)
}

// ParseLevel1 finds a level-1 value by name, ignoring case, spaces, '_', '-' and ':'.
func ParseLevel1(s string) (Level1, error) {
	f := fold(s)
	for l := range level1Index {
		if fold(string(l)) == f {
			return l, nil
		}
	}
	return "", fmt.Errorf("survey: unknown level-1 value %q", s)
}

// Level names what a name resolved by Resolve was found as.
type Level string

// The levels of the taxonomy.
const (
	LevelLevel1      Level = "level1"
	LevelValue       Level = "value"
	LevelBasic       Level = "basic"
	LevelHigherOrder Level = "higher-order"
)

// Resolve finds name at any level of the taxonomy (value, level-1 value, basic value,
// higher-order group; spelling as for ParseValue) and returns the values it covers, in
// circular order, and the level it was found at. A level-1 value resolves to its one value.
// When a name is both a value and a basic value (Stimulation, Hedonism, Achievement,
// Tradition), the value wins; basic value Tradition, which also holds Humility, can be named
// "basic:Tradition". Prefixes "value:", "level1:", "basic:" and "group:" force a level.
func Resolve(name string) ([]Value, Level, error) {
	forced := ""
	body := name
	if i := strings.Index(name, ":"); i > 0 {
		switch p := strings.ToLower(strings.TrimSpace(name[:i])); p {
		case "value", "level1", "basic", "group":
			forced, body = p, name[i+1:]
		}
	}
	f := fold(body)
	if forced == "" || forced == "value" {
		if v, ok := nameIndex[f]; ok {
			return []Value{v}, LevelValue, nil
		}
	}
	if forced == "" || forced == "basic" {
		for _, b := range basicOrder {
			if fold(string(b)) == f {
				return b.Values(), LevelBasic, nil
			}
		}
	}
	if forced == "" || forced == "group" {
		for _, h := range higherOrder {
			if fold(string(h)) == f {
				return h.Values(), LevelHigherOrder, nil
			}
		}
	}
	if forced == "" || forced == "level1" {
		if l, err := ParseLevel1(body); err == nil {
			return []Value{l.Value()}, LevelLevel1, nil
		}
	}
	return nil, "", fmt.Errorf("survey: %q is no value, level-1 value, basic value or higher-order group", name)
}
