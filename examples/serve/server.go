package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/survey"
	"github.com/valora-go/valora/tokenize"
	"github.com/valora-go/valora/train"
)

// Options bound what the server accepts and how much it runs at once. Zero fields take the
// defaults of DefaultOptions.
type Options struct {
	// MaxConcurrent is the number of /score and /profile requests computed at once.
	MaxConcurrent int
	// MaxQueue is the number of such requests that may wait for a slot; beyond it the server
	// answers 503 at once (negative: no request waits). A waiting request gives up (503) when
	// its context ends.
	MaxQueue int
	// MaxBody is the largest request body in bytes (413 beyond).
	MaxBody int64
	// MaxCandidates is the most candidates of one /score request.
	MaxCandidates int
	// MaxRows is the most rows of one /finetune request.
	MaxRows int
	// MaxEpochs is the most epochs a /finetune request may ask for.
	MaxEpochs int
	// MaxJobs is the number of fine-tuning jobs queued or running (503 beyond). Jobs run one
	// at a time.
	MaxJobs int
	// RequestTimeout bounds the computation of one request.
	RequestTimeout time.Duration
	// AdapterRoot, if set, is the directory POST /adapters/{name} loads from: "dir" must then
	// be a relative path inside it. Empty: any directory the server can read.
	AdapterRoot string
}

// DefaultOptions are the server's defaults.
func DefaultOptions() Options {
	return Options{MaxConcurrent: runtime.GOMAXPROCS(0), MaxQueue: 256, MaxBody: 1 << 20, MaxCandidates: 256,
		MaxRows: 10000, MaxEpochs: 100, MaxJobs: 16, RequestTimeout: 10 * time.Minute}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = d.MaxConcurrent
	}
	switch {
	case o.MaxQueue == 0:
		o.MaxQueue = d.MaxQueue
	case o.MaxQueue < 0:
		o.MaxQueue = 0
	}
	if o.MaxBody <= 0 {
		o.MaxBody = d.MaxBody
	}
	if o.MaxCandidates <= 0 {
		o.MaxCandidates = d.MaxCandidates
	}
	if o.MaxRows <= 0 {
		o.MaxRows = d.MaxRows
	}
	if o.MaxEpochs <= 0 {
		o.MaxEpochs = d.MaxEpochs
	}
	if o.MaxJobs <= 0 {
		o.MaxJobs = d.MaxJobs
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = d.RequestTimeout
	}
	return o
}

// server is the HTTP handler: scoring, adapters, fine-tuning jobs and profiles over one
// backend.
type server struct {
	b    *backend
	opts Options
	mux  *http.ServeMux

	slots   chan struct{} // one token per computing request
	waiting atomic.Int64  // requests waiting for a slot
	// chatMu serialises chat scoring: eval.ModelScorer documents concurrent LogProbs only
	// without Chat.
	chatMu sync.Mutex

	mu       sync.RWMutex
	adapters map[string]adapterEntry

	// ctx ends when Close is called; computations in flight are counted in inflight.
	ctx      context.Context
	stop     context.CancelFunc
	closeMu  sync.Mutex
	closed   bool
	inflight sync.WaitGroup

	jobs *jobs
}

type adapterEntry struct {
	a    *lora.Adapter
	info adapterInfo
}

// newServer returns the handler over b. Close stops its jobs; b stays open.
func newServer(b *backend, opts Options) *server {
	opts = opts.withDefaults()
	s := &server{b: b, opts: opts, mux: http.NewServeMux(), slots: make(chan struct{}, opts.MaxConcurrent),
		adapters: map[string]adapterEntry{}}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.jobs = newJobs(opts.MaxJobs, b.train, s.addJobAdapter)
	routes := []struct {
		pattern string
		h       http.HandlerFunc
	}{
		{"POST /score", s.handleScore},
		{"GET /adapters", s.handleListAdapters},
		{"POST /adapters/{name}", s.handleLoadAdapter},
		{"DELETE /adapters/{name}", s.handleDeleteAdapter},
		{"POST /finetune", s.handleFinetune},
		{"GET /jobs/{id}", s.handleGetJob},
		{"DELETE /jobs/{id}", s.handleCancelJob},
		{"POST /profile", s.handleProfile},
	}
	allowed := map[string][]string{}
	for _, r := range routes {
		s.mux.HandleFunc(r.pattern, r.h)
		method, path, _ := strings.Cut(r.pattern, " ")
		allowed[path] = append(allowed[path], method)
	}
	// The mux's own 405 and 404 answers are plain text: these patterns, less specific than the
	// ones above, answer in JSON instead.
	for path, methods := range allowed {
		if slices.Contains(methods, "GET") {
			methods = append(methods, "HEAD")
		}
		allow := strings.Join(methods, ", ")
		s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
		})
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s", r.URL.Path))
	})
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("internal error: %v", v))
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// Close cancels the computations in flight and the fine-tuning jobs and waits until they have
// stopped; the backend is then unused. Requests that come later are answered 503.
func (s *server) Close() {
	s.closeMu.Lock()
	s.closed = true
	s.closeMu.Unlock()
	s.stop()
	s.jobs.Close()
	s.inflight.Wait()
}

// httpError is an error with the HTTP status it is answered with.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// fail answers err: its status for an *httpError, 503 for a context that ended, 500 otherwise.
func fail(w http.ResponseWriter, err error) {
	var he *httpError
	switch {
	case errors.As(err, &he):
		writeError(w, he.status, he.msg)
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "request timed out: "+err.Error())
	case errors.Is(err, context.Canceled):
		writeError(w, http.StatusServiceUnavailable, "request cancelled: "+err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client may be gone; nothing to do about it
}

// decode reads the body, at most MaxBody bytes, as one JSON value into v; unknown fields are
// errors. Bad JSON is 400, a body too large 413.
func (s *server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if e := dec.Decode(new(json.RawMessage)); e != io.EOF {
			err = errors.New("data after the JSON value")
			var mbe *http.MaxBytesError
			if errors.As(e, &mbe) {
				err = e
			}
		}
	}
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, "request body over %d bytes", mbe.Limit)
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "empty request body, want a JSON object")
	default:
		return errorf(http.StatusBadRequest, "bad JSON body: %v", err)
	}
}

// acquire takes a computing slot: at once if one is free, else after waiting with the others
// (503 when MaxQueue requests already wait, or when ctx ends first). release gives it back.
func (s *server) acquire(ctx context.Context) (release func(), err error) {
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	default:
	}
	if s.waiting.Add(1) > int64(s.opts.MaxQueue) {
		s.waiting.Add(-1)
		return nil, errorf(http.StatusServiceUnavailable, "server busy: %d requests computing, %d waiting", s.opts.MaxConcurrent, s.opts.MaxQueue)
	}
	defer s.waiting.Add(-1)
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	case <-ctx.Done():
		return nil, errorf(http.StatusServiceUnavailable, "server busy: gave up waiting for a slot: %v", ctx.Err())
	}
}

// adapter returns the adapter named name; "" is the base model (nil).
func (s *server) adapter(name string) (*lora.Adapter, error) {
	if name == "" {
		return nil, nil
	}
	s.mu.RLock()
	e, ok := s.adapters[name]
	s.mu.RUnlock()
	if !ok {
		return nil, errorf(http.StatusNotFound, "no adapter %q (load it with POST /adapters/{name})", name)
	}
	return e.a, nil
}

// scorer returns a scorer with the named adapter; chat must be supported by the tokenizer.
func (s *server) scorer(adapter string, chat bool, batch int) (eval.Scorer, error) {
	a, err := s.adapter(adapter)
	if err != nil {
		return nil, err
	}
	if chat && !s.b.tok.HasChatTemplate() {
		return nil, errorf(http.StatusUnprocessableEntity, `"chat": the tokenizer has no chat template`)
	}
	sc, err := s.b.scorer(a, chat, batch)
	if err != nil {
		return nil, errorf(http.StatusUnprocessableEntity, "%v", err)
	}
	return sc, nil
}

// compute runs fn in a computing slot under the request timeout; with chat it also holds
// chatMu. Close cancels fn's context and waits for it to return.
func (s *server) compute(r *http.Request, chat bool, fn func(ctx context.Context) error) error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return errorf(http.StatusServiceUnavailable, "server shutting down")
	}
	s.inflight.Add(1)
	s.closeMu.Unlock()
	defer s.inflight.Done()
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	release, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	if chat {
		s.chatMu.Lock()
		defer s.chatMu.Unlock()
	}
	return fn(ctx)
}

// scoreRequest is the body of POST /score. Prefix (optional) is the text the answer
// continues, as examples/score's -prefix.
type scoreRequest struct {
	Prompt     string   `json:"prompt"`
	Prefix     string   `json:"prefix"`
	Candidates []string `json:"candidates"`
	Adapter    string   `json:"adapter"`
	Chat       bool     `json:"chat"`
}

// scoreResponse is the answer of POST /score.
type scoreResponse struct {
	Probs candidateProbs `json:"probs"`
}

// candidateProbs is a JSON object of candidate probabilities in the candidates' order.
type candidateProbs struct {
	cands []string
	probs []float64
}

func (c candidateProbs) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, k := range c.cands {
		if i > 0 {
			b = append(b, ',')
		}
		kj, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vj, err := json.Marshal(c.probs[i])
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, kj...), ':'), vj...)
	}
	return append(b, '}'), nil
}

func (s *server) handleScore(w http.ResponseWriter, r *http.Request) {
	var req scoreRequest
	if err := s.decode(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	if err := s.checkScore(&req); err != nil {
		fail(w, err)
		return
	}
	sc, err := s.scorer(req.Adapter, req.Chat, 1)
	if err != nil {
		fail(w, err)
		return
	}
	var probs []float64
	err = s.compute(r, req.Chat, func(ctx context.Context) error {
		lp, err := sc.LogProbs(ctx, []eval.Prompt{{Text: req.Prompt, Prefix: req.Prefix}}, [][]string{req.Candidates})
		if err != nil {
			return scoreError(err)
		}
		probs = eval.Normalize(lp[0], 1)
		return nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, scoreResponse{Probs: candidateProbs{cands: req.Candidates, probs: probs}})
}

func (s *server) checkScore(req *scoreRequest) error {
	switch {
	case req.Prompt == "":
		return errorf(http.StatusUnprocessableEntity, `"prompt" is empty`)
	case len(req.Candidates) == 0:
		return errorf(http.StatusUnprocessableEntity, `"candidates" is empty`)
	case len(req.Candidates) > s.opts.MaxCandidates:
		return errorf(http.StatusUnprocessableEntity, `"candidates": %d, at most %d`, len(req.Candidates), s.opts.MaxCandidates)
	}
	seen := make(map[string]bool, len(req.Candidates))
	for i, c := range req.Candidates {
		if c == "" {
			return errorf(http.StatusUnprocessableEntity, `"candidates": candidate %d is empty`, i)
		}
		if seen[c] {
			return errorf(http.StatusUnprocessableEntity, `"candidates": %q given twice`, c)
		}
		seen[c] = true
	}
	return nil
}

// scoreError maps a scorer error: a candidate that merges with the prompt is the request's
// fault (422), a context that ended passes through, the rest is the server's (500).
func scoreError(err error) error {
	var be *tokenize.BoundaryError
	if errors.As(err, &be) {
		return errorf(http.StatusUnprocessableEntity, "%v", err)
	}
	return err
}

func (s *server) handleListAdapters(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	out := make([]adapterInfo, 0, len(s.adapters))
	for _, name := range slices.Sorted(maps.Keys(s.adapters)) {
		out = append(out, s.adapters[name].info)
	}
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"adapters": out})
}

// adapterName is what a name given to POST /adapters/{name} must look like. Names starting
// with "job-" are reserved for fine-tuning jobs.
var adapterName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

type loadAdapterRequest struct {
	Dir string `json:"dir"` // PEFT adapter directory on the server
}

func (s *server) handleLoadAdapter(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req loadAdapterRequest
	if err := s.decode(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	switch {
	case !adapterName.MatchString(name):
		fail(w, errorf(http.StatusUnprocessableEntity, "adapter name %q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", name))
		return
	case strings.HasPrefix(name, jobAdapterPrefix):
		fail(w, errorf(http.StatusUnprocessableEntity, "adapter name %q: names starting with %q are reserved for fine-tuning jobs", name, jobAdapterPrefix))
		return
	case req.Dir == "":
		fail(w, errorf(http.StatusUnprocessableEntity, `"dir" is empty`))
		return
	}
	dir := req.Dir
	if s.opts.AdapterRoot != "" {
		if !filepath.IsLocal(dir) {
			fail(w, errorf(http.StatusUnprocessableEntity, `"dir" %q: want a relative path inside the server's adapter root`, dir))
			return
		}
		dir = filepath.Join(s.opts.AdapterRoot, dir)
	}
	s.mu.RLock()
	_, taken := s.adapters[name]
	s.mu.RUnlock()
	if taken {
		fail(w, errorf(http.StatusConflict, "adapter %q is already loaded", name))
		return
	}
	a, err := lora.Load(dir, s.b.m)
	if err != nil {
		fail(w, errorf(http.StatusUnprocessableEntity, "%v", err))
		return
	}
	info := describe(name, req.Dir, a)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.adapters[name]; taken { // loaded by a request that raced this one
		fail(w, errorf(http.StatusConflict, "adapter %q is already loaded", name))
		return
	}
	s.adapters[name] = adapterEntry{a: a, info: info}
	writeJSON(w, http.StatusCreated, info)
}

func (s *server) handleDeleteAdapter(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.mu.Lock()
	e, ok := s.adapters[name]
	delete(s.adapters, name)
	s.mu.Unlock()
	if !ok {
		fail(w, errorf(http.StatusNotFound, "no adapter %q", name))
		return
	}
	writeJSON(w, http.StatusOK, e.info)
}

// addJobAdapter registers the adapter a finished job trained.
func (s *server) addJobAdapter(name, source string, a *lora.Adapter) {
	s.mu.Lock()
	s.adapters[name] = adapterEntry{a: a, info: describe(name, source, a)}
	s.mu.Unlock()
}

// finetuneRequest is the body of POST /finetune. Omitted settings take the protocol's
// defaults (examples/finetune's): rank 128, alpha 512, 10 epochs, lr 1e-4.
type finetuneRequest struct {
	Rows []struct {
		Prompt string `json:"prompt"`
		Prefix string `json:"prefix"`
		Answer string `json:"answer"`
	} `json:"rows"`
	Rank   *int     `json:"rank"`
	Alpha  *float64 `json:"alpha"`
	Epochs *int     `json:"epochs"`
	LR     *float64 `json:"lr"`
	Chat   bool     `json:"chat"`
	Seed   uint64   `json:"seed"`
}

func (s *server) handleFinetune(w http.ResponseWriter, r *http.Request) {
	var req finetuneRequest
	if err := s.decode(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	spec, err := s.trainSpec(&req)
	if err != nil {
		fail(w, err)
		return
	}
	id, err := s.jobs.Submit(spec)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Location", "/jobs/"+id)
	writeJSON(w, http.StatusAccepted, map[string]string{"job": id})
}

func (s *server) trainSpec(req *finetuneRequest) (*trainSpec, error) {
	bad := func(format string, args ...any) error {
		return errorf(http.StatusUnprocessableEntity, format, args...)
	}
	switch {
	case len(req.Rows) == 0:
		return nil, bad(`"rows" is empty`)
	case len(req.Rows) > s.opts.MaxRows:
		return nil, bad(`"rows": %d, at most %d`, len(req.Rows), s.opts.MaxRows)
	case req.Rank != nil && (*req.Rank <= 0 || *req.Rank > 1024):
		return nil, bad(`"rank": %d, want 1..1024`, *req.Rank)
	case req.Alpha != nil && !(*req.Alpha > 0 && *req.Alpha <= 1e6):
		return nil, bad(`"alpha": %v, want > 0`, *req.Alpha)
	case req.Epochs != nil && (*req.Epochs <= 0 || *req.Epochs > s.opts.MaxEpochs):
		return nil, bad(`"epochs": %d, want 1..%d`, *req.Epochs, s.opts.MaxEpochs)
	case req.LR != nil && !(*req.LR > 0 && *req.LR <= 1) || req.LR != nil && math.IsNaN(*req.LR):
		return nil, bad(`"lr": %v, want in (0, 1]`, *req.LR)
	case req.Chat && !s.b.tok.HasChatTemplate():
		return nil, bad(`"chat": the tokenizer has no chat template`)
	}
	rows := make([]train.TextExample, len(req.Rows))
	for i, x := range req.Rows {
		if x.Prompt == "" || x.Answer == "" {
			return nil, bad(`"rows": row %d: want non-empty "prompt" and "answer"`, i)
		}
		rows[i] = train.TextExample{Prompt: x.Prompt, Prefix: x.Prefix, Answer: x.Answer}
	}
	spec, err := s.b.newTrainSpec(rows, req.Chat, req.Rank, req.Alpha, req.Epochs, req.LR, req.Seed)
	if err != nil {
		return nil, bad("%v", err)
	}
	return spec, nil
}

func (s *server) handleGetJob(w http.ResponseWriter, r *http.Request) {
	v, ok := s.jobs.View(r.PathValue("id"))
	if !ok {
		fail(w, errorf(http.StatusNotFound, "no job %q", r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// handleCancelJob cancels a queued or running job and answers its state once it has stopped
// (or when the request ends first). A job that already finished is 409.
func (s *server) handleCancelJob(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	v, err := s.jobs.Cancel(ctx, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// profileRequest is the body of POST /profile: the values to profile (names at any level of
// the taxonomy, see survey.Resolve; all 20 when empty), descriptions per value and split
// (Items, default 1), splits (all when empty), and the first Tasks task prompts and Templates
// response templates of the instrument (0: all).
type profileRequest struct {
	Adapter   string   `json:"adapter"`
	Chat      bool     `json:"chat"`
	Values    []string `json:"values"`
	Items     int      `json:"items"`
	Splits    []string `json:"splits"`
	Tasks     int      `json:"tasks"`
	Templates int      `json:"templates"`
}

// maxProfileItems bounds profileRequest.Items.
const maxProfileItems = 10

func (s *server) handleProfile(w http.ResponseWriter, r *http.Request) {
	var req profileRequest
	if err := s.decode(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	in, opts, err := profileInstrument(&req)
	if err != nil {
		fail(w, err)
		return
	}
	sc, err := s.scorer(req.Adapter, req.Chat, 16)
	if err != nil {
		fail(w, err)
		return
	}
	opts.Label = s.b.m.Dir
	if req.Adapter != "" {
		opts.Label += " + " + req.Adapter
	}
	var res *survey.ProfileResult
	err = s.compute(r, req.Chat, func(ctx context.Context) error {
		var err error
		res, err = survey.Profile(ctx, sc, in, opts)
		return scoreError(err)
	})
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = res.WriteJSON(w)
}

// profileInstrument is the subset of the built-in instrument a profile request asks for.
func profileInstrument(req *profileRequest) (*survey.Instrument, survey.ProfileOptions, error) {
	var opts survey.ProfileOptions
	bad := func(format string, args ...any) error {
		return errorf(http.StatusUnprocessableEntity, format, args...)
	}
	if req.Items == 0 {
		req.Items = 1
	}
	if req.Items < 0 || req.Items > maxProfileItems {
		return nil, opts, bad(`"items": %d, want 1..%d`, req.Items, maxProfileItems)
	}
	want := map[survey.Value]bool{}
	for _, name := range req.Values {
		vs, _, err := survey.Resolve(name)
		if err != nil {
			return nil, opts, bad(`"values": %v`, err)
		}
		for _, v := range vs {
			want[v] = true
		}
	}
	for _, name := range req.Splits {
		sp := survey.Split(name)
		if !sp.Valid() {
			return nil, opts, bad(`"splits": unknown split %q (want train, validation or test)`, name)
		}
		opts.Splits = append(opts.Splits, sp)
	}
	full, err := survey.Builtin()
	if err != nil {
		return nil, opts, err
	}
	if req.Tasks < 0 || req.Tasks > len(full.Tasks) || req.Templates < 0 || req.Templates > len(full.Templates) {
		return nil, opts, bad(`"tasks": %d, "templates": %d: the instrument has %d tasks and %d templates`,
			req.Tasks, req.Templates, len(full.Tasks), len(full.Templates))
	}
	in, err := full.Subset(req.Items, req.Tasks, req.Templates)
	if err != nil {
		return nil, opts, bad("%v", err)
	}
	if len(want) > 0 {
		descs := in.Descriptions
		in.Descriptions = nil
		for _, d := range descs {
			if want[d.Value] {
				d.Index = len(in.Descriptions)
				in.Descriptions = append(in.Descriptions, d)
			}
		}
		if err := in.Validate(); err != nil {
			return nil, opts, bad("%v", err)
		}
	}
	return in, opts, nil
}
