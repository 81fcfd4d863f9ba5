package survey

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const authorsPath = "../../shared/data/survey/kvs_data_new.json"

func loadAuthors(t *testing.T) *Instrument {
	t.Helper()
	if _, err := os.Stat(authorsPath); err != nil {
		t.Skipf("authors' instrument %s not available (%v): skipping", authorsPath, err)
	}
	in, err := LoadFile(authorsPath)
	require.NoError(t, err)
	return in
}

func TestAuthorsInstrumentCounts(t *testing.T) {
	in := loadAuthors(t)
	c := in.Counts()
	assert.Equal(t, Counts{Descriptions: 594, Train: 378, Validation: 108, Test: 108, Values: 20, Level1: 54, Variants: 27, Prompts: 16038}, c)
	// 11 per level-1 value, 7/2/2.
	per := map[Level1][3]int{}
	for _, d := range in.Descriptions {
		x := per[d.Level1]
		switch d.Split {
		case SplitTrain:
			x[0]++
		case SplitValidation:
			x[1]++
		case SplitTest:
			x[2]++
		}
		per[d.Level1] = x
	}
	require.Len(t, per, 54)
	for l, x := range per {
		assert.Equal(t, [3]int{7, 2, 2}, x, "level-1 value %s", l)
	}
	assert.Equal(t, "Being creative, unique or imaginative is important", in.Descriptions[0].Text)
	assert.Equal(t, SelfDirectionThought, in.Descriptions[0].Value)
}

func TestBuiltinInstrument(t *testing.T) {
	in, err := Builtin()
	require.NoError(t, err)
	c := in.Counts()
	assert.Equal(t, Counts{Descriptions: 594, Train: 378, Validation: 108, Test: 108, Values: 20, Level1: 54, Variants: 27, Prompts: 16038}, c)
	// Every level-1 value has 11 descriptions: the first 7 in file order train, then 2
	// validation, then 2 test.
	seen := map[Level1][]Split{}
	texts := map[string]bool{}
	for _, d := range in.Descriptions {
		seen[d.Level1] = append(seen[d.Level1], d.Split)
		assert.False(t, texts[d.Text], "duplicate description %q", d.Text)
		texts[d.Text] = true
	}
	want := []Split{SplitTrain, SplitTrain, SplitTrain, SplitTrain, SplitTrain, SplitTrain, SplitTrain,
		SplitValidation, SplitValidation, SplitTest, SplitTest}
	for _, l := range Level1Values() {
		assert.Equal(t, want, seen[l], "level-1 value %s", l)
	}
	// Deterministic: a second load gives the same splits, and a copy written in our format
	// reads back identical.
	again, err := Builtin()
	require.NoError(t, err)
	assert.Equal(t, in, again)
	var buf bytes.Buffer
	require.NoError(t, in.WriteJSON(&buf))
	back, err := ReadJSON(&buf, "copy")
	require.NoError(t, err)
	assert.Equal(t, in.Descriptions, back.Descriptions)
	assert.Equal(t, in.Templates, back.Templates)
}

func TestSplitSizes(t *testing.T) {
	for _, tc := range []struct{ n, tr, va, te int }{
		{11, 7, 2, 2}, {22, 14, 4, 4}, {1, 1, 0, 0}, {2, 2, 0, 0}, {3, 1, 1, 1}, {5, 3, 1, 1}, {6, 4, 1, 1},
	} {
		tr, va, te := splitSizes(tc.n)
		assert.Equal(t, [3]int{tc.tr, tc.va, tc.te}, [3]int{tr, va, te}, "n=%d", tc.n)
	}
}

func TestLoadErrorsNameItemAndField(t *testing.T) {
	authorsItem := func(fields string) string {
		return `{"tasks":["Rate it 1-6."],"response_template":["Rating: {rating}"],"train":[` +
			`{"sentence":"ok","category":"SDT","level1":["Be creative"],"level2":["Self_direction_thought"],"level3":["Openness_to_change"]},` +
			fields + `],"eval":[],"test":[]}`
	}
	own := func(templates, desc string) string {
		return `{"tasks":["Rate it 1-6."],"templates":[` + templates + `],"descriptions":[{"text":"ok","level1":"Be creative"},` + desc + `]}`
	}
	for _, tc := range []struct {
		name, format, input string
		want                []string
	}{
		{"authors unknown value", "authors", authorsItem(`{"sentence":"x","level1":["Be creative"],"level2":["Self_direction_thinking"]}`),
			[]string{"item train[1]", "field level2", `unknown value "Self_direction_thinking"`}},
		{"authors missing sentence", "authors", authorsItem(`{"level1":["Be creative"],"level2":["Self_direction_thought"]}`),
			[]string{"item train[1]", "field sentence", "missing"}},
		{"authors level1 of another value", "authors", authorsItem(`{"sentence":"x","level1":["Have wealth"],"level2":["Self_direction_thought"]}`),
			[]string{"item train[1]", "field level2", "Power_resources"}},
		{"authors wrong category", "authors", authorsItem(`{"sentence":"x","category":"POD","level1":["Be creative"],"level2":["Self_direction_thought"]}`),
			[]string{"item train[1]", "field category", `"SDT"`}},
		{"authors wrong level3", "authors", authorsItem(`{"sentence":"x","level1":["Be creative"],"level2":["Self_direction_thought"],"level3":["Conservation"]}`),
			[]string{"item train[1]", "field level3"}},
		{"authors template without rating", "authors",
			`{"tasks":["t"],"response_template":["Rating: {rating}","My answer"],"train":[],"eval":[],"test":[]}`,
			[]string{"response_template 1", "no {rating}"}},
		{"own template without rating", "json", own(`"Rating: {rating}","Rating:"`, `{"text":"y","level1":"Be curious"}`),
			[]string{"template 1", "no {rating}"}},
		{"own unknown level1", "json", own(`"Rating: {rating}"`, `{"text":"y","level1":"Be nosy"}`),
			[]string{"description 1", "field level1", `"Be nosy"`}},
		{"own missing text", "json", own(`"Rating: {rating}"`, `{"level1":"Be curious"}`),
			[]string{"description 1", "field text"}},
		{"own value mismatch", "json", own(`"Rating: {rating}"`, `{"text":"y","level1":"Be curious","value":"Hedonism"}`),
			[]string{"description 1", "field value", `"Hedonism"`, "Self_direction_thought"}},
		{"own unknown value", "json", own(`"Rating: {rating}"`, `{"text":"y","level1":"Be curious","value":"Curiosity"}`),
			[]string{"description 1", "field value", `unknown value "Curiosity"`}},
		{"own bad split", "json", own(`"Rating: {rating}"`, `{"text":"y","level1":"Be curious","split":"dev"}`),
			[]string{"description 1", "field split", `"dev"`}},
		{"own partial splits", "json", own(`"Rating: {rating}"`, `{"text":"y","level1":"Be creative","split":"test"}`),
			[]string{"description 0", "field split", "Be creative"}},
		{"own no descriptions", "json", `{"tasks":["t"],"templates":["R: {rating}"],"descriptions":[]}`,
			[]string{"field descriptions"}},
		{"own no tasks", "json", `{"tasks":[],"templates":["R: {rating}"],"descriptions":[{"text":"y","level1":"Be curious"}]}`,
			[]string{"field tasks"}},
		{"jsonl two kinds on a line", "jsonl", "{\"task\":\"t\"}\n{\"template\":\"R: {rating}\",\"task\":\"u\"}\n",
			[]string{"line 2", "exactly one"}},
		{"jsonl unknown level1", "jsonl", "{\"task\":\"t\"}\n{\"template\":\"R: {rating}\"}\n\n{\"text\":\"y\",\"level1\":\"Be nosy\"}\n",
			[]string{"line 4", "field level1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			switch tc.format {
			case "authors":
				_, err = ReadAuthors(strings.NewReader(tc.input), "f.json")
			case "json":
				_, err = ReadJSON(strings.NewReader(tc.input), "f.json")
			case "jsonl":
				_, err = ReadJSONL(strings.NewReader(tc.input), "f.jsonl")
			}
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestReadJSONL(t *testing.T) {
	input := "{\"task\":\"Rate 1-6.\"}\n{\"template\":\"Rating: {rating}\"}\n{\"template\":\"Mine: {rating}\"}\n" +
		"{\"text\":\"a\",\"level1\":\"Have wealth\",\"split\":\"test\"}\n{\"text\":\"b\",\"level1\":\"Be polite\"}\n"
	in, err := ReadJSONL(strings.NewReader(input), "x.jsonl")
	require.NoError(t, err)
	assert.Equal(t, []string{"Rate 1-6."}, in.Tasks)
	assert.Equal(t, 2, in.VariantsPerDescription())
	require.Len(t, in.Descriptions, 2)
	assert.Equal(t, Description{Index: 0, Text: "a", Level1: "Have wealth", Value: PowerResources, Split: SplitTest}, in.Descriptions[0])
	// A single description of a level-1 value without a split is train.
	assert.Equal(t, Description{Index: 1, Text: "b", Level1: "Be polite", Value: ConformityInterpersonal, Split: SplitTrain}, in.Descriptions[1])
}

func TestSubset(t *testing.T) {
	in, err := Builtin()
	require.NoError(t, err)
	s, err := in.Subset(1, 1, 3)
	require.NoError(t, err)
	require.Equal(t, 60, len(s.Descriptions))
	require.Equal(t, 3, s.VariantsPerDescription())
	require.Equal(t, 20, len(s.InSplits(SplitTest)))
	for i, d := range s.Descriptions {
		require.Equal(t, i, d.Index)
	}
	_, err = in.Subset(0, 1, 1)
	require.ErrorContains(t, err, "0 per value and split")
	_, err = in.Subset(1, 9, 1)
	require.ErrorContains(t, err, "9 tasks")
}
