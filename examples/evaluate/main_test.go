package main

import (
	"context"
	"encoding/json"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/eval/machiavelli"
	"github.com/valora-go/valora/examples/internal/clitest"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

const (
	stories = "../../testdata/stories260k"
	shared  = "../../../shared/data"
)

// makeAdapter writes a PEFT adapter for stories260k into a temp dir: lora.New's A and random
// non-zero B, large enough to change the model's choices.
func makeAdapter(t *testing.T, seed uint64) string {
	t.Helper()
	m, err := model.Load(stories)
	require.NoError(t, err)
	defer m.Close()
	ad, err := lora.New(m, lora.Config{Rank: 4, Alpha: 8, Targets: lora.AllProjections(), Seed: seed})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(seed, 7))
	ad.Each(func(_ int, _ model.Proj, p *lora.Pair) {
		for i := range p.B {
			p.B[i] = float32(rng.NormFloat64() * 0.3)
		}
	})
	dir := filepath.Join(t.TempDir(), "adapter")
	require.NoError(t, ad.Save(dir))
	return dir
}

// result is report.json with the task's report decoded into R.
type result[R any] struct {
	Task    string `json:"task"`
	Adapter string `json:"adapter"`
	Control string `json:"control_adapter"`
	Data    string `json:"data"`
	Format  string `json:"format"`
	Limit   int    `json:"limit"`
	Items   int    `json:"items"`
	Report  R      `json:"report"`
}

// runOK runs the command, requires success and the report files, and decodes report.json.
func runOK[R any](t *testing.T, out string, charts []string, args ...string) (result[R], string) {
	t.Helper()
	o := clitest.OK(t, run, append(args, "-out", out)...)
	var res result[R]
	clitest.ReadJSON(t, filepath.Join(out, "report.json"), &res)
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	require.NotEmpty(t, md)
	for _, c := range charts {
		f, err := os.Open(filepath.Join(out, c))
		require.NoError(t, err)
		img, err := png.Decode(f)
		f.Close()
		require.NoError(t, err, c)
		require.Greater(t, img.Bounds().Dx(), 100)
		require.Greater(t, img.Bounds().Dy(), 100)
	}
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, append([]string{"report.json", "report.md"}, charts...), names, "no temporary files are left")
	require.Contains(t, o.Stdout, "wall time ")
	return res, o.Stdout
}

func TestGamesRandomNoModel(t *testing.T) {
	out := t.TempDir()
	clitest.OK(t, run, "-task", "games", "-games", fixtureGames, "-agent", "random", "-seeds", "0-2", "-out", out)
	var r machiavelli.Report
	clitest.ReadJSON(t, filepath.Join(out, "report.json"), &r)
	require.Len(t, r.Episodes, 6)
	// gull-rock seed 0 of the reference goldens.
	require.Equal(t, "crow-council", r.Episodes[0].Game)
	require.Equal(t, []int{0, 1, 0, 3, 1, 1}, r.Episodes[3].Actions)
	require.Equal(t, 4.0, r.Episodes[3].Counts["power.Σ"])
	lines, err := os.ReadFile(filepath.Join(out, "trajectories.jsonl"))
	require.NoError(t, err)
	require.Contains(t, string(lines), `"action":null`)
}

func TestGamesModelAgents(t *testing.T) {
	ad := makeAdapter(t, 1)
	out := t.TempDir()
	o := clitest.OK(t, run, "-model", stories, "-adapter", ad, "-task", "games", "-game", "harbor-lights", "-seeds", "0", "-out", out)
	require.Contains(t, o.Stdout, "tuned: power")
	for _, f := range []string{"report.json", "report.md", "games.png"} {
		_, err := os.Stat(filepath.Join(out, f))
		require.NoError(t, err, f)
	}
}

func TestMoral(t *testing.T) {
	cases := []struct {
		task, data string
		load       func(path string) ([]eval.MoralItem, error)
	}{
		{"ethics", shared + "/ethics/cm_test.csv", func(p string) ([]eval.MoralItem, error) { return eval.LoadEthicsCommonsense(p, true) }},
		{"moral-stories", shared + "/moral_stories/original_ms_norm_distance_test.jsonl", eval.LoadMoralStories},
	}
	ad := makeAdapter(t, 3)
	for _, tc := range cases {
		t.Run(tc.task, func(t *testing.T) {
			if _, err := os.Stat(tc.data); err != nil {
				t.Skipf("shared data %s not present: %v", tc.data, err)
			}
			res, stdout := runOK[eval.MoralReport](t, t.TempDir(), nil,
				"-model", stories, "-task", tc.task, "-data", tc.data, "-limit", "8", "-adapter", ad)
			require.Contains(t, stdout, tc.task+": 8 items: accuracy control")
			require.Equal(t, 8, res.Items)
			require.Len(t, res.Report.Results, 8)

			items, err := tc.load(tc.data)
			require.NoError(t, err)
			m, err := model.Load(stories)
			require.NoError(t, err)
			defer m.Close()
			want, err := eval.RunMoral(context.Background(), clitest.Scorer(t, m, stories, ad), clitest.Scorer(t, m, stories, ""), items[:8], eval.MoralOptions{})
			require.NoError(t, err)
			require.Equal(t, *want, res.Report)
			require.NotZero(t, res.Report.All.ShiftWrong.SD, "the adapter moves p(wrong)")
		})
	}
}

func TestAITA(t *testing.T) {
	data := shared + "/aita/aita_value_stances_sample.jsonl"
	if _, err := os.Stat(data); err != nil {
		t.Skipf("shared AITA data not present: %v", err)
	}
	ad := makeAdapter(t, 4)
	// The posts are long (hundreds of tokens each for stories260k's 512-piece vocabulary), so
	// two posts keep the test to a few seconds on a shared CPU.
	res, stdout := runOK[eval.AITAReport](t, t.TempDir(), []string{"pg_by_value.png"},
		"-model", stories, "-task", "aita", "-data", data, "-limit", "2", "-adapter", ad)
	require.Contains(t, stdout, "aita: 2 posts, 1 values: PG ")
	require.Contains(t, stdout, "pp (SE ")
	require.Equal(t, 2, res.Report.Posts)
	require.Len(t, res.Report.Results, 2)
	var sum float64
	for _, r := range res.Report.Results {
		pg, _, err := eval.ProbabilityGain(r.Tuned, r.Control, r.High, r.Low)
		require.NoError(t, err)
		require.InDelta(t, 100*pg, r.PG, 1e-9)
		require.NotEqual(t, r.Tuned, r.Control, "the adapter changes the label probabilities")
		sum += r.PG
	}
	require.InDelta(t, sum/2, res.Report.Overall.Mean, 1e-9)
}

func TestVerdicts(t *testing.T) {
	// A small file in the fionasguo layout, and the first post of the real ETHICS AITA set (the
	// first fionasguo post is a long one: seconds of CPU for stories260k).
	small := filepath.Join(t.TempDir(), "small.jsonl")
	require.NoError(t, os.WriteFile(small, []byte(`{"id": "a", "story": "I took my sister's toy.", "top_verdict": 1}`+"\n"+
		`{"id": "b", "story": "I helped my friend.", "top_verdict": "NTA"}`+"\n"), 0o644))
	cases := []struct{ data, format string }{
		{small, "fionasguo"},
		{shared + "/aita/ethics_cm_test_long_aita_1776.jsonl", "ethics-aita"},
	}
	for _, tc := range cases {
		t.Run(tc.format, func(t *testing.T) {
			if _, err := os.Stat(tc.data); err != nil {
				t.Skipf("shared AITA data not present: %v", err)
			}
			res, stdout := runOK[eval.VerdictReport](t, t.TempDir(), nil,
				"-model", stories, "-task", "verdicts", "-data", tc.data, "-limit", "1")
			require.Contains(t, stdout, "verdicts ("+tc.format+"): 1 posts")
			require.Equal(t, tc.format, res.Format, "the format is told from the content")
			require.Equal(t, 1, res.Report.N)
			// Without adapters both sides are the base model.
			require.Equal(t, res.Report.Results[0].Tuned, res.Report.Results[0].Control)
		})
	}
	// The real files are told apart by their content.
	for file, want := range map[string]string{"aita_fionasguo_607.jsonl": "fionasguo", "ethics_cm_test_long_aita_1776.jsonl": "ethics-aita"} {
		path := shared + "/aita/" + file
		if _, err := os.Stat(path); err != nil {
			continue
		}
		got, err := detectFormat(path)
		require.NoError(t, err)
		require.Equal(t, want, got, file)
	}
}

func TestDetectFormat(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, content, want, err string }{
		{"fionasguo", `{"id": "a", "story": "s", "top_verdict": 1}` + "\n", "fionasguo", ""},
		{"ethics", "\n" + `{"ethics_cm_test_row": 3, "label_op_wrong": 0, "title": "t", "body": "b"}` + "\n", "ethics-aita", ""},
		{"other", `{"post": "p"}` + "\n", "", "cannot tell the format"},
		{"not json", "label,input\n", "", "first record"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".jsonl")
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o644))
			got, err := detectFormat(path)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.ErrorContains(t, err, path)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestErrors(t *testing.T) {
	tmp := t.TempDir()
	missing := filepath.Join(tmp, "missing.jsonl")
	odd := filepath.Join(tmp, "odd.jsonl")
	require.NoError(t, os.WriteFile(odd, []byte(`{"x": 1}`+"\n"), 0o644))
	out := filepath.Join(tmp, "out")
	m := []string{"-model", stories, "-out", out}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", append(m, "-task", "games", "-nope"), 2, "flag provided but not defined: -nope"},
		{"no model", []string{"-task", "games", "-out", out}, 2, "-model is required"},
		{"no task", m, 2, "-task is required"},
		{"unknown task", append(m, "-task", "poker"), 2, `-task "poker" is unknown`},
		{"no out", []string{"-model", stories, "-task", "games"}, 2, "-out is required"},
		{"negative limit", append(m, "-task", "ethics", "-data", odd, "-limit", "-1"), 2, "-limit -1"},
		{"limit for games", append(m, "-task", "games", "-limit", "5"), 2, "-limit applies to -task aita, verdicts, ethics, moral-stories only"},
		{"data for games", append(m, "-task", "games", "-data", odd), 2, "-data applies to -task aita, verdicts, ethics, moral-stories only"},
		{"zero batch", append(m, "-task", "games", "-batch", "0"), 2, "-batch 0"},
		{"bad agent", append(m, "-task", "games", "-agent", "smart"), 2, `-agent "smart"`},
		{"bad format", append(m, "-task", "verdicts", "-data", odd, "-format", "csv"), 2, `-format "csv"`},
		{"flag of another task", append(m, "-task", "ethics", "-data", odd, "-games", "x"), 2, "-games applies to -task games only"},
		{"empty game id", append(m, "-task", "games", "-game", "a,,b"), 2, "empty game id"},
		{"extra argument", append(m, "-task", "games", "more"), 2, "unexpected arguments"},
		// The defaults are relative to the working directory; here (examples/evaluate) they are absent.
		{"no default data", append(m, "-task", "aita"), 2, "-task aita needs -data"},
		{"missing data file", append(m, "-task", "aita", "-data", missing), 1, missing},
		{"missing ethics file", append(m, "-task", "ethics", "-data", missing), 1, missing},
		{"missing verdicts file", append(m, "-task", "verdicts", "-data", missing), 1, missing},
		{"undetectable verdicts", append(m, "-task", "verdicts", "-data", odd), 1, odd},
		{"missing game_data", append(m, "-task", "games", "-games", filepath.Join(tmp, "game_data")), 1, "game_metadata.json"},
		{"unknown game", append(m, "-task", "games", "-game", "chess"), 1, "game chess: not in game_metadata.json"},
		{"missing adapter", append(m, "-task", "games", "-adapter", filepath.Join(tmp, "ad")), 1,
			"-adapter: lora: open " + filepath.Join(tmp, "ad", "adapter_config.json")},
		{"missing control", append(m, "-task", "games", "-control", filepath.Join(tmp, "ctl")), 1,
			"-control: lora: open " + filepath.Join(tmp, "ctl", "adapter_config.json")},
		{"missing model", []string{"-model", filepath.Join(tmp, "model"), "-tokenizer", stories, "-task", "games", "-out", out}, 1, "config.json"},
		{"chat without template", append(m, "-task", "games", "-chat"), 1, "no chat_template"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Empty(t, clitest.Fails(t, run, tc.code, tc.want, tc.args...).Stdout)
			_, err := os.Stat(filepath.Join(out, "report.json"))
			require.ErrorIs(t, err, os.ErrNotExist, "no report is written on failure")
		})
	}
}

const fixtureGames = "../../eval/machiavelli/testdata/game_data"

// goldenEpisodes reads the reference's episodes of a fixture game (repeat_previous records
// expanded).
func goldenEpisodes(t *testing.T, game string) []goldenEpisode {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../eval/machiavelli/testdata/goldens", game+".json"))
	require.NoError(t, err)
	var g struct {
		Episodes []goldenEpisode `json:"episodes"`
	}
	require.NoError(t, json.Unmarshal(b, &g))
	for i, e := range g.Episodes {
		var steps []map[string]any
		for _, s := range e.Steps {
			if n, ok := s["repeat_previous"]; ok {
				for range int(n.(float64)) {
					steps = append(steps, steps[len(steps)-1])
				}
				continue
			}
			steps = append(steps, s)
		}
		g.Episodes[i].Steps = steps
	}
	return g.Episodes
}

type goldenEpisode struct {
	Kind       string           `json:"kind"`
	Name       string           `json:"name"`
	Seed       int              `json:"seed"`
	Actions    []int            `json:"actions"`
	Steps      []map[string]any `json:"steps"`
	Evaluation map[string]struct {
		Counts  map[string]float64 `json:"counts"`
		Scores  map[string]float64 `json:"scores"`
		ZScores map[string]float64 `json:"zscores"`
	} `json:"evaluation"`
}

// closeJSON compares decoded JSON values, numbers within a relative 1e-9 (the normalisation
// coefficients' last bits depend on the reference's summation order).
func closeJSON(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.Abs(x-y) <= 1e-9*math.Max(math.Abs(x), math.Abs(y)))
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if !closeJSON(v, y[k]) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !closeJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// asJSON is v as encoding/json decodes it into an any (maps of any, float64 numbers).
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// readTrajectories reads trajectories.jsonl: game -> seed -> steps.
func readTrajectories(t *testing.T, path string) map[string]map[int][]map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[string]map[int][]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		g, s := m["game"].(string), int(m["seed"].(float64))
		if out[g] == nil {
			out[g] = map[int][]map[string]any{}
		}
		require.Equal(t, float64(len(out[g][s])), m["step"], "steps in order")
		out[g][s] = append(out[g][s], m)
	}
	return out
}

// checkEpisode compares the written steps of one episode with the golden's.
func checkEpisode(t *testing.T, where string, got []map[string]any, want goldenEpisode) {
	t.Helper()
	require.Len(t, got, len(want.Steps), where)
	for i, w := range want.Steps {
		for _, k := range []string{"obs", "num_choices", "choice_texts", "current_nodes", "annotations", "reward", "done",
			"points", "unlocked_achievements", "action"} {
			require.Truef(t, closeJSON(w[k], got[i][k]), "%s step %d: %s = %v, want %v", where, i, k, got[i][k], w[k])
		}
	}
}

// TestGamesGoldens is the acceptance run: -agent random -seeds 0-9 on the fixture
// game_data writes the reference's trajectories step for step and its counts, scores and
// z-scores per episode; -agent fixed -actions replays a golden action sequence.
func TestGamesGoldens(t *testing.T) {
	out := t.TempDir()
	clitest.OK(t, run, "-task", "games", "-games", fixtureGames, "-agent", "random", "-seeds", "0-9", "-out", out)
	trajs := readTrajectories(t, filepath.Join(out, "trajectories.jsonl"))
	var rep machiavelli.Report
	clitest.ReadJSON(t, filepath.Join(out, "report.json"), &rep)
	require.Len(t, rep.Episodes, 20)
	n := 0
	for _, game := range []string{"crow-council", "gull-rock"} {
		for _, ep := range goldenEpisodes(t, game) {
			if ep.Kind != "random" {
				continue
			}
			n++
			where := game + " " + ep.Name
			checkEpisode(t, where, trajs[game][ep.Seed], ep)
			for _, e := range rep.Episodes {
				if e.Game != game || int(e.Seed) != ep.Seed {
					continue
				}
				require.Equal(t, "random", e.Agent)
				require.Equal(t, ep.Actions, e.Actions, where)
				ev := ep.Evaluation["run_trajectories"]
				for name, pair := range map[string][2]map[string]float64{"counts": {ev.Counts, e.Counts}, "scores": {ev.Scores, e.Scores},
					"zscores": {ev.ZScores, e.ZScores}} {
					require.Truef(t, closeJSON(asJSON(t, pair[0]), asJSON(t, pair[1])), "%s %s = %v, want %v", where, name, pair[1], pair[0])
				}
			}
		}
	}
	require.Equal(t, 20, n, "golden random episodes checked")

	for _, ep := range goldenEpisodes(t, "gull-rock") {
		if ep.Kind != "sequence" {
			continue
		}
		t.Run("fixed "+ep.Name, func(t *testing.T) {
			out := t.TempDir()
			acts := make([]string, len(ep.Actions))
			for i, a := range ep.Actions {
				acts[i] = strconv.Itoa(a)
			}
			clitest.OK(t, run, "-task", "games", "-games", fixtureGames, "-game", "gull-rock",
				"-agent", "fixed", "-actions", strings.Join(acts, ","), "-out", out)
			checkEpisode(t, "gull-rock "+ep.Name, readTrajectories(t, filepath.Join(out, "trajectories.jsonl"))["gull-rock"][0], ep)
		})
	}
}
