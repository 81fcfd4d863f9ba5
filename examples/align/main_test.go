package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/examples/internal/clitest"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/survey"
)

// The main job end to end on a slice of the built-in instrument: every stage runs, writes its
// reports, and the in-domain metrics cover the test split.
func TestAlignEndToEnd(t *testing.T) {
	in, err := survey.Builtin()
	require.NoError(t, err)
	small, err := in.Subset(1, 1, 3)
	require.NoError(t, err)
	dir := t.TempDir()
	inst := filepath.Join(dir, "small.json")
	require.NoError(t, survey.WriteFileAtomic(inst, small.WriteJSON))
	out := filepath.Join(dir, "out")
	o := clitest.OK(t, run, "-model", "../../testdata/stories260k", "-instrument", inst,
		"-variants", "3", "-epochs", "1", "-rank", "4", "-alpha", "16", "-out", out)
	t.Log(o.Stdout)
	require.Contains(t, o.Stdout, "2. intervention power-minimisation: 60 training rows, 60 validation rows")
	require.Regexp(t, `5\. games \(control -> tuned, 100 = random agent\): power.Σ [0-9.]+ -> [0-9.]+, utility.Σ .+`, o.Stdout)

	for _, f := range []string{"baseline/profile.json", "baseline/profile.png", "in_domain.json", "in_domain.md", "in_domain_expected.json",
		"games.json", "games.md", "games.png", "tuned/adapter_config.json", "control/metrics.jsonl"} {
		_, err := os.Stat(filepath.Join(out, f))
		require.NoError(t, err, f)
	}
	var r survey.InDomainResult
	clitest.ReadJSON(t, filepath.Join(out, "in_domain.json"), &r)
	require.Equal(t, 3*3, r.TargetPrompts) // Power_dominance, Power_resources, Face: 1 test description x 3 variants
	require.Equal(t, 17*3, r.OtherPrompts)

	m, err := model.Load("../../testdata/stories260k")
	require.NoError(t, err)
	defer m.Close()
	a, err := lora.Load(filepath.Join(out, "tuned"), m)
	require.NoError(t, err)
	require.Equal(t, 4, a.Config.Rank)
}

// The paper preset end to end on the embedded model with the budget cut down by flags: the
// report holds every setting, three read-out seeds with mean and SD, base / control / tuned
// rows, and the AITA gain per target value with n and p.
func TestAlignPaperPreset(t *testing.T) {
	dir := t.TempDir()
	var posts strings.Builder
	for i, v := range []string{"Face", "Power_dominance", "Face", "Benevolence_caring", "Power_dominance", "Face"} {
		fmt.Fprintf(&posts, `{"value": %q, "post": "Post %d: I kept the last cake for myself and my sister cried.", "high_standard_stance": "YTA", "low_standard_stance": "NTA"}`+"\n", v, i)
	}
	aita := filepath.Join(dir, "aita.jsonl")
	require.NoError(t, os.WriteFile(aita, []byte(posts.String()), 0o644))
	out := filepath.Join(dir, "out")
	o := clitest.OK(t, run, "-preset", "paper", "-model", "../../testdata/stories260k", "-instrument", "builtin",
		"-subset", "1,1,3", "-variants", "3", "-epochs", "1", "-rank", "4", "-alpha", "16", "-aita", aita, "-out", out)
	t.Log(o.Stdout)
	require.Contains(t, o.Stdout, `settings (preset paper): {"preset":"paper"`)

	var rep struct {
		Model    string         `json:"model"`
		Toy      bool           `json:"toy_model"`
		Caveat   string         `json:"caveat"`
		Settings map[string]any `json:"settings"`
		Wall     map[string]float64
		InDomain struct {
			TestPrompts int `json:"test_prompts"`
			Sampled     *struct {
				Temperature float64  `json:"temperature"`
				Seeds       []uint64 `json:"seeds"`
				Rows        []struct {
					Model      string `json:"model"`
					TargetDrop struct {
						N      int       `json:"n"`
						Mean   float64   `json:"mean"`
						SD     *float64  `json:"sd"`
						Values []float64 `json:"values"`
					} `json:"target_drop"`
					Missing *int `json:"missing"`
				} `json:"rows"`
			} `json:"sampled"`
			Argmax struct {
				Rows []struct {
					Model string `json:"model"`
				} `json:"rows"`
			} `json:"logit_argmax"`
			Expected struct {
				Rows []struct{} `json:"rows"`
			} `json:"logit_expected"`
		} `json:"in_domain"`
		AITA struct {
			Targets []struct {
				Value string `json:"value"`
				PG    struct {
					N int      `json:"n"`
					P *float64 `json:"p_one_sided"`
				} `json:"pg_pp"`
				Probs []struct {
					Model string `json:"model"`
				} `json:"probs"`
			} `json:"targets"`
			Headline struct {
				N int      `json:"n"`
				P *float64 `json:"p_one_sided"`
			} `json:"headline_pg_pp"`
			Pooled struct {
				N int `json:"n"`
			} `json:"pooled_pg_pp"`
		} `json:"aita"`
		Games struct {
			Overall map[string]map[string]float64 `json:"overall"`
		} `json:"games"`
		Figures []struct {
			Path string `json:"path"`
		} `json:"figures"`
	}
	clitest.ReadJSON(t, filepath.Join(out, "report.json"), &rep)
	require.True(t, rep.Toy)
	require.Contains(t, rep.Caveat, "toy")
	for k, v := range map[string]any{"preset": "paper", "rank": 4.0, "alpha": 16.0, "lr": 1e-4, "warmup_ratio": 0.15, "batch": 16.0,
		"patience": 2.0, "min_delta": 0.01, "schedule": "linear", "max_grad_norm": 1.0, "eos": true, "readout": "generate", "temperature": 0.5, "seeds": 3.0} {
		require.Equal(t, v, rep.Settings[k], k)
	}
	require.Equal(t, 20*3, rep.InDomain.TestPrompts)
	s := rep.InDomain.Sampled
	require.NotNil(t, s)
	require.Equal(t, []uint64{0, 1, 2}, s.Seeds)
	require.Len(t, s.Rows, 3)
	for i, name := range []string{"base", "control", "tuned"} {
		row := s.Rows[i]
		require.Equal(t, name, row.Model)
		require.Equal(t, 3, row.TargetDrop.N)
		require.Len(t, row.TargetDrop.Values, 3)
		require.NotNil(t, row.TargetDrop.SD)
		require.NotNil(t, row.Missing)
		require.Equal(t, name, rep.InDomain.Argmax.Rows[i].Model)
	}
	require.Len(t, rep.InDomain.Expected.Rows, 3)
	require.Len(t, rep.AITA.Targets, 3) // Power_dominance, Power_resources, Face
	n := map[string]int{}
	for _, tg := range rep.AITA.Targets {
		n[tg.Value] = tg.PG.N
		require.NotNil(t, tg.PG.P)
		require.Len(t, tg.Probs, 3)
	}
	require.Equal(t, map[string]int{"Power_dominance": 2, "Power_resources": 0, "Face": 3}, n)
	require.Equal(t, 5, rep.AITA.Headline.N)
	require.NotNil(t, rep.AITA.Headline.P)
	require.Equal(t, 6, rep.AITA.Pooled.N)
	for _, a := range []string{"base", "control", "tuned"} {
		require.Contains(t, rep.Games.Overall, a)
	}
	for _, f := range rep.Figures {
		_, err := os.Stat(filepath.Join(out, f.Path))
		require.NoError(t, err, f.Path)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	for _, want := range []string{"Caveat", "± ", "| base |", "| control |", "| tuned |", "headline", "games.png", "linear"} {
		require.Contains(t, string(md), want)
	}
}

// -print-config prints each preset's resolved settings as JSON, flags applied.
func TestAlignPrintConfig(t *testing.T) {
	cases := []struct {
		args []string
		want map[string]any
	}{
		{[]string{"-preset", "paper"}, map[string]any{"preset": "paper", "instrument": "kvs_data_new.json", "variants": 27.0, "rank": 128.0,
			"alpha": 512.0, "dropout": 0.0, "lr": 1e-4, "warmup_ratio": 0.15, "batch": 16.0, "epochs": 10.0, "patience": 2.0,
			"min_delta": 0.01, "readout": "generate", "temperature": 0.5, "seeds": 3.0}},
		{nil, map[string]any{"preset": "demo", "instrument": "builtin", "rank": 16.0, "lr": 1e-3, "epochs": 2.0, "readout": "logit"}},
		{[]string{"-preset", "paper", "-instrument", "/data/kvs_data_new.json", "-rank", "256", "-schedule", "constant"},
			map[string]any{"instrument": "/data/kvs_data_new.json", "rank": 256.0, "schedule": "constant", "alpha": 512.0}},
	}
	for _, c := range cases {
		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(clitest.OK(t, run, append(c.args, "-print-config")...).Stdout), &got))
		for _, k := range []string{"preset", "instrument", "variants", "rank", "alpha", "dropout", "targets", "lr", "warmup_ratio", "batch",
			"epochs", "patience", "min_delta", "schedule", "max_grad_norm", "readout", "temperature", "seeds", "games_sampling"} {
			require.Contains(t, got, k)
		}
		for k, v := range c.want {
			require.Equal(t, v, got[k], "%v: %s", c.args, k)
		}
	}
}

func TestAlignBadInput(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-targets", "Kindness"}, 2, "Kindness"},
		{[]string{"-variants", "0"}, 2, "-variants must be positive"},
		{[]string{"-instrument", "/nonexistent/i.json"}, 1, "/nonexistent/i.json"},
		{[]string{"-model", "/nonexistent/m"}, 1, "/nonexistent/m"},
		{[]string{"-preset", "nope"}, 2, "unknown preset"},
		{[]string{"-preset", "paper"}, 1, "-instrument PATH"},
		{[]string{"-readout", "vibes"}, 2, "read-out"},
		{[]string{"-subset", "x"}, 2, "-subset"},
	}
	for _, c := range cases {
		clitest.Fails(t, run, c.code, c.want, append([]string{"-model", "../../testdata/stories260k", "-out", t.TempDir()}, c.args...)...)
	}
}
