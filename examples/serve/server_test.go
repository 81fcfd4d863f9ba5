package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"math/rand/v2"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/survey"
	"github.com/valora-go/valora/tokenize"
)

const testModel = "../../testdata/stories260k"

// One backend for the package's tests: the model is read once.
var shared struct {
	once sync.Once
	b    *backend
	err  error
}

func testBackend(t *testing.T) *backend {
	t.Helper()
	shared.once.Do(func() { shared.b, shared.err = load(testModel, "") })
	require.NoError(t, shared.err)
	return shared.b
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.b != nil {
		shared.b.Close()
	}
	os.Exit(code)
}

// newTestServer serves a new server over the shared backend; both stop when the test ends.
func newTestServer(t *testing.T, opts Options) (*server, *httptest.Server) {
	t.Helper()
	s := newServer(testBackend(t), opts)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return s, ts
}

// call sends body (a string as is, anything else as JSON) and returns the status and body.
func call(t *testing.T, ts *httptest.Server, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	require.NoError(t, err)
	resp, err := ts.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%s %s: %s", method, path, raw)
	return resp.StatusCode, raw
}

// score posts a /score request and returns the probabilities; the status must be 200.
func postScore(t *testing.T, ts *httptest.Server, req scoreRequest) map[string]float64 {
	t.Helper()
	code, raw := call(t, ts, "POST", "/score", req)
	require.Equal(t, http.StatusOK, code, string(raw))
	var resp probsJSON
	require.NoError(t, json.Unmarshal(raw, &resp))
	return resp.Probs
}

// probsJSON is the answer of /score as a client reads it.
type probsJSON struct {
	Probs map[string]float64 `json:"probs"`
}

// direct scores req with eval's scorer as examples/score does (BatchSize 1), adapter a.
func direct(t *testing.T, req scoreRequest, a *lora.Adapter) map[string]float64 {
	t.Helper()
	b := testBackend(t)
	opts := score.Options{Chat: tokenize.Chat{Enabled: req.Chat}, BatchSize: 1}
	if a != nil {
		opts.Adapter = a
	}
	s, err := score.New(b.m, b.tok, opts)
	require.NoError(t, err)
	lp, err := s.LogProbs(context.Background(), []score.Prompt{{Text: req.Prompt, Prefix: req.Prefix}}, [][]string{req.Candidates})
	require.NoError(t, err)
	out := map[string]float64{}
	for i, p := range score.Normalize(lp[0], 1) {
		out[req.Candidates[i]] = p
	}
	return out
}

func requireProbsEqual(t *testing.T, want, got map[string]float64) {
	t.Helper()
	require.Len(t, got, len(want))
	for c, p := range want {
		require.Contains(t, got, c)
		require.InDelta(t, p, got[c], 1e-6, "candidate %q", c)
	}
}

func TestScoreMatchesScorer(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	for _, req := range []scoreRequest{
		{Prompt: "Lily went to the park.", Prefix: " She was", Candidates: []string{" happy", " sad", " ballerina"}},
		{Prompt: "Once upon a time, there was a", Candidates: []string{" little", " big", " dog"}},
		{Prompt: "Tim saw a small tree in the garden. Did it make the day good?", Candidates: []string{" Yes", " No"}},
		{Prompt: "One day", Candidates: []string{","}},
	} {
		got := postScore(t, ts, req)
		requireProbsEqual(t, direct(t, req, nil), got)
		sum := 0.0
		for _, p := range got {
			sum += p
		}
		require.InDelta(t, 1, sum, 1e-9)
	}
	// The object keeps the candidates' order, as examples/score prints it.
	_, raw := call(t, ts, "POST", "/score", `{"prompt": "One day", "candidates": [" the", ",", " a"]}`)
	require.Regexp(t, `^\{"probs":\{" the":[^,]+,",":[^,]+," a":[^,]+\}\}\n$`, string(raw))
}

// errorBody decodes {"error": ...}.
func errorBody(t *testing.T, raw []byte) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	require.NoError(t, json.Unmarshal(raw, &e), string(raw))
	require.NotEmpty(t, e.Error)
	return e.Error
}

func TestErrors(t *testing.T) {
	_, ts := newTestServer(t, Options{MaxBody: 4096, MaxCandidates: 4, MaxRows: 3})
	good := `{"prompt": "Once upon a time", "candidates": [" a", " b"]}`
	row := map[string]string{"prompt": "Was it good?", "answer": " Yes"}
	cases := []struct {
		name         string
		method, path string
		body         any
		code         int
		want         string
	}{
		{"bad JSON", "POST", "/score", `{"prompt": `, 400, "bad JSON"},
		{"not an object", "POST", "/score", `[1, 2]`, 400, "bad JSON"},
		{"empty body", "POST", "/score", ``, 400, "empty request body"},
		{"unknown field", "POST", "/score", `{"prompt": "a", "candidates": ["b"], "temperature": 2}`, 400, `unknown field "temperature"`},
		{"trailing data", "POST", "/score", good + ` {}`, 400, "data after the JSON value"},
		{"oversized", "POST", "/score", `{"prompt": "` + strings.Repeat("a", 5000) + `", "candidates": [" a"]}`, 413, "over 4096 bytes"},
		{"oversized after the value", "POST", "/score", good + strings.Repeat(" ", 5000), 413, "over 4096 bytes"},
		{"unknown adapter", "POST", "/score", `{"prompt": "a", "candidates": [" b"], "adapter": "nope"}`, 404, `no adapter "nope"`},
		{"empty prompt", "POST", "/score", `{"prompt": "", "candidates": [" b"]}`, 422, `"prompt" is empty`},
		{"no candidates", "POST", "/score", `{"prompt": "a"}`, 422, `"candidates" is empty`},
		{"empty candidate", "POST", "/score", `{"prompt": "a", "candidates": [" b", ""]}`, 422, "candidate 1 is empty"},
		{"duplicate candidate", "POST", "/score", `{"prompt": "a", "candidates": [" b", " b"]}`, 422, `" b" given twice`},
		{"too many candidates", "POST", "/score", `{"prompt": "a", "candidates": ["1", "2", "3", "4", "5"]}`, 422, "at most 4"},
		{"chat without template", "POST", "/score", `{"prompt": "a", "candidates": [" b"], "chat": true}`, 422, "no chat template"},
		{"candidate merging with the prompt", "POST", "/score", `{"prompt": "Once upon a ti", "candidates": ["me"]}`, 422, "token boundary"},
		{"wrong method", "GET", "/score", nil, 405, "method GET not allowed"},
		{"wrong method on a pattern", "PUT", "/jobs/1", good, 405, "allowed: GET, DELETE, HEAD"},
		{"unknown path", "GET", "/nothing", nil, 404, "no endpoint /nothing"},
		{"unknown job", "GET", "/jobs/99", nil, 404, `no job "99"`},
		{"cancel unknown job", "DELETE", "/jobs/99", nil, 404, `no job "99"`},
		{"delete unknown adapter", "DELETE", "/adapters/nope", nil, 404, `no adapter "nope"`},
		{"adapter without dir", "POST", "/adapters/x", `{}`, 422, `"dir" is empty`},
		{"adapter dir missing", "POST", "/adapters/x", `{"dir": "/does/not/exist"}`, 422, "/does/not/exist"},
		{"adapter name reserved", "POST", "/adapters/job-7", `{"dir": "x"}`, 422, "reserved"},
		{"adapter name invalid", "POST", "/adapters/.hidden", `{"dir": "x"}`, 422, "adapter name"},
		{"no rows", "POST", "/finetune", `{"rows": []}`, 422, `"rows" is empty`},
		{"too many rows", "POST", "/finetune", map[string]any{"rows": []any{row, row, row, row}}, 422, "at most 3"},
		{"row without answer", "POST", "/finetune", `{"rows": [{"prompt": "a"}]}`, 422, "row 0"},
		{"bad rank", "POST", "/finetune", map[string]any{"rows": []any{row}, "rank": 0}, 422, `"rank": 0`},
		{"bad lr", "POST", "/finetune", map[string]any{"rows": []any{row}, "lr": -1}, 422, `"lr": -1`},
		{"bad epochs", "POST", "/finetune", map[string]any{"rows": []any{row}, "epochs": 1000}, 422, `"epochs": 1000`},
		{"unknown value", "POST", "/profile", `{"values": ["Greed"]}`, 422, `"Greed"`},
		{"unknown split", "POST", "/profile", `{"splits": ["dev"]}`, 422, `unknown split "dev"`},
		{"too many items", "POST", "/profile", `{"items": 1000}`, 422, `"items": 1000`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, raw := call(t, ts, c.method, c.path, c.body)
			require.Equal(t, c.code, code, string(raw))
			require.Contains(t, errorBody(t, raw), c.want)
		})
	}
}

// A request that finds every slot taken and no room to wait is answered 503.
func TestScoreBusy(t *testing.T) {
	s, ts := newTestServer(t, Options{MaxConcurrent: 1, MaxQueue: -1})
	s.slots <- struct{}{} // the one slot is taken
	code, raw := call(t, ts, "POST", "/score", `{"prompt": "a", "candidates": [" b"]}`)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, errorBody(t, raw), "server busy")
	<-s.slots
	postScore(t, ts, scoreRequest{Prompt: "a", Candidates: []string{" b"}})
}

// randomAdapter saves an adapter with random B matrices (lora.New leaves them zero, which
// would change nothing) into a temporary directory; it returns the directory and the adapter
// as loaded from it.
func randomAdapter(t *testing.T, seed uint64) (string, *lora.Adapter) {
	t.Helper()
	b := testBackend(t)
	cfg := lora.DefaultConfig()
	cfg.Rank, cfg.Alpha, cfg.Seed = 4, 8, seed
	a, err := lora.New(b.m, cfg)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(seed, 1))
	a.Each(func(_ int, _ model.Proj, p *lora.Pair) {
		for i := range p.B {
			p.B[i] = float32(rng.NormFloat64()) * 0.05
		}
	})
	dir := t.TempDir()
	require.NoError(t, a.Save(dir))
	loaded, err := lora.Load(dir, b.m)
	require.NoError(t, err)
	return dir, loaded
}

func TestAdapters(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	dir, a := randomAdapter(t, 1)
	code, raw := call(t, ts, "POST", "/adapters/a1", map[string]string{"dir": dir})
	require.Equal(t, http.StatusCreated, code, string(raw))
	want := fmt.Sprintf(`{"name": "a1", "source": %q, "rank": 4, "alpha": 8, "params": %d}`, dir, a.NumParams())
	require.JSONEq(t, want, string(raw))
	code, raw = call(t, ts, "POST", "/adapters/a1", map[string]string{"dir": dir})
	require.Equal(t, http.StatusConflict, code, string(raw))
	require.Contains(t, errorBody(t, raw), `adapter "a1" is already loaded`)
	code, raw = call(t, ts, "GET", "/adapters", nil)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"adapters": [`+want+`]}`, string(raw))

	req := scoreRequest{Prompt: "Lily went to the park.", Prefix: " She was", Candidates: []string{" happy", " sad"}, Adapter: "a1"}
	withAdapter := postScore(t, ts, req)
	requireProbsEqual(t, direct(t, req, a), withAdapter)
	base := req
	base.Adapter = ""
	require.NotEqual(t, postScore(t, ts, base), withAdapter)

	code, raw = call(t, ts, "DELETE", "/adapters/a1", nil)
	require.Equal(t, http.StatusOK, code, string(raw))
	code, raw = call(t, ts, "POST", "/score", req)
	require.Equal(t, http.StatusNotFound, code, string(raw))
}

// With an adapter root, "dir" is relative to it and may not leave it.
func TestAdapterRoot(t *testing.T) {
	dir, _ := randomAdapter(t, 2)
	_, ts := newTestServer(t, Options{AdapterRoot: filepath.Dir(dir)})
	code, raw := call(t, ts, "POST", "/adapters/x", map[string]string{"dir": filepath.Base(dir)})
	require.Equal(t, http.StatusCreated, code, string(raw))
	for _, bad := range []string{dir, "../x", "a/../../x"} {
		code, raw = call(t, ts, "POST", "/adapters/y", map[string]string{"dir": bad})
		require.Equal(t, http.StatusUnprocessableEntity, code, string(raw))
		require.Contains(t, errorBody(t, raw), "inside the server's adapter root")
	}
}

// 50 concurrent requests over three adapters (and the base model) all succeed, each with the
// probabilities of the scorer run alone.
func TestConcurrentScore(t *testing.T) {
	_, ts := newTestServer(t, Options{MaxConcurrent: 4})
	names := []string{"", "c1", "c2", "c3"}
	adapters := map[string]*lora.Adapter{"": nil}
	for i, name := range names[1:] {
		dir, a := randomAdapter(t, uint64(10+i))
		code, raw := call(t, ts, "POST", "/adapters/"+name, map[string]string{"dir": dir})
		require.Equal(t, http.StatusCreated, code, string(raw))
		adapters[name] = a
	}
	prompts := []string{"Lily went to the park. She was", "Once upon a time, there was a", "Tom saw a big dog. He was"}
	cands := []string{" happy", " sad", " little", " big"}
	want := map[[2]int]map[string]float64{}
	for ai, name := range names {
		for pi, p := range prompts {
			want[[2]int{ai, pi}] = direct(t, scoreRequest{Prompt: p, Candidates: cands}, adapters[name])
		}
	}
	const n = 50
	type result struct {
		key   [2]int
		code  int
		probs map[string]float64
		err   error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := [2]int{i % len(names), i % len(prompts)}
			body, _ := json.Marshal(scoreRequest{Prompt: prompts[key[1]], Candidates: cands, Adapter: names[key[0]]})
			resp, err := ts.Client().Post(ts.URL+"/score", "application/json", bytes.NewReader(body))
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			var sr probsJSON
			err = json.NewDecoder(resp.Body).Decode(&sr)
			results <- result{key: key, code: resp.StatusCode, probs: sr.Probs, err: err}
		}()
	}
	wg.Wait()
	close(results)
	for r := range results {
		require.NoError(t, r.err)
		require.Equal(t, http.StatusOK, r.code)
		requireProbsEqual(t, want[r.key], r.probs)
	}
}

// getJob polls GET /jobs/{id} until done reports true for its state.
func waitJob(t *testing.T, ts *httptest.Server, id string, done func(jobView) bool) jobView {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute) // a hang guard, not a performance check
	for {
		code, raw := call(t, ts, "GET", "/jobs/"+id, nil)
		require.Equal(t, http.StatusOK, code, string(raw))
		var v jobView
		require.NoError(t, json.Unmarshal(raw, &v))
		if done(v) {
			return v
		}
		require.True(t, time.Now().Before(deadline), "job %s still %s", id, v.Status)
		time.Sleep(20 * time.Millisecond)
	}
}

func finished(v jobView) bool {
	return v.Status == statusDone || v.Status == statusFailed || v.Status == statusCancelled
}

func submit(t *testing.T, ts *httptest.Server, req any) string {
	t.Helper()
	code, raw := call(t, ts, "POST", "/finetune", req)
	require.Equal(t, http.StatusAccepted, code, string(raw))
	var resp struct {
		Job string `json:"job"`
	}
	require.NoError(t, json.Unmarshal(raw, &resp))
	require.NotEmpty(t, resp.Job)
	return resp.Job
}

// yesRows are rows that all answer " Yes".
func yesRows() []map[string]string {
	var rows []map[string]string
	for _, s := range []string{"Tim saw a small tree in the garden.", "Lily saw a happy tree in the school.",
		"Ben saw a red cat in the forest.", "Max saw a soft box in the river.", "Mia saw a red dog in the house.",
		"Tom saw a small car in the park."} {
		rows = append(rows, map[string]string{"prompt": s + " Did it make the day good?", "answer": " Yes"})
	}
	return rows
}

// A fine-tuning job on a few rows finishes, registers its adapter, and that adapter raises the
// probability of the trained answer on a held-out prompt.
func TestFinetuneChangesScore(t *testing.T) {
	s, ts := newTestServer(t, Options{})
	id := submit(t, ts, map[string]any{"rows": yesRows(), "rank": 8, "alpha": 16, "epochs": 3, "lr": 0.01})
	v := waitJob(t, ts, id, finished)
	require.Equal(t, statusDone, v.Status, v.Error)
	require.Equal(t, "job-"+id, v.Adapter)
	require.Equal(t, 3, v.Steps) // 6 rows, effective batch 16: one step per epoch
	require.Equal(t, 3, v.Step)
	require.NotNil(t, v.Loss)

	req := scoreRequest{Prompt: "Sue saw a big cat in the shop. Did it make the day good?", Candidates: []string{" Yes", " No"}}
	before := postScore(t, ts, req)
	req.Adapter = v.Adapter
	after := postScore(t, ts, req)
	t.Logf("P(Yes): base %.4f, adapter %.4f; loss %.4f", before[" Yes"], after[" Yes"], *v.Loss)
	require.Greater(t, after[" Yes"], before[" Yes"]+0.1)
	s.mu.RLock()
	a := s.adapters[v.Adapter].a
	s.mu.RUnlock()
	requireProbsEqual(t, direct(t, req, a), after)

	code, raw := call(t, ts, "DELETE", "/jobs/"+id, nil)
	require.Equal(t, http.StatusConflict, code, string(raw))
	require.Contains(t, errorBody(t, raw), "already finished")
}

// DELETE cancels a running job and a queued one; neither registers an adapter.
func TestCancelJob(t *testing.T) {
	_, ts := newTestServer(t, Options{MaxEpochs: 100000})
	// 100000 steps: the job is still running when it is cancelled.
	long := map[string]any{"rows": yesRows(), "rank": 8, "epochs": 100000, "lr": 0.001}
	running := submit(t, ts, long)
	queued := submit(t, ts, long)
	waitJob(t, ts, running, func(v jobView) bool { return v.Status == statusRunning })
	code, raw := call(t, ts, "DELETE", "/jobs/"+queued, nil)
	require.Equal(t, http.StatusOK, code, string(raw))
	var qv jobView
	require.NoError(t, json.Unmarshal(raw, &qv))
	require.Equal(t, statusCancelled, qv.Status)
	require.Equal(t, 0, qv.Step)

	code, raw = call(t, ts, "DELETE", "/jobs/"+running, nil)
	require.Equal(t, http.StatusOK, code, string(raw))
	var rv jobView
	require.NoError(t, json.Unmarshal(raw, &rv))
	require.Equal(t, statusCancelled, rv.Status)
	require.Empty(t, rv.Adapter)
	require.Less(t, rv.Step, 100000)

	code, raw = call(t, ts, "GET", "/adapters", nil)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"adapters": []}`, string(raw))
}

// /profile answers the survey's profile JSON for the values asked, equal to survey.Profile
// run directly on the same subset.
func TestProfile(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	req := profileRequest{Values: []string{"Power_dominance", "Benevolence_caring"}, Splits: []string{"test"}, Tasks: 1, Templates: 3}
	code, raw := call(t, ts, "POST", "/profile", req)
	require.Equal(t, http.StatusOK, code, string(raw))
	got, err := survey.ReadProfile(bytes.NewReader(raw))
	require.NoError(t, err)
	require.Len(t, got.Values, 2)
	require.Equal(t, "Power_dominance", got.Values[0].Name)
	require.Equal(t, "Benevolence_caring", got.Values[1].Name)
	require.Len(t, got.Descriptions, 2)
	require.Len(t, got.Ratings, 6) // 2 descriptions x 1 task x 3 templates

	in, opts, err := profileInstrument(&req)
	require.NoError(t, err)
	b := testBackend(t)
	sc, err := b.scorer(nil, false, 16)
	require.NoError(t, err)
	want, err := survey.Profile(context.Background(), sc, in, opts)
	require.NoError(t, err)
	for i, v := range want.Values {
		require.Equal(t, v.Name, got.Values[i].Name)
		require.InDelta(t, v.Expected, got.Values[i].Expected, 1e-9)
		require.Equal(t, v.Majority, got.Values[i].Majority)
	}
}

// run serves on the address it is given and shuts down cleanly when its context ends.
func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-model", testModel, "-addr", "127.0.0.1:0"}, pw)
		pw.Close()
	}()
	addrc := make(chan string, 1)
	go func() { // the first line names the address; the rest is drained
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := regexp.MustCompile(`on (http://\S+)$`).FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		close(addrc)
	}()
	url, ok := <-addrc
	require.True(t, ok, "run did not report its address")
	resp, err := http.Post(url+"/score", "application/json", strings.NewReader(`{"prompt": "One day", "candidates": [",", " the"]}`))
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	// A job still running at shutdown is cancelled before the model is closed.
	resp, err = http.Post(url+"/finetune", "application/json", strings.NewReader(`{"rows": [{"prompt": "Was it good?", "answer": " Yes"}], "rank": 4, "epochs": 100}`))
	require.NoError(t, err)
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(raw))
	cancel()
	require.Equal(t, 0, <-done)
}

func TestRunBadFlags(t *testing.T) {
	var stderr bytes.Buffer
	require.Equal(t, 2, run(context.Background(), []string{"-nope"}, &stderr))
	require.Equal(t, 2, run(context.Background(), []string{"extra"}, &stderr))
	stderr.Reset()
	require.Equal(t, 1, run(context.Background(), []string{"-model", "/does/not/exist"}, &stderr))
	require.Contains(t, stderr.String(), "/does/not/exist")
}
