package machiavelli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// The goldens in testdata/ are copied from ../shared/fixtures/machiavelli (original games,
// Apache-2.0, produced by running the upstream MACHIAVELLI code; see testdata/README.md).

type goldenEpisode struct {
	Kind       string                       `json:"kind"`
	Name       string                       `json:"name"`
	Seed       uint32                       `json:"seed"`
	Actions    []int                        `json:"actions"`
	Truncated  bool                         `json:"truncated_at_max_steps"`
	Evaluation map[string]Eval              `json:"evaluation"`
	Steps      []map[string]json.RawMessage `json:"-"`
}

type goldenFile struct {
	Game       string                                `json:"game"`
	MaxPoints  int                                   `json:"max_points"`
	GameAch    map[string]GameAchievement            `json:"game_achievements"`
	Aggregate  map[string]map[string]json.RawMessage `json:"evaluate_trajectories_random_seeds_0_9"`
	EpisodesRW []json.RawMessage                     `json:"episodes"`
}

// fixtureEnv loads game from testdata/game_data and makes its environment.
func fixtureEnv(t *testing.T, game string) (*Game, *Env) {
	t.Helper()
	games, err := LoadDir(filepath.Join("testdata", "game_data"), game)
	if err != nil {
		t.Fatal(err)
	}
	env, err := NewEnv(games[0])
	if err != nil {
		t.Fatal(err)
	}
	return games[0], env
}

func loadGolden(t *testing.T, game string) (*goldenFile, []goldenEpisode) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "goldens", game+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	var eps []goldenEpisode
	for _, raw := range g.EpisodesRW {
		var e goldenEpisode
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		var s struct {
			Steps []map[string]json.RawMessage `json:"steps"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		// Expand {"repeat_previous": n}.
		for _, st := range s.Steps {
			if r, ok := st["repeat_previous"]; ok {
				var n int
				_ = json.Unmarshal(r, &n)
				for range n {
					e.Steps = append(e.Steps, e.Steps[len(e.Steps)-1])
				}
				continue
			}
			e.Steps = append(e.Steps, st)
		}
		eps = append(eps, e)
	}
	return &g, eps
}

// jsonEqual compares two JSON texts as values, numbers within a relative 1e-12.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return valuesClose(x, y, 1e-12)
}

func valuesClose(x, y any, tol float64) bool {
	eq := func(u, v any) bool { return valuesClose(u, v, tol) }
	switch a := x.(type) {
	case float64:
		b, ok := y.(float64)
		return ok && closeRel(a, b, tol)
	case map[string]any:
		b, ok := y.(map[string]any)
		return ok && maps.EqualFunc(a, b, eq)
	case []any:
		b, ok := y.([]any)
		return ok && slices.EqualFunc(a, b, eq)
	}
	return reflect.DeepEqual(x, y)
}

func closeRel(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return a == b || math.Abs(a-b) <= tol*math.Max(math.Abs(a), math.Abs(b))
}

func stepRecord(obs string, reward int, done bool, info *Info) map[string]any {
	return map[string]any{"obs": obs, "reward": reward, "done": done, "num_choices": info.NumChoices,
		"choice_texts": info.ChoiceTexts, "current_nodes": info.CurrentNodes, "annotations": info.Annotations,
		"points": info.Points, "new_achievements": info.NewAchievements, "unlocked_achievements": info.Unlocked,
		"stats": info.Stats, "aggregated_variables": info.AggregatedVariables}
}

func checkStep(t *testing.T, where string, want map[string]json.RawMessage, got map[string]any) {
	t.Helper()
	for k, w := range want {
		if k == "action" {
			continue
		}
		g, err := json.Marshal(got[k])
		if err != nil {
			t.Fatalf("%s: %s: %v", where, k, err)
		}
		if !jsonEqual(w, g) {
			t.Fatalf("%s: %s differs\nwant %s\ngot  %s", where, k, w, g)
		}
	}
}

func checkEval(t *testing.T, where string, want Eval, got *Eval) {
	t.Helper()
	if want.Steps != got.Steps || !closeRel(want.Points, got.Points, 1e-12) ||
		fmt.Sprint(want.Achievements) != fmt.Sprint(got.Achievements) {
		t.Errorf("%s: steps/points/achievements = %d %v %v, want %d %v %v", where, got.Steps, got.Points, got.Achievements,
			want.Steps, want.Points, want.Achievements)
	}
	for name, pair := range map[string][2]map[string]float64{"counts": {want.Counts, got.Counts},
		"scores": {want.Scores, got.Scores}, "zscores": {want.ZScores, got.ZScores}} {
		w, g := pair[0], pair[1]
		if len(w) != len(g) {
			t.Errorf("%s: %s keys %v, want %v", where, name, slices.Sorted(maps.Keys(g)), slices.Sorted(maps.Keys(w)))
			continue
		}
		for k, v := range w {
			if gv, ok := g[k]; !ok || !closeRel(v, gv, 1e-9) {
				t.Errorf("%s: %s[%s] = %v, want %v", where, name, k, gv, v)
			}
		}
	}
}

func TestGoldens(t *testing.T) {
	for _, game := range []string{"gull-rock", "crow-council"} {
		t.Run(game, func(t *testing.T) {
			gf, eps := loadGolden(t, game)
			g, env := fixtureEnv(t, game)
			if env.MaxPoints != gf.MaxPoints || len(env.Achievements) != len(gf.GameAch) {
				t.Fatalf("max points %d, achievements %v; want %d, %v", env.MaxPoints, env.Achievements, gf.MaxPoints, gf.GameAch)
			}
			for _, a := range env.Achievements {
				if w := gf.GameAch[a.Name]; w.Description != a.Description || w.Points != a.Points {
					t.Errorf("achievement %s = %+v, want %+v", a.Name, a, w)
				}
			}
			var runEvals, envEvals []*Eval
			for _, ep := range eps {
				var agent Agent = RandomAgent{}
				if ep.Kind == "sequence" {
					agent = &FixedAgent{Actions: ep.Actions, Repeat: true}
				}
				tr, err := Play(context.Background(), env, agent, ep.Seed, MaxSteps)
				if err != nil {
					t.Fatalf("%s: %v", ep.Name, err)
				}
				if len(tr.Steps) != len(ep.Steps) {
					t.Errorf("%s: %d steps, want %d", ep.Name, len(tr.Steps), len(ep.Steps))
				}
				for i := 0; i < len(tr.Steps) && i < len(ep.Steps); i++ {
					s := tr.Steps[i]
					done := i == len(tr.Steps)-1 && !tr.Truncated
					rec := stepRecord(s.Obs, s.Reward, done, s.Info)
					checkStep(t, fmt.Sprintf("%s step %d", ep.Name, i), ep.Steps[i], rec)
					var wa *int
					_ = json.Unmarshal(ep.Steps[i]["action"], &wa)
					if (wa == nil) != (s.Action < 0) || wa != nil && *wa != s.Action {
						t.Fatalf("%s step %d: action %d, want %v", ep.Name, i, s.Action, ep.Steps[i]["action"])
					}
				}
				if tr.Truncated != ep.Truncated {
					t.Errorf("%s: truncated %v", ep.Name, tr.Truncated)
				}
				ev, err := Evaluate(tr, g.Coeffs)
				if err != nil {
					t.Fatal(err)
				}
				checkEval(t, ep.Name+" run_trajectories", ep.Evaluation["run_trajectories"], ev)
				eev, err := evaluateEnvTrajectory(tr, g.Coeffs)
				if err != nil {
					t.Fatal(err)
				}
				checkEval(t, ep.Name+" env_trajectory", ep.Evaluation["env_trajectory"], eev)
				if ep.Kind == "random" {
					runEvals = append(runEvals, ev)
					envEvals = append(envEvals, eev)
				}
			}
			for kind, evs := range map[string][]*Eval{"run_trajectories": runEvals, "env_trajectory": envEvals} {
				row := Row(evs, []string{game})
				want := map[string]float64{}
				for k, v := range gf.Aggregate[kind] {
					var f float64
					if json.Unmarshal(v, &f) == nil {
						want[k] = f
					}
				}
				if len(want) != len(row) {
					t.Errorf("%s row keys %v, want %v", kind, slices.Sorted(maps.Keys(row)), slices.Sorted(maps.Keys(want)))
				}
				for k, v := range want {
					if !closeRel(v, row[k], 1e-9) {
						t.Errorf("%s row %s = %v, want %v", kind, k, row[k], v)
					}
				}
			}
		})
	}
}

// evaluateEnvTrajectory evaluates t as env.trajectory records it.
func evaluateEnvTrajectory(t *Trajectory, coeffs map[string]Coeff) (*Eval, error) {
	infos := t.EnvTrajectoryInfos()
	last := infos[len(infos)-1]
	pts := 0.0
	if last.MaxPoints != 0 {
		pts = 100 * float64(last.Points) / float64(last.MaxPoints)
	}
	e := &Eval{Steps: len(infos), Points: pts, Achievements: last.Unlocked, Counts: CountInfos(infos, pts)}
	var err error
	if e.Scores, err = Scores(e.Counts, coeffs, false); err != nil {
		return nil, err
	}
	e.ZScores, err = Scores(e.Counts, coeffs, true)
	return e, err
}
