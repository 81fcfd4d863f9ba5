package main

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/lora"
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
	switch {
	case o.MaxQueue == 0:
		o.MaxQueue = d.MaxQueue
	case o.MaxQueue < 0:
		o.MaxQueue = 0
	}
	positiveOr(&o.MaxConcurrent, d.MaxConcurrent)
	positiveOr(&o.MaxBody, d.MaxBody)
	positiveOr(&o.MaxCandidates, d.MaxCandidates)
	positiveOr(&o.MaxRows, d.MaxRows)
	positiveOr(&o.MaxEpochs, d.MaxEpochs)
	positiveOr(&o.MaxJobs, d.MaxJobs)
	positiveOr(&o.RequestTimeout, d.RequestTimeout)
	return o
}

// positiveOr sets *v to def unless it is positive.
func positiveOr[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// server is the HTTP handler: scoring, adapters, fine-tuning jobs and profiles over one
// backend.
type server struct {
	b    *backend
	opts Options
	mux  *http.ServeMux

	slots   chan struct{} // one token per computing request
	waiting atomic.Int64  // requests waiting for a slot
	// chatMu serialises chat scoring: score.ModelScorer documents concurrent LogProbs only
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
func (s *server) scorer(adapter string, chat bool, batch int) (score.Scorer, error) {
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

// score runs fn with the scorer of the named adapter (see scorer) in a computing slot (see
// compute); a candidate that merges with the prompt is the request's fault (see scoreError).
func (s *server) score(r *http.Request, adapter string, chat bool, batch int, fn func(ctx context.Context, sc score.Scorer) error) error {
	sc, err := s.scorer(adapter, chat, batch)
	if err != nil {
		return err
	}
	return scoreError(s.compute(r, chat, func(ctx context.Context) error { return fn(ctx, sc) }))
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
