package model

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/valora-go/valora/internal/kern"
	"github.com/valora-go/valora/internal/stfile"
)

// Model is a loaded checkpoint. Forward, Generate and CheckFinite may run concurrently: each
// is a pass that holds the model's weights while it runs. Close waits for the passes in flight,
// then releases the weights; passes after Close return an error wrapping ErrClosed. Exclusive
// runs a change of the weights (lora's Merge and Unmerge) with no pass in flight.
//
// The exported weight fields are views into the mapped files: code that reads them directly
// (package train) must not do so after Close, nor while an Exclusive change runs.
type Model struct {
	Config Config
	Dir    string
	Embed  *Weight // model.embed_tokens.weight [vocab, hidden]
	Layers []Layer
	Norm   []float32 // model.norm.weight [hidden]
	LMHead *Weight   // lm_head.weight, or Embed when tied

	rope  *kern.Rope
	files []*stfile.File

	// mu guards the weights against Close and Exclusive: a pass holds it for reading, Close and
	// Exclusive for writing. sync.RWMutex keeps new passes back while a writer waits, so a
	// stream of passes cannot starve Close or a merge.
	mu     sync.RWMutex
	closed bool

	threads atomic.Int32 // SetThreads' cap (0: every processor)
}

// SetThreads caps the goroutines each pass of the model (Forward, Generate, and the training
// steps of package train) runs its kernels on: n > 0 means at most n, 0 (the default) means
// runtime.GOMAXPROCS. Options.Threads overrides it per call. It may be called at any time;
// passes that have started keep the cap they started with. It sets nothing process-wide: two
// models in one process can each have their own cap.
func (m *Model) SetThreads(n int) { m.threads.Store(int32(max(n, 0))) }

// Threads returns the cap set by SetThreads (0: every processor).
func (m *Model) Threads() int { return int(m.threads.Load()) }

// threadsFor is the kernel cap of a pass that asks for n threads (0: the model's cap).
func (m *Model) threadsFor(n int) kern.Threads {
	if n > 0 {
		return kern.Threads(n)
	}
	return kern.Threads(m.threads.Load())
}

// ErrClosed is returned (wrapped) by a pass or an Exclusive change on a closed Model.
var ErrClosed = errors.New("model is closed")

// Close waits for the passes in flight (Forward, Generate, CheckFinite) and for a running
// Exclusive change to end, then releases the mapped weight files. Passes started after Close
// return an error wrapping ErrClosed. Closing a closed model does nothing and returns nil.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	for _, f := range m.files {
		errs = append(errs, f.Close())
	}
	m.files = nil
	return errors.Join(errs...)
}

// enter starts a pass (op names it in the error): it fails with ErrClosed after Close and
// waits while an Exclusive change runs. Every successful enter is paired with a leave. A pass
// never enters twice (a waiting writer would deadlock it): passes call the unguarded helpers.
func (m *Model) enter(op string) error {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return fmt.Errorf("model: %s: %s: %w", m.Dir, op, ErrClosed)
	}
	return nil
}

// leave ends a pass started by enter.
func (m *Model) leave() { m.mu.RUnlock() }

// Exclusive runs fn while no pass runs on m: it waits for the passes in flight to end and
// holds new ones back (they wait, they do not fail) until fn returns, and returns fn's error.
// It is how the weights are changed under concurrent users (lora.Adapter.Merge and Unmerge use
// it). After Close it returns an error wrapping ErrClosed without calling fn. fn must not call
// Forward, Generate, CheckFinite, Close or Exclusive on m (they would wait for fn forever).
//
// Passes exclude a change only while each runs: a change between two passes that continue one
// Cache, or between the batches of a scorer, is seen by the later ones only.
func (m *Model) Exclusive(fn func() error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("model: %s: exclusive change: %w", m.Dir, ErrClosed)
	}
	return fn()
}

// newRope returns the rotary embedding tables the config implies.
func (c *Config) newRope() (*kern.Rope, error) {
	r, err := kern.NewRope(c.HeadDim, c.RopeTheta, &kern.RopeScaling{
		Type: c.Rope.Type, Factor: c.Rope.Factor, LowFreqFactor: c.Rope.LowFreqFactor,
		HighFreqFactor: c.Rope.HighFreqFactor, OriginalMaxPositions: c.Rope.OriginalMaxPositions,
	})
	if err != nil {
		return nil, fmt.Errorf("rope: %w", err)
	}
	return r, nil
}

func (m *Model) initRope() error {
	r, err := m.Config.newRope()
	m.rope = r
	return err
}

// Rope is the model's rotary embedding (for package train, which builds its own graph of the
// same equations).
func (m *Model) Rope() *Rope { return m.rope }
